//! `::callout`: the armed callouts — when each is due, and what it will do (a
//! function and its argument, or the end of a thread's timed sleep).

use alloc::vec::Vec;
use core::fmt::{self, Write};

use super::sym::Addr;
use super::thread::Who;
use super::{l, r, row, Args, Col, Dcmd, Next};
use crate::callout::{self, CalloutDo};
use crate::clock;
use crate::thread::KThread;

pub(super) const DCMDS: &[Dcmd] = &[Dcmd {
    name: "callout",
    usage: "",
    help: "armed callouts: due tick, and the function or the timed sleep they end",
    run: callouts,
}];

/// The columns of `::callout` (the last, the action, takes what it needs).
const COLS: &[Col] = &[l(16), r(10), r(8)];

fn callouts(_: &Args<'_>, out: &mut dyn Write) -> Result<Next, fmt::Error> {
    // Room for every callout armed (threads' own, and the kernel's statics), then
    // the table copied under its lock.
    let mut armed = Vec::with_capacity(crate::thread::nthreads_allocated() + 64);
    let Some((done, pending)) = callout::peek_armed(&mut armed) else {
        writeln!(out, "kmdb: the callout table is locked")?;
        return Ok(Next::Stay);
    };
    armed.sort_by_key(|c| c.expire);
    let now = clock::lbolt();
    writeln!(out, "lbolt {now}; the clock has run the callouts due by tick {done}")?;
    row(out, COLS, &[&"CALLOUT", &"EXPIRE", &"DUE IN", &"ACTION"])?;
    for c in &armed {
        let what = match c.what {
            CalloutDo::Call(f, arg) => alloc::format!("{}({arg:#x})", Addr(f)),
            CalloutDo::Wake(s) => match s.as_any().downcast_ref::<KThread>() {
                Some(t) => alloc::format!(
                    "end the timed sleep of {:016x}, {}",
                    t as *const KThread as usize,
                    Who(t)
                ),
                None => alloc::string::String::from("end a timed sleep"),
            },
            CalloutDo::Unknown => alloc::string::String::from("? (its action is locked)"),
        };
        let due = alloc::format!("{}", c.expire.saturating_sub(now));
        row(out, COLS, &[&format_args!("{:016x}", c.addr), &c.expire, &due, &what])?;
    }
    writeln!(out, "({pending} armed)")?;
    if armed.len() < pending {
        writeln!(out, "({} not shown: no room was made for them)", pending - armed.len())?;
    }
    Ok(Next::Stay)
}
