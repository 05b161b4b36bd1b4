//! `::threadlist` and `::findstack`: every kernel thread — its LWP and process, or
//! none (S2) —, what it waits for, and a sleeping thread's kernel stack.
//!
//! What a thread waits for is in the thread itself (S6): a sleep queue's channel
//! and the kind of object it names (`t_wchan`, `t_sobj`), or the lock whose
//! turnstile it is blocked on (`t_ts_sobj`), whose owner the turnstile knows. A
//! channel is named when it can be: a process's event (`pid 2 p_lwpexit`), the
//! thread's own delay, or a symbol of the image.

use alloc::vec::Vec;
use core::fmt::{self, Write};

use arch::{Machine, WalkFrom};

use super::sym::{self, Addr};
use super::{l, live_threads, r, row, thread_at, Args, Col, Dcmd, Next};
use crate::class::SchedClass;
use crate::cpu::cpus;
use crate::proc::{self, Proc, PROC0};
use crate::sleepq::SObj;
use crate::sync::turnstile::{self, TsView, WaitKind};
use crate::thread::{curthread, KThread, ThreadState};
use crate::M;

pub(super) const DCMDS: &[Dcmd] = &[
    Dcmd {
        name: "threadlist",
        usage: "[-v]",
        help:
            "every kernel thread: LWP, state, priority, what it waits for (-v: and why, its stack)",
        run: threadlist,
    },
    Dcmd {
        name: "findstack",
        usage: "[ADDR]",
        help: "the kernel stack of thread ADDR (default: this one)",
        run: findstack_cmd,
    },
];

/// The columns of `::threadlist` (the last, NAME, takes what it needs).
const COLS: &[Col] = &[l(16), r(5), r(5), r(4), l(7), l(3), r(4), r(3), l(16), l(8), r(5), l(4)];

/// Frames a stack walk shows at most.
const MAX_FRAMES: usize = 40;

/// What the listings look things up in, taken once per command: every process
/// and every turnstile (`None`: their lock was held).
pub(super) struct World {
    pub procs: Option<Vec<&'static Proc>>,
    pub turnstiles: Option<Vec<TsView>>,
}

impl World {
    pub fn take() -> World {
        // Never more processes than structures made (an atomic count: no lock).
        let mut procs = Vec::with_capacity(proc::nallocated() as usize + 1);
        let procs = proc::procs_into(&mut procs).then_some(procs);
        let n = turnstile::peek_count().unwrap_or(0);
        let mut ts = Vec::with_capacity(n + 16);
        let turnstiles = turnstile::peek_all(&mut ts).then_some(ts);
        World { procs, turnstiles }
    }

    /// The turnstile of lock `sobj`, if the table could be read and has one.
    fn turnstile(&self, sobj: usize) -> Option<Option<&TsView>> {
        self.turnstiles.as_ref().map(|ts| ts.iter().find(|t| t.sobj == sobj))
    }

    /// Which process event `chan` is, if it is one.
    fn event(&self, chan: usize) -> Option<(&'static Proc, &'static str)> {
        let procs = self.procs.iter().flatten().copied();
        core::iter::once(&PROC0).chain(procs).find_map(|p| {
            let at = |e: &crate::lwp::Event| e as *const _ as usize;
            [(at(&p.p_lwpexit), "p_lwpexit"), (at(&p.p_holdlwps), "p_holdlwps")]
                .into_iter()
                .chain([(at(&p.p_childexit), "p_childexit")])
                .find(|(a, _)| *a == chan)
                .map(|(_, name)| (p, name))
        })
    }
}

/// What a thread waits for.
pub(super) enum Wait {
    Nothing,
    /// Asleep on a sleep queue.
    Sleep(usize, SObj),
    /// Blocked on the turnstile of a lock: the lock, what for, and the owner
    /// (`None`: the turnstile table could not be read; `Some(None)`: no owner).
    Lock(usize, WaitKind, Option<Option<&'static KThread>>),
}

impl Wait {
    pub fn of(t: &KThread, w: &World) -> Wait {
        if let (Some(lock), Some(kind)) = (turnstile::blocked_on(t), turnstile::blocked_kind(t)) {
            let owner = w.turnstile(lock).map(|ts| ts.and_then(|ts| ts.owner));
            return Wait::Lock(lock, kind, owner);
        }
        match t.wchan() {
            Some(chan) => Wait::Sleep(chan, SObj::of(t)),
            None => Wait::Nothing,
        }
    }

