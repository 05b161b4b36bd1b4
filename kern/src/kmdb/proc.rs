//! `::ps` and `::lwps`: the processes (S1), and the LWPs of one of them as its LWP
//! directory holds them (S15): live ones with their threads, CPU times and
//! switches (S5.4, S5.6), zombies waiting to be waited for.

use alloc::vec::Vec;
use core::fmt::{self, Write};

use super::thread::{
    class_name, lwp_residence, pri_mark, state_name, Hex, Opt, ProcName, Wait, World,
};
use super::{l, r, row, Args, Col, Dcmd, Next};
use crate::lwp::{LwpId, LwpUsage, TpFlags};
use crate::proc::{PStat, Pid, Proc, PROC0};
use crate::thread::KThread;

pub(super) const DCMDS: &[Dcmd] = &[
    Dcmd {
        name: "ps",
        usage: "",
        help: "processes: state, parent, LWPs, CPU time (ticks), name",
        run: ps,
    },
    Dcmd {
        name: "lwps",
        usage: "PID",
        help: "the LWPs of process PID: state, CPU time (ticks), context switches",
        run: lwps,
    },
];

/// The columns of `::lwps` (the last, the notes, takes what it needs).
const LWP_COLS: &[Col] =
    &[r(4), l(16), l(7), l(3), r(4), l(16), l(8), l(4), r(6), r(6), r(6), r(6)];

/// The columns of `::ps` (the last, NAME, takes what it needs).
const PS_COLS: &[Col] = &[l(1), r(6), r(6), r(5), r(5), r(7), r(7), l(16)];

fn stat_letter(s: PStat) -> char {
    match s {
        PStat::Active => 'R',
        PStat::Exiting => 'E',
        PStat::Zombie => 'Z',
    }
}

/// What `::ps` shows of a process, read under its lock (if it could be taken).
struct PsLine {
    stat: PStat,
    nlwp: u32,
    nzomb: u32,
    utime: u64,
    stime: u64,
    /// Some LWP's `lwp` structure was locked: the times miss its share.
    partial: bool,
}

fn ps_line(p: &Proc) -> Option<PsLine> {
    let ps = super::peek(&p.p_lock)?;
    let mut line = PsLine {
        stat: ps.p_stat,
        nlwp: ps.p_lwpdir.lwpcnt(),
        nzomb: ps.p_lwpdir.zombcnt(),
        utime: ps.p_ru.utime,
        stime: ps.p_ru.stime,
        partial: false,
    };
    for (_, lwp) in ps.p_lwpdir.live_all() {
        match lwp.peek_usage() {
            Some(u) => {
                line.utime += u.utime;
                line.stime += u.stime;
            }
            _ => line.partial = true,
        }
    }
    Some(line)
}

fn ps(_: &Args<'_>, out: &mut dyn Write) -> Result<Next, fmt::Error> {
    let w = World::take();
    let Some(mut procs) = w.procs else {
        writeln!(out, "kmdb: the process table is locked")?;
        return Ok(Next::Stay);
    };
    procs.sort_by_key(|p| p.pid());
    row(
        out,
        PS_COLS,
        &[&"S", &"PID", &"PPID", &"NLWP", &"NZOMB", &"UTIME", &"STIME", &"PROC", &"NAME"],
    )?;
    let mut partial = false;
    for p in core::iter::once(&PROC0).chain(procs) {
        let addr = Hex(Some(p as *const Proc as usize));
        let ppid = Opt(p.parent().map(|pp| pp.0));
        match ps_line(p) {
            Some(line) => {
                partial |= line.partial;
                row(
                    out,
                    PS_COLS,
                    &[
                        &stat_letter(line.stat),
                        &p.pid().0,
                        &ppid,
                        &line.nlwp,
                        &line.nzomb,
                        &line.utime,
                        &line.stime,
                        &addr,
                        &ProcName(p),
                    ],
                )?
            }
            None => row(
                out,
                PS_COLS,
                &[&"?", &p.pid().0, &ppid, &"?", &"?", &"?", &"?", &addr, &ProcName(p)],
            )?,
        }
    }
    if partial {
        writeln!(out, "(the times leave out LWPs whose lwp structure is locked)")?;
    }
    Ok(Next::Stay)
}

/// One LWP directory entry, copied out under the process's lock.
struct Ent {
    id: LwpId,
    thread: Option<&'static KThread>,
    detached: bool,
    waiters: u32,
    waitfor: crate::lwp::Waitfor,
}

