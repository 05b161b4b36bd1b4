//! Calls a signal interrupts, and calls that wait for one (S14): EINTR from
//! `nanosleep` and `_lwp_wait`, `SA_RESTART`; `sigsuspend` with a mask of its own,
//! `sigtimedwait` taking a masked signal or timing out.

use arch::sim::user;
use core::mem::offset_of;
use kern::proc::WaitStatus;
use kern_selftest::{ensure_eq, reap, TestResult};
use lwp_abi::*;

use super::{
    block, catch, errno, exit, h_record, kill, lwp_exit, pid, poke_lwp1, put_set, ran, ran_by,
    sigmask, sigset, sleep_ms, sleeper, space, start, sys, wait_lwp, worker_arg, INFO, SET, TS,
};

fn eintr_main(_: u64) {
    catch(SIGUSR1, h_record, 0);
    let poker = worker_arg(0, poke_lwp1, 20);
    user::store_u64(TS, 5);
    user::store_u64(TS + 8, 0);
    assert_eq!(sys(SYS_NANOSLEEP, &[TS]), Err(errno(Errno::EINTR)), "nanosleep");
    assert_eq!(ran_by(1), 1, "the handler ran in LWP 1");
    wait_lwp(poker);
    let sleeping = worker_arg(1, sleeper, 200);
    let poker = worker_arg(0, poke_lwp1, 20);
    assert_eq!(sys(SYS_LWP_WAIT, &[sleeping, 0]), Err(errno(Errno::EINTR)), "_lwp_wait");
    assert_eq!(ran_by(1), 2);
    wait_lwp(poker);
    wait_lwp(sleeping);
    catch(SIGUSR1, h_record, SA_RESTART);
    let sleeping = worker_arg(1, sleeper, 200);
    let poker = worker_arg(0, poke_lwp1, 20);
    wait_lwp(sleeping);
    assert_eq!(ran_by(1), 3, "restarted after the handler ran");
    wait_lwp(poker);
    exit(0)
}

/// A caught signal ends `nanosleep` and `_lwp_wait` with EINTR; with `SA_RESTART`
/// the interrupted `_lwp_wait` is made again once the handler returns, and waits
/// to its end.
pub(super) fn eintr_and_restart() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, eintr_main, 0)?)?, WaitStatus::Exited(0));
    Ok(())
}

fn send_self(sig: u64) {
    sleep_ms(10);
    kill(pid(), sig).expect("kill");
    lwp_exit()
}

fn suspend_wait_main(_: u64) {
    catch(SIGUSR1, h_record, 0);
    block(&[SIGUSR1, SIGUSR2]);
    let sender = worker_arg(0, send_self, SIGUSR1);
    put_set(SET, SigSet::EMPTY);
    assert_eq!(sys(SYS_SIGSUSPEND, &[SET]), Err(errno(Errno::EINTR)), "sigsuspend");
    assert_eq!(ran_by(1), 1, "the handler ran before sigsuspend returned");
    assert_eq!(sigmask(SIG_BLOCK, SigSet::EMPTY), Ok(sigset(&[SIGUSR1, SIGUSR2])), "old mask");
    wait_lwp(sender);
    let sender = worker_arg(0, send_self, SIGUSR2);
    put_set(SET, sigset(&[SIGUSR2]));
    assert_eq!(sys(SYS_SIGTIMEDWAIT, &[SET, INFO, 0]), Ok((SIGUSR2, 0)), "sigtimedwait");
    let code = user::load_u32(INFO + offset_of!(SigInfoT, si_code) as u64) as i32;
    let from = u64::from(user::load_u32(INFO + offset_of!(SigInfoT, si_pid) as u64));
    assert_eq!((code, from), (SI_USER, pid()), "siginfo of sigtimedwait");
    wait_lwp(sender);
    user::store_u64(TS, 0);
    user::store_u64(TS + 8, 20_000_000);
    assert_eq!(sys(SYS_SIGTIMEDWAIT, &[SET, 0, TS]), Err(errno(Errno::EAGAIN)), "timed out");
    assert_eq!(ran(), 1, "a handler ran for a signal sigtimedwait took");
    exit(0)
}

/// `sigsuspend` ends with EINTR once the handler has run, the old mask back;
/// `sigtimedwait` takes a masked signal with its `siginfo`, or times out (EAGAIN).
pub(super) fn sigsuspend_and_sigtimedwait() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, suspend_wait_main, 0)?)?, WaitStatus::Exited(0));
    Ok(())
}
