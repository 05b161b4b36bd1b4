//! `suspend`: `_lwp_suspend`, `_lwp_continue` and the creation flags from user
//! mode (S3): an LWP created `LWP_SUSPENDED` does not run until continued; a
//! running LWP that is suspended stops (its counter stands still across a sleep)
//! and counts again once continued; an `LWP_DETACHED` LWP is never waited for.
//!
//! Exit codes: 0 passed; 1 a suspended LWP ran; 2 continuing it failed, or it
//! did not run then; 3 waiting for it failed; 4 the spinner never ran; 5 suspending it failed;
//! 6 its counter moved while suspended; 7 continuing it failed; 8 continued, it
//! did not count; 9 waiting for it failed; 10 the detached LWP never ran; 11
//! waiting for the detached LWP did not fail with ESRCH; 12 spawn failed.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use lwp_user::abi::{LWP_DETACHED, LWP_SUSPENDED};
use lwp_user::errno::ESRCH;
use lwp_user::{check, lwp_continue, lwp_suspend, lwp_wait, ok, say, sleep_ms, sleep_until, spawn};

lwp_user::main!(main);

/// How long to wait for something that should happen at once (ms).
const PATIENCE_MS: u64 = 2000;

static RAN: AtomicBool = AtomicBool::new(false);
static SPINS: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);
static DETACHED_RAN: AtomicBool = AtomicBool::new(false);

fn set_ran(_: u64) {
    RAN.store(true, Relaxed);
}

fn spin(_: u64) {
    while !STOP.load(Relaxed) {
        SPINS.store(SPINS.load(Relaxed) + 1, Relaxed);
    }
}

fn detached(_: u64) {
    DETACHED_RAN.store(true, Relaxed);
}

fn main(_: u64) {
    // Created suspended: main sleeps, so it could run, and does not.
    let id = ok!(12, spawn(set_ran, 0, LWP_SUSPENDED));
    for _ in 0..3 {
        sleep_ms(20);
        check!(1, !RAN.load(Relaxed), "LWP {id}, created suspended, ran");
    }
    ok!(2, lwp_continue(id));
    check!(
        2,
        sleep_until(PATIENCE_MS, || RAN.load(Relaxed)),
        "LWP {id} did not run once continued"
    );
    let gone = lwp_wait(id);
    check!(3, gone == Ok(id), "lwp_wait({id}) = {gone:?}");

    // A busy LWP, suspended and continued.
    let id = ok!(12, spawn(spin, 0, 0));
    check!(4, sleep_until(PATIENCE_MS, || SPINS.load(Relaxed) > 0), "the spinner never ran");
    ok!(5, lwp_suspend(id));
    let stopped = SPINS.load(Relaxed);
    sleep_ms(50);
    let later = SPINS.load(Relaxed);
    check!(6, later == stopped, "the suspended spinner counted from {stopped} to {later}");
    ok!(7, lwp_continue(id));
    check!(
        8,
        sleep_until(PATIENCE_MS, || SPINS.load(Relaxed) > later),
        "the continued spinner does not count"
    );
    STOP.store(true, Relaxed);
    let gone = lwp_wait(id);
    check!(9, gone == Ok(id), "lwp_wait({id}) = {gone:?}");

    // Detached: it runs and exits, and nobody can wait for it.
    let id = ok!(12, spawn(detached, 0, LWP_DETACHED));
    check!(
        10,
        sleep_until(PATIENCE_MS, || DETACHED_RAN.load(Relaxed)),
        "the detached LWP never ran"
    );
    sleep_ms(20);
    let gone = lwp_wait(id);
    check!(11, gone == Err(ESRCH), "lwp_wait({id}) of a detached LWP = {gone:?}");
    say!("suspended, continued and detached LWPs behaved");
}
