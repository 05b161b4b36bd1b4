//! Signals in user mode (S10–S15, S5.1, S5.5): the checks of the `signals`
//! program, one test each (see there for what each does), and what only the
//! kernel sees — job control stops and continues every LWP of a process, SIGKILL
//! ends LWPs in every state.

use kern::proc::{self, Pid, WaitOpts, WaitStatus};
use kern::thread::ThreadState;
use kern_selftest::{ensure, ensure_eq, reap, wait_for, TestResult};
use lwp_abi::{SIGCONT, SIGILL, SIGKILL, SIGSEGV, SIGSTOP, SIGTERM};

use super::{killed_by, passes, sig_to, start, wait_lwps};
use crate::programs::*;

/// S10: a handler one LWP installed runs in another.
pub(super) fn user_sig_handler_in_other_lwp() -> TestResult {
    passes(SIGNALS, 1)
}

/// S11, S14: 1000 process signals, one LWP masking them and one not.
pub(super) fn user_sig_masks_choose_the_lwp() -> TestResult {
    passes(SIGNALS, 2)
}

/// S12: each LWP's handler on its own alternate stack.
pub(super) fn user_sig_altstacks_per_lwp() -> TestResult {
    passes(SIGNALS, 3)
}

/// S13: every trap signal handled in the LWP that caused it, and it goes on.
pub(super) fn user_sig_traps_in_their_lwp() -> TestResult {
    passes(SIGNALS, 4)
}

/// S13: a trap signal its LWP masks, or the process ignores, still ends it.
pub(super) fn user_sig_masked_or_ignored_trap_kills() -> TestResult {
    killed_by(SIGNALS, 5, SIGSEGV)?;
    killed_by(SIGNALS, 6, SIGILL)
}

/// S14, S5.5: SIGINT, SIGTERM, SIGALRM go to the one LWP that does not mask them;
/// the LWP's own timers signal it.
pub(super) fn user_sig_process_signals_and_timers() -> TestResult {
    passes(SIGNALS, 7)
}

/// EINTR, and `SA_RESTART`.
pub(super) fn user_sig_eintr_and_restart() -> TestResult {
    passes(SIGNALS, 8)
}

/// `sigsuspend` waits with a mask of its own; `sigtimedwait` accepts a masked
/// signal, and times out.
pub(super) fn user_sig_sigsuspend_sigtimedwait() -> TestResult {
    passes(SIGNALS, 9)
}

/// S16: every bad argument of the signal calls.
pub(super) fn user_sig_bad_arguments() -> TestResult {
    passes(SIGNALS, 10)
}

/// A signal frame that cannot be written ends the process with SIGSEGV; the
/// kernel and a sibling go on.
pub(super) fn user_sig_bad_frame_is_sigsegv() -> TestResult {
    killed_by(SIGNALS, 11, SIGSEGV)
}

/// S5.1: every register and window of interrupted code back after its handler.
pub(super) fn user_sig_registers_restored() -> TestResult {
    passes(SIGNALS, 12)
}

/// S15: a signal from another process names that process, nothing of its LWPs;
/// that process's `_lwp_kill` cannot reach this one's LWPs. The sender starts
/// first and sends to the pid after its own; the target is given the sender's.
pub(super) fn user_sig_between_processes() -> TestResult {
    let sender = start(SIGNALS, 14 | 1 << 8)?;
    let target = start(SIGNALS, 13 | u64::from(sender.0) << 8)?;
    let (st, ss) = (reap(target), reap(sender));
    ensure_eq!(target, Pid(sender.0 + 1));
    ensure_eq!(st?, WaitStatus::Exited(0));
    ensure_eq!(ss?, WaitStatus::Exited(0));
    Ok(())
}

/// The user time its LWPs have used, in ticks.
fn utime(pid: Pid) -> u64 {
    proc::prfind(pid).map_or(0, |p| p.times().0)
}

/// Whether every LWP of `pid` is stopped.
fn all_stopped(pid: Pid) -> bool {
    proc::prfind(pid).is_some_and(|p| {
        p.lwp_ids()
            .iter()
            .all(|&id| kern::lwp::idtot(p, id).is_none_or(|t| t.state() == ThreadState::Stopped))
    })
}

/// S14, job control: SIGSTOP stops every LWP of a user process — two spinning in
/// user mode, one sleeping, one in `_lwp_wait` — and their time stands still; its
/// parent's wait sees it stopped. SIGCONT sets them going (their time moves), and
/// the wait sees that. A stopped process dies of SIGKILL; one going again, of
/// SIGTERM's default action.
pub(super) fn user_sig_stop_and_continue() -> TestResult {
    for end in [SIGTERM, SIGKILL] {
        let pid = start(SIGNALS, 15)?;
        let result = stop_and_continue(pid, end);
        if result.is_err() {
            let _ = sig_to(pid, SIGKILL);
        }
        let status = reap(pid);
        result?;
        ensure_eq!(status?, WaitStatus::Killed(end as u8));
    }
    Ok(())
}

fn stop_and_continue(pid: Pid, end: u64) -> TestResult {
    wait_lwps(pid, 4)?;
    let t0 = utime(pid);
    wait_for("the LWPs to spin", 10, || utime(pid) > t0 + 2)?;
    sig_to(pid, SIGSTOP)?;
    let stopped = WaitStatus::Stopped(SIGSTOP as u8).raw();
    ensure_eq!(proc::life::proc_waitid(Some(pid), WaitOpts::STOPPED), Ok((pid, stopped)));
    ensure!(all_stopped(pid), "the wait saw it stopped, an LWP was not");
    let frozen = utime(pid);
    kern::sleepq::delay(10);
    ensure_eq!(utime(pid), frozen);
    if end == SIGKILL {
        return sig_to(pid, SIGKILL);
    }
    sig_to(pid, SIGCONT)?;
    let cont = WaitOpts::CONTINUED | WaitOpts::STOPPED;
    ensure_eq!(proc::life::proc_waitid(Some(pid), cont), Ok((pid, WaitStatus::Continued.raw())));
    wait_for("the LWPs to spin again", 10, || utime(pid) > frozen + 2)?;
    sig_to(pid, end)
}

/// S14: SIGKILL ends a process whose LWPs spin, sleep, wait in `sigsuspend`,
/// `sigtimedwait` and `_lwp_wait`, or are suspended.
pub(super) fn user_sig_kill_every_state() -> TestResult {
    let pid = start(SIGNALS, 16)?;
    let placed = wait_lwps(pid, 7).and_then(|()| {
        let t0 = utime(pid);
        wait_for("the spinner to spin", 10, || utime(pid) > t0 + 2)
    });
    sig_to(pid, SIGKILL)?;
    let status = reap(pid);
    placed?;
    ensure_eq!(status?, WaitStatus::Killed(SIGKILL as u8));
    Ok(())
}
