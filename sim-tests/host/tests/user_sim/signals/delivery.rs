//! Which LWP takes a signal: a handler one LWP installed runs in another (S10);
//! process signals go to the LWP that does not mask them, each exactly once, and
//! stay pending on the process while every LWP masks them (S11, S14); SIGINT,
//! SIGTERM and `ITIMER_REAL`'s SIGALRM go to the one LWP that does not mask them
//! (S14).

use arch::sim::user;
use kern::proc::WaitStatus;
use kern_selftest::{ensure_eq, reap, TestResult};
use lwp_abi::*;

use super::{
    block, catch, exit, get_set, h_record, kill, last, lwp_exit, pid, ran, ran_by, sigset,
    sleep_ms, space, start, sys, unblock, until, wait_go, wait_lwp, worker, yield_now, CMD, DONE,
    GO, ITV, SET,
};

// ---- S10 --------------------------------------------------------------------------

fn s10_main(_: u64) {
    let other = worker(0, wait_go);
    catch(SIGUSR1, h_record, SA_SIGINFO);
    block(&[SIGUSR1]);
    kill(pid(), SIGUSR1).expect("kill");
    until("the handler", || ran() == 1);
    assert_eq!((ran_by(other), ran_by(1)), (1, 0), "LWP 1 installed it, LWP {} ran it", last(1));
    assert_eq!((last(2) as i32, last(3)), (SI_USER, pid()), "siginfo");
    user::store_u64(GO, 1);
    wait_lwp(other);
    exit(0)
}

/// S10: a handler installed by LWP 1 runs in LWP 2, which does not mask the
/// signal; its `siginfo` names the sending process (`SI_USER`).
pub(super) fn handler_in_other_lwp() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, s10_main, 0)?)?, WaitStatus::Exited(0));
    Ok(())
}

// ---- S11, S14 ---------------------------------------------------------------------

/// How many process signals the masks test sends each boot.
const SENDS: u64 = 200;

/// Worker `k`: masks SIGUSR1 if `k` is 0 (A), then acts on commands (1 block, 2
/// unblock) until `GO`.
fn masker(k: u64) {
    if k == 0 {
        block(&[SIGUSR1]);
    }
    user::store_u64(DONE + 8 * k, 1);
    while user::load_u64(GO) == 0 {
        match user::load_u64(CMD + 8 * k) {
            0 => {}
            c => {
                user::store_u64(CMD + 8 * k, 0);
                if c == 1 {
                    block(&[SIGUSR1])
                } else {
                    unblock(&[SIGUSR1])
                }
                user::store_u64(DONE + 8 * k, user::load_u64(DONE + 8 * k) + 1);
            }
        }
        yield_now();
    }
    lwp_exit()
}

fn masks_main(_: u64) {
    catch(SIGUSR1, h_record, 0);
    let a = worker(0, masker);
    let b = worker(1, masker);
    block(&[SIGUSR1]);
    until("A and B", || user::load_u64(DONE) == 1 && user::load_u64(DONE + 8) == 1);
    for i in 0..SENDS {
        kill(pid(), SIGUSR1).expect("kill");
        until("the handler", || ran() > i);
        assert_eq!(ran(), i + 1, "send {i} ran its handler twice");
    }
    assert_eq!((ran_by(a), ran_by(b), ran_by(1)), (0, SENDS, 0), "runs by A, B, LWP 1");
    // Masked by all: pending on the process, and the first to unmask it takes it.
    user::store_u64(CMD + 8, 1);
    until("B to block", || user::load_u64(DONE + 8) == 2);
    kill(pid(), SIGUSR1).expect("kill");
    sleep_ms(20);
    assert_eq!(ran(), SENDS, "a signal every LWP masks was taken");
    assert_eq!(sys(SYS_SIGPENDING, &[SIGPENDING, SET]), Ok((0, 0)));
    assert_eq!(get_set(SET), sigset(&[SIGUSR1]), "not pending on the process");
    user::store_u64(CMD, 2);
    until("A to take it", || ran() == SENDS + 1);
    assert_eq!((ran_by(a), ran_by(b)), (1, SENDS), "A unmasked it first");
    user::store_u64(GO, 1);
    wait_lwp(a);
    wait_lwp(b);
    exit(0)
}

/// S11, S14: process signals sent while LWP A masks them and B does not are taken
/// by B, each exactly once (a send waits for the previous one's handler: none is
/// lost or taken twice); masked by every LWP, one stays pending on the process
/// until A unmasks it, and A takes it.
pub(super) fn masks_choose_the_lwp() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, masks_main, 0)?)?, WaitStatus::Exited(0));
    Ok(())
}

// ---- S14 --------------------------------------------------------------------------

fn taker(_: u64) {
    unblock(&[SIGINT, SIGTERM, SIGALRM]);
    user::store_u64(DONE, 1);
    until("GO", || user::load_u64(GO) != 0);
    lwp_exit()
}

fn process_signals_main(_: u64) {
    for sig in [SIGINT, SIGTERM, SIGALRM] {
        catch(sig, h_record, 0);
    }
    block(&[SIGINT, SIGTERM, SIGALRM]);
    let other = worker(0, wait_go);
    let taker = worker(1, taker);
    until("LWP 3", || user::load_u64(DONE) == 1);
    for sig in [SIGINT, SIGTERM] {
        let before = ran();
        kill(pid(), sig).expect("kill");
        until("the handler", || ran() == before + 1);
        assert_eq!((last(0), last(1)), (sig, taker), "signal {sig} taken by");
    }
    // ITIMER_REAL: every 5 ms, SIGALRM for the process, taken by LWP 3.
    let ms5 = 5_000;
    for (off, v) in [(0, 0), (8, ms5), (16, 0), (24, ms5)] {
        user::store_u64(ITV + off, v);
    }
    sys(SYS_SETITIMER, &[ITIMER_REAL, ITV, 0]).expect("setitimer");
    until("three SIGALRMs", || ran() >= 5);
    user::store_u64(ITV + 24, 0);
    sys(SYS_SETITIMER, &[ITIMER_REAL, ITV, 0]).expect("setitimer off");
    // Each LWP's count read once: a SIGALRM sent before the timer was disarmed may
    // still be running its handler in LWP 3 meanwhile.
    let by: [u64; 8] = core::array::from_fn(|k| ran_by(k as u64));
    let elsewhere: u64 =
        by.iter().enumerate().filter(|&(k, _)| k as u64 != taker).map(|(_, n)| n).sum();
    assert_eq!(elsewhere, 0, "signals ran elsewhere than in LWP {taker}: {by:?}");
    user::store_u64(GO, 1);
    wait_lwp(taker);
    wait_lwp(other);
    exit(0)
}

/// S14: SIGINT, SIGTERM and SIGALRM (from `ITIMER_REAL`) to a process in which
/// only LWP 3 does not mask them: LWP 3 takes each.
pub(super) fn process_signals() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, process_signals_main, 0)?)?, WaitStatus::Exited(0));
    Ok(())
}
