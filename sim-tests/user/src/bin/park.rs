//! `park`: `_lwp_park` and `_lwp_unpark` from user mode (S3, S8), the kernel's part
//! in a thread library's blocking:
//!
//! 1. an unpark that comes before the park is not lost; unparks do not count up;
//! 2. a timed park that nobody ends returns `ETIME`, after at least its time;
//! 3. bad arguments: a timeout that is no duration (`EINVAL`), ids that name no
//!    LWP of the process (`ESRCH`: 0, 999, an LWP that has exited), and a refused
//!    `park(unpark)` does not park;
//! 4. two LWPs hand a turn back and forth 2,000 times, each parking until it is
//!    its turn and unparking the other: every turn is taken, once, in order;
//! 5. the same with `park(unpark = the other)`: the hand-over and the sleep in one
//!    call;
//! 6. a parked LWP that is suspended and continued goes on parking (a stop ends
//!    no park), and returns when unparked.
//!
//! The process then exits with an LWP parked for ever (it goes with the process).
//!
//! Exit codes: 0 passed; 1 a call failed; 2 an early unpark was lost; 3 two
//! unparks gave two permits; 4 a timed park did not return ETIME; 5 it returned
//! early; 6 a bad timeout was not EINVAL; 7 a bad id was not ESRCH; 8 a refused
//! park(unpark) parked; 9 a turn was lost or taken twice; 10 a parked LWP returned
//! without an unpark; 11 it did not return when unparked.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};

use lwp_user::abi::Timespec;
use lwp_user::errno::{EINVAL, ESRCH, ETIME};
use lwp_user::{
    check, clock_ns, lwp_continue, lwp_park, lwp_self, lwp_suspend, lwp_unpark, lwp_wait, millis,
    ok, say, sleep_ms, sleep_until, spawn,
};

lwp_user::main!(main);

/// Whose turn it is (an LWP id), and the turns each side took.
static TURN: AtomicU32 = AtomicU32::new(0);
static TAKEN: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
/// The two sides' LWP ids.
static SIDES: [AtomicU32; 2] = [const { AtomicU32::new(0) }; 2];
const ROUNDS: u64 = 2_000;

/// How often the parked LWP of test 6 came back from `_lwp_park`.
static RETURNS: AtomicU64 = AtomicU64::new(0);

fn main(_: u64) {
    early_unpark_is_kept();
    timed_park_times_out();
    bad_arguments();
    for combined in [false, true] {
        ping_pong(combined);
    }
    stopped_while_parked();
    say!("park and unpark passed");
}

/// 1: unpark before park, and no counting up.
fn early_unpark_is_kept() {
    let me = ok!(1, lwp_self());
    ok!(1, lwp_unpark(me));
    ok!(1, lwp_unpark(me));
    // The permit is there: this returns at once, however long the timeout.
    let r = lwp_park(Some(&millis(10_000)), 0);
    check!(2, r == Ok(()), "a park after an unpark of oneself = {r:?}");
    // Two unparks gave one permit: this one times out.
    let r = lwp_park(Some(&millis(20)), 0);
    check!(3, r == Err(ETIME), "a second park = {r:?}");
}

/// 2: a timed park ends with ETIME, not before its time.
fn timed_park_times_out() {
    let start = ok!(1, clock_ns());
    let r = lwp_park(Some(&millis(30)), 0);
    let took = ok!(1, clock_ns()) - start;
    check!(4, r == Err(ETIME), "a park of 30 ms = {r:?}");
    check!(5, took >= 30_000_000, "a park of 30 ms returned after {took} ns");
}

/// 3: bad arguments get errors, and a refused call does nothing.
fn bad_arguments() {
    for bad in [Timespec { tv_sec: -1, tv_nsec: 0 }, Timespec { tv_sec: 0, tv_nsec: 1_000_000_000 }]
    {
        let r = lwp_park(Some(&bad), 0);
        check!(6, r == Err(EINVAL), "a park for {bad:?} = {r:?}");
    }
    let gone = ok!(1, spawn(|_| {}, 0, 0));
    ok!(1, lwp_wait(gone));
    for id in [0, 999, gone] {
        let r = lwp_unpark(id);
        check!(7, r == Err(ESRCH), "lwp_unpark({id}) = {r:?}");
        // (In `_lwp_park`, 0 is "unpark nobody".) Refused before it could park:
        // with no permit and no timeout it would park for ever.
        if id != 0 {
            let r = lwp_park(None, id);
            check!(8, r == Err(ESRCH), "lwp_park(unpark {id}) = {r:?}");
        }
    }
}

/// One side of the hand-over (`k` 0 or 1, bit 1: combined): waits for its turn,
/// parking, then hands it on — unparking the other at once, or, combined, with the
/// park of its next wait.
fn side(k: u64) {
    let combined = k & 2 != 0;
    let k = (k & 1) as usize;
    let (mine, other) = (SIDES[k].load(SeqCst), SIDES[1 - k].load(SeqCst));
    let mut owed = false;
    for _ in 0..ROUNDS {
        while TURN.load(SeqCst) != mine {
            ok!(1, lwp_park(None, if owed { other } else { 0 }));
            owed = false;
        }
        TAKEN[k].fetch_add(1, SeqCst);
        TURN.store(other, SeqCst);
        if combined {
            owed = true;
        } else {
            ok!(1, lwp_unpark(other));
        }
    }
    if owed {
        ok!(1, lwp_unpark(other));
    }
}

/// 4, 5: two LWPs take turns, 2,000 each.
fn ping_pong(combined: bool) {
    for t in &TAKEN {
        t.store(0, SeqCst);
    }
    SIDES[0].store(ok!(1, lwp_self()), SeqCst);
    let flag = u64::from(combined) << 1;
    let other = ok!(1, spawn(side, 1 | flag, lwp_user::abi::LWP_SUSPENDED));
    SIDES[1].store(other, SeqCst);
    TURN.store(SIDES[0].load(SeqCst), SeqCst);
    ok!(1, lwp_continue(other));
    side(flag);
    ok!(1, lwp_wait(other));
    let taken = [TAKEN[0].load(SeqCst), TAKEN[1].load(SeqCst)];
    check!(9, taken == [ROUNDS, ROUNDS], "combined {combined}: turns taken {taken:?}");
}

/// 6: a stop ends no park.
fn stopped_while_parked() {
    let sleeper = ok!(
        1,
        spawn(
            |_| loop {
                ok!(1, lwp_park(None, 0));
                RETURNS.fetch_add(1, SeqCst);
            },
            0,
            0,
        )
    );
    sleep_ms(10);
    ok!(1, lwp_suspend(sleeper));
    ok!(1, lwp_continue(sleeper));
    sleep_ms(20);
    let n = RETURNS.load(SeqCst);
    check!(10, n == 0, "a parked LWP returned {n} times without an unpark");
    ok!(1, lwp_unpark(sleeper));
    let back = sleep_until(1000, || RETURNS.load(SeqCst) == 1);
    check!(11, back, "the parked LWP did not return when unparked");
    // It parks again, for ever: the process's exit ends it.
}
