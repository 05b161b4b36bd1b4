//! Which LWP takes a signal (checks 1, 2, 7): a handler one LWP installed runs in
//! another (S10); process signals go to the one LWP that does not mask them, and
//! stay pending while every LWP masks them (S11, S14); SIGINT, SIGTERM and the
//! process's timer signals go to the LWP that does not mask them, the LWP's own
//! timers signal it (S14, S5.5).

use core::hint::black_box;
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};

use lwp_user::abi::*;
use lwp_user::signal::{alarm, getitimer, kill, setitimer, sigpending, timeval_ms};
use lwp_user::{check, clock_ns, lwp_wait, ok, spawn, yield_now};

use super::{
    await_for, block, catch, h_record, nap, pid, ran, ran_by, set, spin_until_stage, unblock, GO,
    LAST, MS, RAN_BY,
};

// ---- 1: S10 -----------------------------------------------------------------------

pub(super) fn handler_in_other_lwp() {
    let other = ok!(1, spawn(spin_until_stage, 1, 0));
    catch(SIGUSR1, h_record, SA_SIGINFO);
    block(&[SIGUSR1]);
    ok!(1, kill(pid(), SIGUSR1));
    check!(1, await_for(2000, || ran() == 1), "the handler did not run");
    check!(
        2,
        ran_by(other) == 1 && ran_by(1) == 0,
        "LWP 1 installed it; LWP {} ran it",
        LAST[1].load(SeqCst)
    );
    let (code, from) = (LAST[2].load(SeqCst) as i32, LAST[3].load(SeqCst));
    check!(3, code == SI_USER && from == pid(), "siginfo: code {code}, pid {from}");
    GO.store(1, SeqCst);
    ok!(4, lwp_wait(other));
}

// ---- 2: S11 -----------------------------------------------------------------------

const SENDS: u64 = 1000;
/// What LWP A and B are told to do: 1 block SIGUSR1, 2 unblock it; the stage done.
static CMD: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];
static DONE: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

/// LWP `k` (1: A, 2: B) of check 2: masks SIGUSR1 if it is A, then yields, acting
/// on commands, until `GO`.
fn masker(k: u64) {
    if k == 1 {
        block(&[SIGUSR1]);
    }
    DONE[k as usize].store(1, SeqCst);
    while GO.load(SeqCst) == 0 {
        let c = CMD[k as usize].swap(0, SeqCst);
        match c {
            1 => block(&[SIGUSR1]),
            2 => unblock(&[SIGUSR1]),
            _ => {}
        }
        if c != 0 {
            DONE[k as usize].fetch_add(1, SeqCst);
        }
        ok!(93, yield_now());
    }
}

pub(super) fn masks() {
    catch(SIGUSR1, h_record, 0);
    let a = ok!(10, spawn(masker, 1, 0));
    let b = ok!(10, spawn(masker, 2, 0));
    block(&[SIGUSR1]);
    check!(10, await_for(2000, || DONE[1].load(SeqCst) == 1 && DONE[2].load(SeqCst) == 1), "start");
    for i in 0..SENDS {
        ok!(11, kill(pid(), SIGUSR1));
        check!(11, await_for(2000, || ran() == i + 1), "send {i}: {} handler runs", ran());
    }
    check!(
        12,
        ran_by(b) == SENDS && ran_by(a) == 0 && ran_by(1) == 0,
        "runs by A {}, B {}, LWP 1 {}",
        ran_by(a),
        ran_by(b),
        ran_by(1)
    );
    // Masked by every LWP: pending on the process, taken by the first to unmask it.
    CMD[2].store(1, SeqCst);
    check!(13, await_for(2000, || DONE[2].load(SeqCst) == 2), "B did not block");
    ok!(13, kill(pid(), SIGUSR1));
    nap(30);
    check!(14, ran() == SENDS, "a signal masked by every LWP was taken");
    check!(14, ok!(14, sigpending()) == set(&[SIGUSR1]), "not pending on the process");
    CMD[1].store(2, SeqCst);
    check!(15, await_for(2000, || ran() == SENDS + 1), "A unmasked it and did not take it");
    check!(15, ran_by(a) == 1 && ran_by(b) == SENDS, "A {}, B {}", ran_by(a), ran_by(b));
    check!(16, ok!(16, sigpending()).sigbits == [0; 4], "still pending");
    GO.store(1, SeqCst);
    ok!(17, lwp_wait(a));
    ok!(17, lwp_wait(b));
}