    pub fn chan(&self) -> Option<usize> {
        match *self {
            Wait::Nothing => None,
            Wait::Sleep(c, _) | Wait::Lock(c, _, _) => Some(c),
        }
    }

    /// The short name of what the channel is (the SOBJ column).
    pub fn sobj(&self) -> &'static str {
        match self {
            Wait::Nothing => "-",
            Wait::Sleep(_, SObj::Cv) => "cv",
            Wait::Sleep(_, SObj::Sema) => "sema",
            Wait::Sleep(_, SObj::Event) => "event",
            Wait::Sleep(_, SObj::Delay) => "delay",
            Wait::Sleep(_, SObj::Park) => "park",
            Wait::Sleep(_, SObj::LwpMutex) => "lwpmutex",
            Wait::Sleep(_, SObj::Other) => "sleepq",
            Wait::Lock(_, WaitKind::Mutex, _) => "mutex",
            Wait::Lock(_, WaitKind::Reader, _) => "rw-read",
            Wait::Lock(_, WaitKind::Writer, _) => "rw-write",
        }
    }
}

/// A thread as the listings name it: `tid 9 (pid 2 lwp 1)`, or `tid 4 'reaper'`
/// for a kernel thread (S2).
pub(super) struct Who(pub &'static KThread);

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        match (t.procp(), t.lwp()) {
            (Some(p), Some(l)) => write!(f, "tid {} (pid {} lwp {})", t.id(), p.pid().0, l.id().0),
            _ => write!(f, "tid {} '{}'", t.id(), t.try_name().unwrap_or("?")),
        }
    }
}

/// A thread's state as mdb prints it; a CPU's idle thread is `idle` while it
/// does not run.
pub(super) fn state_name(t: &KThread) -> &'static str {
    if super::is_idle_thread(t) && !on_a_cpu(t) {
        return "idle";
    }
    match t.state() {
        ThreadState::Free => "free",
        ThreadState::Run => "run",
        ThreadState::OnProc => "onproc",
        ThreadState::Zombie => "zomb",
        ThreadState::Sleep => "sleep",
        ThreadState::Stopped => "stopped",
    }
}

pub(super) fn class_name(c: SchedClass) -> &'static str {
    match c {
        SchedClass::Sys => "SYS",
        SchedClass::Ts => "TS",
        SchedClass::Rt => "RT",
    }
}

/// Where a thread's `lwp` structure is: `in`, `out` (swapped), `?` (its lock is
/// held), `-` (no LWP).
pub(super) fn lwp_residence(t: &KThread) -> &'static str {
    match t.lwp().map(|l| l.peek_data(|_| ())) {
        None => "-",
        Some(None) => "?",
        Some(Some(None)) => "out",
        Some(Some(Some(()))) => "in",
    }
}

/// A decimal number, or `-` for none.
pub(super) struct Opt<T>(pub Option<T>);

impl<T: fmt::Display> fmt::Display for Opt<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.pad("-"),
        }
    }
}

/// A channel or lock address column: 16 hex digits, or `-`.
pub(super) struct Hex(pub Option<usize>);

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(a) => write!(f, "{a:016x}"),
            None => write!(f, "{:<16}", "-"),
        }
    }
}

/// The `::threadlist` header.
pub(super) fn thread_header(out: &mut dyn Write) -> fmt::Result {
    row(
        out,
        COLS,
        &[
            &"THREAD", &"TID", &"PID", &"LWP", &"STATE", &"CLS", &"PRI", &"CPU", &"WCHAN", &"SOBJ",
            &"OWNER", &"LWPD", &"NAME",
        ],
    )
}

/// One `::threadlist` line. `PRI` is the priority it runs at, marked `*` when
/// inherited; `CPU` the one it runs on, or last ran on; `OWNER` the thread id of
/// the lock's owner when it is blocked on one; `LWPD` where its `lwp` structure is;
/// `NAME` its process's name for an LWP's thread (as mdb shows the command), the
/// thread's own for a kernel thread.
pub(super) fn thread_line(t: &'static KThread, w: &World, out: &mut dyn Write) -> fmt::Result {
    let wait = Wait::of(t, w);
    let owner = match wait {
        Wait::Lock(_, _, Some(Some(o))) => Some(o.id()),
        _ => None,
    };
    let pri = pri_mark(t);
    row(
        out,
        COLS,
        &[
            &Hex(Some(t as *const KThread as usize)),
            &t.id(),
            &Opt(t.procp().map(|p| p.pid().0)),
            &Opt(t.lwp().map(|l| l.id().0)),
            &state_name(t),
            &class_name(t.class()),
            &pri,
            &t.cpu(),
            &Hex(wait.chan()),
            &wait.sobj(),
            &Opt(owner),
            &lwp_residence(t),
            &ThreadName(t),
        ],
    )
}

