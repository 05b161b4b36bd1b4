//! Stopping LWPs (S3): created suspended, suspended busy, by themselves, or asleep
//! in a wait, and continued.

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use arch::Machine;

use crate::{ensure, ensure_eq, wait_for, TestResult};
use kern::errno::Errno;
use kern::lwp::{lwp_continue, lwp_suspend, lwp_wait, LwpFlags, TpFlags};
use kern::thread::ThreadState;
use kern::{disp, sleepq, M};

use super::{
    busy, busy_reset, count_once, counts, hold_until, in_process, on_a_cpu, self_suspender, spawn,
    this_proc, thread_of, waiter, BUSY_STOP, GO, MAX_BUSY, SELF_STAGE, SUSP_RAN, WAITED,
};

fn suspended_body() -> TestResult {
    SUSP_RAN.store(0, Ordering::SeqCst);
    let id = spawn(count_once, 0, LwpFlags::SUSPENDED)?;
    let t = thread_of(id)?;
    sleepq::delay(3);
    ensure_eq!(SUSP_RAN.load(Ordering::SeqCst), 0);
    ensure_eq!(t.state(), ThreadState::Stopped);
    ensure!(t.nswitch() == 0 && !disp::is_running(t), "the suspended LWP's thread was switched in");
    ensure_eq!(lwp_suspend(id), Ok(()));
    ensure_eq!(lwp_continue(id), Ok(()));
    ensure_eq!(lwp_wait(Some(id)), Ok(id));
    ensure_eq!(SUSP_RAN.load(Ordering::SeqCst), 1);
    ensure_eq!(lwp_continue(id), Err(Errno::ESRCH));
    ensure_eq!(lwp_suspend(id), Err(Errno::ESRCH));
    Ok(())
}

/// An LWP created SUSPENDED is `Stopped` and never switched in across several ticks;
/// suspending it again succeeds at once; continued, it runs once and exits; an
/// exited LWP can be neither suspended nor continued (`ESRCH`) (S3).
pub(super) fn lwp_created_suspended_runs_after_continue() -> TestResult {
    in_process(suspended_body)
}

fn busy_body() -> TestResult {
    // One per CPU: with more, a suspension waits for a queued target to get a CPU,
    // a whole TS quantum of another busy LWP (up to 20 ticks).
    let n = M::ncpus().min(MAX_BUSY);
    busy_reset();
    let ids = (0..n).map(|k| spawn(busy, k, LwpFlags::empty())).collect::<Result<Vec<_>, _>>()?;
    wait_for("every busy LWP to count", 5, || counts(n).iter().all(|&c| c > 0))?;
    for &id in &ids {
        ensure_eq!(lwp_suspend(id), Ok(()));
    }
    for &id in &ids {
        let t = thread_of(id)?;
        ensure_eq!(t.state(), ThreadState::Stopped);
        ensure!(t.proc_flag().contains(TpFlags::STOPPED), "{id} is not marked stopped");
        ensure!(!disp::is_running(t) && !on_a_cpu(t), "stopped {id} is on a CPU");
    }
    disp::check_invariants()?;
    let frozen = counts(n);
    sleepq::delay(3);
    ensure_eq!(counts(n), frozen);
    // Suspending a stopped LWP succeeds at once and changes nothing.
    ensure_eq!(lwp_suspend(ids[0]), Ok(()));
    ensure_eq!(counts(n), frozen);
    for &id in &ids {
        ensure_eq!(lwp_continue(id), Ok(()));
    }
    wait_for("every busy LWP to count again", 5, || {
        counts(n).iter().zip(&frozen).all(|(c, f)| c > f)
    })?;
    // Continuing a running LWP is a no-op: it goes on counting.
    ensure_eq!(lwp_continue(ids[0]), Ok(()));
    let now = counts(1)[0];
    wait_for("LWP 2 to go on counting", 5, || counts(1)[0] > now)?;
    BUSY_STOP.store(true, Ordering::SeqCst);
    for &id in &ids {
        ensure_eq!(lwp_wait(Some(id)), Ok(id));
    }
    Ok(())
}

/// `lwp_suspend` stops busy LWPs (one per CPU, running in parallel) at their stop
/// points: each is `Stopped`, on no CPU, and its counter does not move across
/// several ticks; `lwp_continue` makes them count again (S3).
pub(super) fn lwp_suspend_stops_busy_lwps() -> TestResult {
    in_process(busy_body)
}

fn self_body() -> TestResult {
    SELF_STAGE.store(0, Ordering::SeqCst);
    let id = spawn(self_suspender, 0, LwpFlags::empty())?;
    let t = thread_of(id)?;
    wait_for("the LWP to stop itself", 5, || {
        SELF_STAGE.load(Ordering::SeqCst) == 1 && t.state() == ThreadState::Stopped
    })?;
    sleepq::delay(2);
    ensure_eq!(SELF_STAGE.load(Ordering::SeqCst), 1);
    ensure_eq!(lwp_continue(id), Ok(()));
    ensure_eq!(lwp_wait(Some(id)), Ok(id));
    ensure_eq!(SELF_STAGE.load(Ordering::SeqCst), 2);
    Ok(())
}

/// An LWP that suspends itself stops at once, stays stopped until continued, and
/// its `lwp_suspend` then returns `Ok` (S3).
pub(super) fn lwp_suspend_self() -> TestResult {
    in_process(self_body)
}

fn asleep_body() -> TestResult {
    let p = this_proc()?;
    GO.store(0, Ordering::SeqCst);
    *WAITED.lock() = None;
    let x = spawn(hold_until, 1, LwpFlags::empty())?;
    let w = spawn(waiter, x.0 as usize, LwpFlags::empty())?;
    let tw = thread_of(w)?;
    wait_for("W to wait for X", 5, || p.lwpwait() == 1 && tw.state() == ThreadState::Sleep)?;
    ensure_eq!(lwp_suspend(w), Ok(()));
    ensure_eq!(tw.state(), ThreadState::Stopped);
    ensure_eq!(p.lwpwait(), 0);
    // X exits while W is stopped: W cannot take it.
    GO.store(1, Ordering::SeqCst);
    wait_for("X to exit", 5, || p.zombcnt() == 1)?;
    sleepq::delay(2);
    ensure!(WAITED.lock().is_none(), "stopped W returned from its wait: {:?}", *WAITED.lock());
    ensure_eq!(tw.state(), ThreadState::Stopped);
    ensure_eq!(lwp_continue(w), Ok(()));
    wait_for("W to take X", 5, || WAITED.lock().is_some())?;
    ensure_eq!(*WAITED.lock(), Some(Ok(x)));
    ensure_eq!(lwp_wait(Some(w)), Ok(w));
    Ok(())
}

/// An LWP asleep in `lwp_wait` stops there when suspended (its wait is a stop
/// point), misses nothing while stopped, and picks its wait up when continued (S3).
pub(super) fn lwp_suspend_stops_lwp_asleep_in_wait() -> TestResult {
    in_process(asleep_body)
}
