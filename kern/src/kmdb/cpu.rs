//! `::cpuinfo`: each CPU — the thread it runs, its priority, its run queue (S3), its
//! counters; with `-v`, the queued threads in the order the CPU will take them.

use alloc::vec::Vec;
use core::fmt::{self, Write};
use core::sync::atomic::Ordering;

use super::thread::{thread_header, thread_line, Hex, Opt, Who, World};
use super::{l, r, row, Args, Col, Dcmd, Next};
use crate::cpu::cpus;
use crate::thread::KThread;

pub(super) const DCMDS: &[Dcmd] = &[Dcmd {
    name: "cpuinfo",
    usage: "[-v]",
    help: "each CPU: running thread, priority, run queue, counters (-v: the queue)",
    run: cpuinfo,
}];

/// The columns of `::cpuinfo` (the last, the running thread, takes what it needs).
const COLS: &[Col] = &[r(3), l(16), r(4), r(4), l(6), r(8), r(9), r(8)];

fn cpuinfo(args: &Args<'_>, out: &mut dyn Write) -> Result<Next, fmt::Error> {
    let verbose = args.flag("-v");
    row(
        out,
        COLS,
        &[
            &"ID",
            &"THREAD",
            &"PRI",
            &"NRUN",
            &"RUNRUN",
            &"TICKS",
            &"SWITCHES",
            &"PREEMPTS",
            &"RUNNING",
        ],
    )?;
    let w = World::take();
    for c in cpus() {
        let t = c.cpu_thread.get();
        let pri = c.curpri();
        row(
            out,
            COLS,
            &[
                &c.cpu_id,
                &Hex(t.map(|t| t as *const KThread as usize)),
                &Opt((pri >= 0).then_some(pri)),
                &c.cpu_nrunnable.load(Ordering::Relaxed),
                &if c.cpu_runrun.load(Ordering::Relaxed) { "yes" } else { "no" },
                &c.ticks(),
                &c.switches(),
                &c.preempts(),
                &Opt(t.map(|t| {
                    if c.is_idle(t) {
                        alloc::format!("(idle) {}", Who(t))
                    } else {
                        alloc::format!("{}", Who(t))
                    }
                })),
            ],
        )?;
        if verbose {
            // Room first, then the queue copied under its lock.
            let mut queued = Vec::with_capacity(c.cpu_nrunnable.load(Ordering::Relaxed) + 16);
            match super::peek(&c.cpu_disp) {
                Some(q) => {
                    let room = queued.capacity();
                    for t in q.iter().take(room) {
                        queued.push(t);
                    }
                }
                None => {
                    writeln!(out, "    (its run queue is locked)")?;
                    continue;
                }
            }
            if queued.is_empty() {
                writeln!(out, "    run queue empty")?;
                continue;
            }
            writeln!(out, "    run queue, in the order it runs:")?;
            thread_header(out)?;
            for t in queued {
                thread_line(t, &w, out)?;
            }
        }
    }
    Ok(Next::Stay)
}
