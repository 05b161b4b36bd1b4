//! `::swapinfo`: the swap device and what swapping has done (S5, S6) — the device's
//! size, its slots used and free, the swapper and its mode, the transfers, the
//! swap-outs and swap-ins, the I/O errors, and every LWP whose `lwp` structure is
//! out, with its slot.
//!
//! It reads what stays in memory while a structure is out (`swap::SwapRef`: the
//! slot, the image's length, the CPU times), never the structure nor the disk.

use alloc::vec::Vec;
use core::fmt::{self, Write};

use arch::Machine;

use super::thread::Opt;
use super::thread::{Hex, World};
use super::{l, r, row, Args, Col, Dcmd, Next};
use crate::lwp::{self, ImageState, LwpId};
use crate::proc::Pid;
use crate::swap::{self, SLOT_SIZE};
use crate::thread::KThread;
use crate::M;

pub(super) const DCMDS: &[Dcmd] = &[Dcmd {
    name: "swapinfo",
    usage: "",
    help: "the swap device, its slots, swapping's counts, the LWPs swapped out",
    run: swapinfo,
}];

/// The columns of the list of LWPs out.
const COLS: &[Col] = &[r(7), r(5), l(16), r(6), r(6), r(7), r(7)];

/// One LWP whose structure is out (or on its way), copied under its process's lock.
struct Out {
    pid: Pid,
    id: LwpId,
    thread: &'static KThread,
    /// Its slot, image length and CPU times; `None` while it is being written.
    on_disk: Option<(u32, u32, (u64, u64))>,
}

fn swapinfo(_: &Args<'_>, out: &mut dyn Write) -> Result<Next, fmt::Error> {
    let Some(sectors) = M::blk_sectors() else {
        writeln!(out, "swap: no swap device (the machine has no disk)")?;
        return Ok(Next::Stay);
    };
    let Some(s) = swap::peek_stats() else {
        writeln!(out, "kmdb: the swap device's slot map is locked")?;
        return Ok(Next::Stay);
    };
    writeln!(
        out,
        "device: {} KiB ({sectors} sectors), {} slots of {} KiB",
        sectors * arch::SECTOR_SIZE as u64 / 1024,
        s.slots,
        SLOT_SIZE / 1024
    )?;
    writeln!(out, "slots: {} used, {} free", s.slots_used, s.slots - s.slots_used)?;
    match swap::swapper_thread() {
        Some(t) => writeln!(out, "swapper: thread {:016x}, mode {:?}", addr(t), swap::mode())?,
        None => writeln!(out, "swapper: not started")?,
    }
    writeln!(out, "heap: {} KiB free", s.free / 1024)?;
    writeln!(
        out,
        "LWPs out: {}; swap-outs {}, swap-ins {}; {} given up, {} discarded unread, \
         {} refused (device full)",
        s.lwps_out, s.swapouts, s.swapins, s.cancelled, s.discarded, s.full
    )?;
    writeln!(
        out,
        "I/O: {} writes, {} reads; errors: {} on writes, {} on reads; {} LWPs lost",
        s.writes, s.reads, s.write_errors, s.read_errors, s.lost
    )?;
    // Room first (never more than the LWPs there are), then the entries copied
    // under each process's lock: nothing allocated there.
    let w = World::take();
    let mut outs: Vec<Out> = Vec::with_capacity(lwp::cache::nlwps() as usize + 8);
    let mut locked = 0;
    for p in w.procs.iter().flatten() {
        let Some(ps) = super::peek(&p.p_lock) else {
            locked += 1;
            continue;
        };
        for (t, l) in ps.p_lwpdir.live_all() {
            let on_disk = match l.peek_state() {
                Some(ImageState::Out(r)) => Some((r.slot, r.len, (r.usage.utime, r.usage.stime))),
                Some(ImageState::Moving) => None,
                Some(ImageState::Resident) => continue,
                None => {
                    locked += 1;
                    continue;
                }
            };
            if outs.len() == outs.capacity() {
                break;
            }
            outs.push(Out { pid: p.pid(), id: l.id(), thread: t, on_disk });
        }
    }
    row(out, COLS, &[&"PID", &"LWP", &"THREAD", &"SLOT", &"BYTES", &"UTIME", &"STIME"])?;
    for o in &outs {
        let (slot, len, (u, st)) = match o.on_disk {
            Some((slot, len, times)) => (Some(slot), Some(len), times),
            None => (None, None, (0, 0)),
        };
        row(
            out,
            COLS,
            &[&o.pid.0, &o.id.0, &Hex(Some(addr(o.thread))), &Opt(slot), &Opt(len), &u, &st],
        )?;
    }
    let moving = outs.iter().filter(|o| o.on_disk.is_none()).count();
    writeln!(out, "({} out, {moving} being written)", outs.len() - moving)?;
    if locked > 0 {
        writeln!(out, "({locked} processes or LWPs locked: not shown)")?;
    }
    Ok(Next::Stay)
}

fn addr(t: &KThread) -> usize {
    t as *const KThread as usize
}