/// `NAME` of `::threadlist`.
struct ThreadName(&'static KThread);

impl fmt::Display for ThreadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.procp() {
            Some(p) => ProcName(p).fmt(f),
            None => f.write_str(self.0.try_name().unwrap_or("?")),
        }
    }
}

/// The `-v` lines of a thread: what it waits for in words, its priority's story,
/// its binding and flags, its stack.
fn thread_detail(t: &'static KThread, w: &World, out: &mut dyn Write) -> fmt::Result {
    match Wait::of(t, w) {
        Wait::Nothing => {}
        Wait::Sleep(chan, sobj) => {
            write!(out, "    asleep on ")?;
            match (sobj, w.event(chan)) {
                (SObj::Delay, _) => writeln!(out, "its own delay (a timed sleep)")?,
                (_, Some((p, ev))) => writeln!(out, "event {ev} of pid {}", p.pid().0)?,
                (SObj::Other, None) => writeln!(out, "sleep queue {chan:#x} {}", Name(chan))?,
                (SObj::Park, None) => writeln!(out, "its park permit (_lwp_park)")?,
                (SObj::LwpMutex, None) => {
                    let (pid, lp) = crate::lwp::lwp_mutex_chan_names(chan);
                    writeln!(out, "the LWP mutex at user address {lp:#x} of pid {pid}")?
                }
                (k, None) => {
                    let what = if k == SObj::Cv { "condition variable" } else { "semaphore" };
                    writeln!(out, "{what} {chan:#x} {}", Name(chan))?
                }
            }
        }
        Wait::Lock(lock, kind, owner) => {
            write!(
                out,
                "    blocked on the turnstile of {} {lock:#x} {}",
                kind.what(),
                Name(lock)
            )?;
            match owner {
                Some(Some(o)) => {
                    writeln!(out, ", owned by {} {:016x}", Who(o), o as *const _ as usize)?
                }
                Some(None) => writeln!(out, ", which has no owner (readers hold it)")?,
                None => writeln!(out, ", owner unknown (the turnstile lock is held)")?,
            }
        }
    }
    if let Some(e) = t.inherited_pri().filter(|e| *e > t.base_pri()) {
        writeln!(out, "    runs at inherited priority {e} (its class gives it {})", t.base_pri())?;
    }
    write!(out, "    ")?;
    if let Some(c) = t.bound_cpu() {
        write!(out, "bound to cpu {c}; ")?;
    }
    write!(out, "{} switches in", t.nswitch())?;
    let flags = t.proc_flag();
    if !flags.is_empty() {
        // `TpFlags(HOLDLWP | STOPPED)`: the names are Solaris' (`TP_HOLDLWP` ...).
        write!(out, "; lwp flags {flags:?}")?;
    }
    writeln!(out)?;
    stack_lines(t, None, out, "      ")
}

/// A symbol's name in parentheses, if the address is in one (an empty string
/// otherwise): for a wait channel or a lock in static data.
struct Name(usize);

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match sym::lookup(self.0) {
            Some(_) => write!(f, "({})", Addr(self.0)),
            None => Ok(()),
        }
    }
}

fn threadlist(args: &Args<'_>, out: &mut dyn Write) -> Result<Next, fmt::Error> {
    let verbose = args.flag("-v");
    let w = World::take();
    thread_header(out)?;
    // Oldest first (thread ids grow): the boot thread, then as they were made.
    let mut threads: Vec<&'static KThread> = live_threads().collect();
    threads.sort_by_key(|t| t.id());
    for t in threads {
        thread_line(t, &w, out)?;
        if verbose {
            thread_detail(t, &w, out)?;
        }
    }
    let cached = crate::thread::cache_peek().map(|(n, _)| n);
    writeln!(out, "({} thread structures cached, not shown)", Opt(cached))?;
    if w.turnstiles.is_none() || w.procs.is_none() {
        writeln!(out, "(the turnstile or process table was locked: some owners and names are ?)")?;
    }
    Ok(Next::Stay)
}