/// The user process a command's argument names (`::CMD PID`), among those of `w`;
/// `None` after saying why not: no number, no such process, or pid 0, whose
/// threads are the kernel's (`pid0` says what that means for the command).
pub(super) fn process_arg(
    args: &Args<'_>,
    w: &World,
    cmd: &str,
    pid0: &str,
    out: &mut dyn Write,
) -> Result<Option<&'static Proc>, fmt::Error> {
    let Some(pid) = args.words().next().and_then(|w| w.parse::<u32>().ok()) else {
        writeln!(out, "kmdb: ::{cmd} PID (a decimal process id, as ::ps shows it)")?;
        return Ok(None);
    };
    let procs = w.procs.iter().flatten().copied();
    let Some(p) = core::iter::once(&PROC0).chain(procs).find(|p| p.pid() == Pid(pid)) else {
        writeln!(out, "kmdb: no process {pid}")?;
        return Ok(None);
    };
    if core::ptr::eq(p, &PROC0) {
        writeln!(out, "kmdb: pid 0 {pid0}: its threads are the kernel's")?;
        return Ok(None);
    }
    Ok(Some(p))
}

fn lwps(args: &Args<'_>, out: &mut dyn Write) -> Result<Next, fmt::Error> {
    let w = World::take();
    let Some(p) = process_arg(args, &w, "lwps", "has no LWPs", out)? else {
        return Ok(Next::Stay);
    };
    let pid = p.pid().0;
    // Room first, then the entries copied under the lock (nothing allocated there).
    let n = super::peek(&p.p_lock).map_or(0, |ps| ps.p_lwpdir.len());
    let mut ents = Vec::with_capacity(n + 8);
    {
        let Some(ps) = super::peek(&p.p_lock) else {
            writeln!(out, "kmdb: process {pid} is locked")?;
            return Ok(Next::Stay);
        };
        for (id, e) in ps.p_lwpdir.used().take(ents.capacity()) {
            ents.push(Ent {
                id,
                thread: e.le_live.map(|(t, _)| t),
                detached: e.le_detached,
                waiters: e.le_waiters,
                waitfor: e.le_waitfor,
            });
        }
    }
    row(
        out,
        LWP_COLS,
        &[
            &"LWP", &"THREAD", &"STATE", &"CLS", &"PRI", &"WCHAN", &"SOBJ", &"LWPD", &"UTIME",
            &"STIME", &"VCSW", &"IVCSW", &"NOTES",
        ],
    )?;
    for e in &ents {
        let mut notes = alloc::string::String::new();
        if e.detached {
            notes.push_str("detached ");
        }
        match e.waitfor {
            crate::lwp::Waitfor::Nothing => {}
            crate::lwp::Waitfor::Any => notes.push_str("in lwp_wait(any) "),
            crate::lwp::Waitfor::Lwp(id) => {
                notes.push_str(&alloc::format!("in lwp_wait({}) ", id.0));
            }
            crate::lwp::Waitfor::Gone => notes.push_str("in lwp_wait(reaped) "),
        }
        if e.waiters > 0 {
            notes.push_str(&alloc::format!("{} waiting for it ", e.waiters));
        }
        let Some(t) = e.thread else {
            row(
                out,
                LWP_COLS,
                &[
                    &e.id.0, &"-", &"zombie", &"-", &"-", &"-", &"-", &"-", &"-", &"-", &"-", &"-",
                    &notes,
                ],
            )?;
            continue;
        };
        if t.proc_flag().contains(TpFlags::HOLDLWP) {
            notes.push_str("held ");
        }
        let wait = Wait::of(t, &w);
        // Wherever its structure is: one out has its times and counts in memory.
        let usage = t.lwp().and_then(|l| l.peek_usage()).map(|u| u.with_switches(t));
        let field = |f: fn(&LwpUsage) -> u64| Opt(usage.as_ref().map(f));
        let (u, s) = (field(|u| u.utime), field(|u| u.stime));
        let (vcsw, ivcsw) = (field(|u| u.ru.nvcsw), field(|u| u.ru.nivcsw));
        row(
            out,
            LWP_COLS,
            &[
                &e.id.0,
                &Hex(Some(t as *const KThread as usize)),
                &state_name(t),
                &class_name(t.class()),
                &pri_mark(t),
                &Hex(wait.chan()),
                &wait.sobj(),
                &lwp_residence(t),
                &u,
                &s,
                &vcsw,
                &ivcsw,
                &notes.trim_end(),
            ],
        )?;
    }
    Ok(Next::Stay)
}
