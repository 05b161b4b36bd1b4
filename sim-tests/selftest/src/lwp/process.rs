//! The process of the LWPs (S1): `proc_exit` ends every LWP, and `proc_wait` sleeps
//! until a child exits.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::{ensure, ensure_eq, wait_for, TestResult};
use kern::errno::Errno;
use kern::lwp::{lwp_continue, LwpFlags};
use kern::proc::life::{proc_create, proc_exit, proc_wait, proc_waitid};
use kern::proc::{prfind, PStat, Pid, Proc, WaitOpts, WaitStatus, PROC0};
use kern::sync::Mutex;
use kern::thread::{KThread, ThreadState};
use kern::{clock, sleepq};

use super::{
    busy, busy_reset, count_once, counts, hold_until, in_process, self_suspender, spawn, this_proc,
    thread_of, waiter, GO, SELF_STAGE,
};

static EXIT_THREADS: Mutex<Vec<(&'static KThread, u64)>> = Mutex::new(Vec::new());
static EXIT_CHILD: AtomicU32 = AtomicU32::new(0);
/// Why the exiting process's main LWP could not set up; empty if it did.
static EXIT_SETUP: Mutex<String> = Mutex::new(String::new());

/// Creates a child process that holds until `GO` is 1, then waits for it.
fn proc_waiter(_: usize) {
    if let Ok(c) = proc_create(hold_until, 1) {
        EXIT_CHILD.store(c.0, Ordering::SeqCst);
        let _ = proc_wait(None);
    }
}

fn exiting_setup() -> TestResult {
    let p = this_proc()?;
    // The busy LWPs (the last one detached) are held until the others are in place:
    // on one CPU, each would keep them from getting there for a whole quantum.
    let held = LwpFlags::SUSPENDED;
    let busies = [
        spawn(busy, 0, held)?,
        spawn(busy, 1, held)?,
        spawn(busy, 2, held)?,
        spawn(busy, 3, held | LwpFlags::DETACHED)?,
    ];
    let others = [
        spawn(waiter, busies[0].0 as usize, LwpFlags::empty())?,
        spawn(waiter, 0, LwpFlags::empty())?,
        spawn(count_once, 0, LwpFlags::SUSPENDED)?,
        spawn(self_suspender, 0, LwpFlags::empty())?,
        spawn(hold_until, 1, LwpFlags::empty())?,
        spawn(proc_waiter, 0, LwpFlags::empty())?,
    ];
    let pw = thread_of(others[5])?;
    wait_for("every LWP to be in place", 5, || {
        p.lwpwait() == 2
            && SELF_STAGE.load(Ordering::SeqCst) == 1
            && EXIT_CHILD.load(Ordering::SeqCst) != 0
            && pw.state() == ThreadState::Sleep
    })?;
    for &id in &busies {
        ensure_eq!(lwp_continue(id), Ok(()));
    }
    // Some count (all of them, given CPUs enough), the others wait on a run queue:
    // exit must end both.
    wait_for("a busy LWP to count", 5, || counts(4).iter().any(|&c| c > 0))?;
    let mut threads = EXIT_THREADS.lock();
    for id in busies.iter().chain(&others) {
        let t = thread_of(*id)?;
        threads.push((t, t.id()));
    }
    ensure_eq!(p.lwpcnt(), 11);
    Ok(())
}

fn exiting_main(_: usize) {
    if let Err(e) = exiting_setup() {
        *EXIT_SETUP.lock() = e;
    }
    proc_exit(42)
}

/// A process whose LWP calls `proc_exit(42)` loses every other LWP — busy ones
/// (running or queued) at their stop points, ones asleep in `lwp_wait` and
/// `proc_wait`, created suspended, detached, self-suspended — and is left a zombie
/// with status 42, no LWP, an empty directory; `proc_wait` reaps it, after which it
/// is gone (`ECHILD`). Its child goes to proc 0, an orphan, and once it exits the
/// reaper reaps it (S1).
pub(super) fn lwp_proc_exit_ends_every_lwp() -> TestResult {
    GO.store(0, Ordering::SeqCst);
    busy_reset();
    SELF_STAGE.store(0, Ordering::SeqCst);
    EXIT_CHILD.store(0, Ordering::SeqCst);
    EXIT_THREADS.lock().clear();
    EXIT_SETUP.lock().clear();
    let pid = proc_create(exiting_main, 0).map_err(|e| format!("proc_create: {e}"))?;
    let p = prfind(pid).ok_or("the process vanished")?;
    wait_for("the process to exit", 10, || p.stat() == PStat::Zombie)?;
    let setup = core::mem::take(&mut *EXIT_SETUP.lock());
    ensure!(setup.is_empty(), "setting up: {setup}");
    ensure_eq!(p.exit_status().map(WaitStatus::from_raw), Some(WaitStatus::Exited(42)));
    ensure_eq!((p.lwpcnt(), p.zombcnt(), p.lwp_ids().len()), (0, 0, 0));
    ensure_eq!(proc_wait(Some(pid)), Ok((pid, WaitStatus::Exited(42).raw())));
    ensure!(prfind(pid).is_none(), "{pid} is still there after it was reaped");
    ensure_eq!(proc_wait(Some(pid)), Err(Errno::ECHILD));
    let threads = EXIT_THREADS.lock().clone();
    ensure_eq!(threads.len(), 10);
    let reaped = |&(t, tid): &(&KThread, u64)| t.state() == ThreadState::Free || t.id() != tid;
    wait_for("every LWP's thread to be reaped", 5, || threads.iter().all(reaped)).map_err(|e| {
        let left: Vec<_> = threads
            .iter()
            .filter(|x| !reaped(x))
            .map(|(t, _)| (t.state(), t.wchan(), t.pri()))
            .collect();
        format!("{e}: (state, wchan, pri) = {left:?}")
    })?;
    let child = Pid(EXIT_CHILD.load(Ordering::SeqCst));
    // An orphan is init's where there is one, else proc 0's (the reaper's); a
    // kernel thread's wait does not take it either way.
    let heir = kern::proc::initproc().unwrap_or(PROC0.pid());
    ensure_eq!(prfind(child).and_then(Proc::parent), Some(heir));
    ensure_eq!(proc_wait(Some(child)), Err(Errno::ECHILD));
    GO.store(1, Ordering::SeqCst);
    wait_for("the orphan to be reaped", 10, || prfind(child).is_none())?;
    Ok(())
}

fn exit_seven_later(_: usize) {
    sleepq::delay(5);
    proc_exit(7)
}

fn child_wait_body() -> TestResult {
    let p = this_proc()?;
    ensure_eq!(proc_wait(None), Err(Errno::ECHILD));
    let c = proc_create(exit_seven_later, 0).map_err(|e| format!("proc_create: {e}"))?;
    ensure_eq!(prfind(c).and_then(Proc::parent), Some(p.pid()));
    ensure_eq!(proc_wait(Some(PROC0.pid())), Err(Errno::ECHILD));
    ensure_eq!(prfind(c).map(Proc::ppid), Some(p.pid()));
    // Not exited yet: WNOHANG says so at once, and reaps nothing.
    let nohang = WaitOpts::EXITED | WaitOpts::NOHANG;
    ensure_eq!(proc_waitid(Some(c), nohang), Ok((Pid(0), 0)));
    ensure_eq!(proc_waitid(Some(c), WaitOpts::NOHANG), Err(Errno::EINVAL));
    let t0 = clock::lbolt();
    ensure_eq!(proc_wait(None), Ok((c, WaitStatus::Exited(7).raw())));
    ensure!(
        clock::lbolt() - t0 >= 3,
        "proc_wait returned after {} ticks, before the child could exit",
        clock::lbolt() - t0
    );
    ensure!(prfind(c).is_none(), "the reaped child is still there");
    ensure_eq!(proc_wait(None), Err(Errno::ECHILD));
    ensure_eq!(proc_waitid(None, nohang), Err(Errno::ECHILD));
    Ok(())
}

/// A process's LWP sleeps in `proc_wait` until its child exits, then gets the
/// child's pid and status; with no child (or a pid that is not a child) it gets
/// `ECHILD`; `WNOHANG` does not wait (S1). The child's `getppid` is the parent.
pub(super) fn lwp_proc_wait_sleeps_until_child_exits() -> TestResult {
    in_process(child_wait_body)
}