// ---- 7: S14 -----------------------------------------------------------------------

/// LWP 3 of check 7: unmasks what LWP 1 masks, runs its own user-time timers, and
/// spins until `GO`.
fn taker(_: u64) {
    unblock(&[SIGINT, SIGTERM, SIGALRM, SIGVTALRM, SIGPROF]);
    DONE[0].store(1, SeqCst);
    while GO.load(SeqCst) == 0 {
        black_box(ok!(93, clock_ns()));
    }
}

pub(super) fn process_signals() {
    let sigs = [SIGINT, SIGTERM, SIGALRM, SIGVTALRM, SIGPROF];
    for sig in sigs {
        catch(sig, h_record, SA_SIGINFO);
    }
    block(&sigs);
    let other = ok!(50, spawn(spin_until_stage, 1, 0));
    let taker = ok!(50, spawn(taker, 0, 0));
    check!(50, await_for(2000, || DONE[0].load(SeqCst) == 1), "LWP 3 did not start");
    for (n, sig) in [(51, SIGINT), (52, SIGTERM)] {
        let before = ran();
        ok!(n, kill(pid(), sig));
        check!(n, await_for(2000, || ran() == before + 1), "signal {sig} not taken");
        check!(
            n,
            LAST[0].load(SeqCst) == sig && ran_by(taker) == ran(),
            "taken by {}",
            LAST[1].load(SeqCst)
        );
    }
    check!(53, ok!(53, alarm(1)) == 0, "an alarm was set already");
    check!(53, ok!(53, alarm(1)) == 1, "alarm(1) says no second is left");
    let before = ran();
    check!(53, await_for(3000, || ran() == before + 1), "no SIGALRM after alarm(1)");
    check!(
        53,
        LAST[0].load(SeqCst) == SIGALRM && ran_by(taker) == ran(),
        "SIGALRM by LWP {}",
        LAST[1].load(SeqCst)
    );
    let every = ITimerVal { it_interval: timeval_ms(20), it_value: timeval_ms(20) };
    ok!(54, setitimer(ITIMER_REAL, &every));
    let left = ok!(54, getitimer(ITIMER_REAL));
    check!(54, left.it_interval == timeval_ms(20) && left.it_value.tv_usec <= 20_000, "{left:?}");
    let before = ran();
    check!(
        54,
        await_for(3000, || ran() >= before + 3),
        "ITIMER_REAL fired {} times",
        ran() - before
    );
    ok!(54, setitimer(ITIMER_REAL, &ITimerVal::default()));
    // Each LWP's count read once: a SIGALRM sent before the timer was disarmed may
    // still be running its handler in LWP 3 meanwhile.
    let elsewhere: u64 = (0..RAN_BY.len() as u32).filter(|&k| k != taker).map(ran_by).sum();
    check!(54, elsewhere == 0, "SIGALRM ran elsewhere");
    // The LWPs' own timers: only that LWP's time counts, and the signal is its own.
    GO.store(1, SeqCst);
    ok!(55, lwp_wait(taker));
    ok!(55, lwp_wait(other));
    unblock(&[SIGVTALRM, SIGPROF]);
    for (n, which, sig) in [(56, ITIMER_VIRTUAL, SIGVTALRM), (57, ITIMER_PROF, SIGPROF)] {
        let once = ITimerVal { it_interval: Timeval::default(), it_value: timeval_ms(30) };
        ok!(n, setitimer(which, &once));
        let before = ran();
        let start = ok!(n, clock_ns());
        // Sleeping adds nothing to the virtual timer's time.
        nap(60);
        check!(n, which != ITIMER_VIRTUAL || ran() == before, "SIGVTALRM while asleep");
        while ran() == before && ok!(n, clock_ns()) - start < 3000 * MS {
            black_box(0);
        }
        check!(
            n,
            ran() == before + 1 && LAST[0].load(SeqCst) == sig && ran_by(1) > 0,
            "timer {which}"
        );
    }
}
