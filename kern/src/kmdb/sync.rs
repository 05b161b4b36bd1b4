//! `::turnstile`: the turnstiles in use (S8, S9) — for each lock that has
//! waiters, its owner and its queue, highest priority first, with the priority
//! each waiter lends along the chain of owners.

use alloc::vec::Vec;
use core::fmt::{self, Write};

use super::sym;
use super::thread::{Hex, Who};
use super::{Args, Dcmd, Next};
use crate::sync::turnstile::{self, TsView, TS_SHOWN};
use crate::thread::KThread;

pub(super) const DCMDS: &[Dcmd] = &[Dcmd {
    name: "turnstile",
    usage: "[ADDR]",
    help: "the turnstile of lock ADDR (default: every one in use): owner, waiters",
    run: turnstiles,
}];

fn show(ts: &TsView, out: &mut dyn Write) -> fmt::Result {
    write!(out, "lock {:016x}", ts.sobj)?;
    if sym::lookup(ts.sobj).is_some() {
        write!(out, " ({})", sym::Addr(ts.sobj))?;
    }
    match ts.owner {
        Some(o) => writeln!(
            out,
            ": owner {:016x}, {}, at priority {}{}",
            o as *const KThread as usize,
            Who(o),
            o.pri(),
            if o.inherited_pri().is_some_and(|e| e > o.base_pri()) { " (inherited)" } else { "" }
        )?,
        None => writeln!(out, ": no owner (readers hold it)")?,
    }
    writeln!(out, "  {} waiting, highest priority first:", ts.nwaiters)?;
    for (t, kind) in ts.waiters.iter().flatten() {
        writeln!(
            out,
            "  {} {:<16} pri {:>3}  {}",
            Hex(Some(*t as *const KThread as usize)),
            kind.what(),
            t.pri(),
            Who(t)
        )?;
    }
    if ts.nwaiters > TS_SHOWN {
        writeln!(out, "  ... and {} more", ts.nwaiters - TS_SHOWN)?;
    }
    Ok(())
}

fn turnstiles(args: &Args<'_>, out: &mut dyn Write) -> Result<Next, fmt::Error> {
    let lock = match args.address() {
        Ok(a) => a,
        Err(w) => {
            writeln!(out, "kmdb: '{w}' is not an address")?;
            return Ok(Next::Stay);
        }
    };
    let mut all = Vec::with_capacity(turnstile::peek_count().unwrap_or(0) + 16);
    if !turnstile::peek_all(&mut all) {
        writeln!(out, "kmdb: the turnstile table is locked")?;
        return Ok(Next::Stay);
    }
    let chosen: Vec<&TsView> = all.iter().filter(|ts| lock.is_none_or(|l| ts.sobj == l)).collect();
    match (lock, chosen.is_empty()) {
        (Some(l), true) => {
            writeln!(out, "no turnstile for lock {l:016x}: nobody is blocked on it")?
        }
        (None, true) => writeln!(out, "no turnstile in use: nobody is blocked on a lock")?,
        _ => {
            for ts in chosen {
                show(ts, out)?;
            }
        }
    }
    Ok(Next::Stay)
}