/// Whether some CPU runs `t` now. (An idle thread's state says `OnProc` even while
/// the CPU runs another thread: the CPU's own record is what counts.)
pub(super) fn on_a_cpu(t: &KThread) -> bool {
    cpus().iter().any(|c| c.cpu_thread.get().is_some_and(|r| core::ptr::eq(r, t)))
}

/// Why a thread's stack could not be walked, if it cannot.
fn unwalkable(t: &KThread) -> Option<&'static str> {
    if t.state() == ThreadState::Free && !super::is_idle_thread(t) {
        Some("it is not in use (cached)")
    } else if t.nswitch() == 0 {
        Some("it has not run yet")
    } else if on_a_cpu(t) {
        Some("it is running on another cpu")
    } else {
        None
    }
}

/// The priority a thread runs at, marked `*` when it is inherited.
pub(super) fn pri_mark(t: &KThread) -> alloc::string::String {
    let inherited = t.inherited_pri().is_some_and(|e| e > t.base_pri());
    alloc::format!("{}{}", t.pri(), if inherited { "*" } else { "" })
}

/// The frames of `t`'s stack, one per line with `indent`; from `from`, or, if
/// `None`, as `t` is now (the caller's own frame if it is the current thread).
fn stack_lines(
    t: &'static KThread,
    from: Option<WalkFrom>,
    out: &mut dyn Write,
    indent: &str,
) -> fmt::Result {
    let me = core::ptr::eq(t, curthread());
    let from = match from {
        Some(f) => f,
        None if me => WalkFrom::Here,
        None => {
            if let Some(why) = unwalkable(t) {
                return writeln!(out, "{indent}(no stack: {why})");
            }
            WalkFrom::Saved
        }
    };
    let mut pcs = [0usize; MAX_FRAMES];
    let n = M::stack_walk(t.context(), from, &mut pcs);
    if n == 0 {
        return writeln!(out, "{indent}(no stack walk on this machine)");
    }
    // A walk of the current thread starts inside the debugger: its own frames
    // (and the machine's walking code) are left out.
    let own = |pc: &&usize| {
        from == WalkFrom::Here
            && sym::lookup(**pc).is_some_and(|(s, _)| {
                s.name.contains("kern::kmdb::") || s.name.contains("sparc64::context::")
            })
    };
    for pc in pcs[..n].iter().skip_while(own) {
        writeln!(out, "{indent}{pc:016x} {}", Addr(*pc))?;
    }
    if n == MAX_FRAMES {
        writeln!(out, "{indent}...")?;
    }
    Ok(())
}

/// `::findstack` of `t`: walked from `from`, or as `t` is now if `None`. The dump
/// uses it for the thread that died, with the trapped frame when there is one.
pub(super) fn findstack(
    t: &'static KThread,
    from: Option<WalkFrom>,
    out: &mut dyn Write,
) -> fmt::Result {
    let addr = t as *const KThread as usize;
    writeln!(out, "stack of thread {addr:016x}, {} ({}):", Who(t), state_name(t))?;
    stack_lines(t, from, out, "  ")
}

fn findstack_cmd(args: &Args<'_>, out: &mut dyn Write) -> Result<Next, fmt::Error> {
    let t = match args.address() {
        Err(w) => {
            writeln!(out, "kmdb: '{w}' is not an address")?;
            return Ok(Next::Stay);
        }
        Ok(None) => curthread(),
        Ok(Some(a)) => match thread_at(a) {
            Some(t) => t,
            None => {
                writeln!(out, "kmdb: no thread at {a:016x} (::threadlist shows them)")?;
                return Ok(Next::Stay);
            }
        },
    };
    findstack(t, None, out)?;
    Ok(Next::Stay)
}

/// A process's name: the one it was given, else the kernel function its first
/// LWP runs (the last part of its symbol), else `-`; proc 0 is `sched`, as in
/// Solaris.
pub(super) struct ProcName(pub &'static Proc);

impl fmt::Display for ProcName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0;
        if core::ptr::eq(p, &PROC0) {
            return f.write_str("sched");
        }
        if let Some(c) = p.comm() {
            return f.write_str(c.as_str());
        }
        match p.start_func().map(|a| (a, sym::lookup(a))) {
            Some((_, Some((s, _)))) => {
                write!(f, "<{}>", s.name.rsplit("::").next().unwrap_or(s.name))
            }
            Some((a, None)) => write!(f, "<{a:#x}>"),
            None => f.write_str("-"),
        }
    }
}
