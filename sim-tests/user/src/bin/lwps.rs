//! `lwps`: LWPs of one process are scheduled independently and share its memory
//! (S3, S17). Main and 4 LWPs each count in a counter of their own in shared
//! memory, without ever yielding, and each watches the others' counters: seeing
//! one change while it runs means another LWP ran in between, so the clock
//! preempted it (one CPU) or they ran in parallel. All go on until every one has
//! seen that (and has counted at least `MIN_COUNT`), or a time limit passes. Main
//! then waits for each LWP by id and checks the counts.
//!
//! Exit codes: 0 passed; 1 `spawn` failed; 2 `lwp_wait` did not return the id;
//! 10+i participant i never saw another run; 20+i its counter is not what it
//! counted; 30+i it counted less than `MIN_COUNT`.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

use lwp_user::{check, clock_ns, lwp_wait, ok, say, spawn};

lwp_user::main!(main);

/// Main (0) and four LWPs.
const N: usize = 5;
/// Each counts at least this far: longer than a time slice of the clock.
const MIN_COUNT: u64 = 2_000_000;
/// How often the loop looks at the clock and at the others' progress.
const CHECK_EVERY: u64 = 1 << 16;
/// The limit, in nanoseconds of the kernel's clock.
const LIMIT_NS: u64 = 30_000_000_000;

static COUNT: [AtomicU64; N] = [const { AtomicU64::new(0) }; N];
/// What each counted when it stopped, and whether it saw another run meanwhile.
static FINAL: [AtomicU64; N] = [const { AtomicU64::new(0) }; N];
static SAW: [AtomicBool; N] = [const { AtomicBool::new(false) }; N];
/// How many have seen another run.
static SEEN: AtomicUsize = AtomicUsize::new(0);

fn others(me: usize) -> u64 {
    (0..N).filter(|&i| i != me).map(|i| COUNT[i].load(Relaxed)).sum()
}

/// Participant `me`'s loop: count, and watch the others.
fn count(me: u64) {
    let me = me as usize;
    let deadline = clock_ns().expect("clock_ns") + LIMIT_NS;
    let (mut n, mut last, mut saw) = (0u64, others(me), false);
    loop {
        n += 1;
        COUNT[me].store(n, Relaxed);
        let now = others(me);
        if now != last && !saw {
            saw = true;
            SAW[me].store(true, Relaxed);
            SEEN.fetch_add(1, Relaxed);
        }
        last = now;
        if n % CHECK_EVERY == 0
            && ((n >= MIN_COUNT && SEEN.load(Relaxed) == N)
                || clock_ns().expect("clock_ns") > deadline)
        {
            break;
        }
    }
    FINAL[me].store(n, Relaxed);
}

fn main(_: u64) {
    let mut ids = [0; N];
    for (i, id) in ids.iter_mut().enumerate().skip(1) {
        *id = ok!(1, spawn(count, i as u64, 0));
    }
    count(0);
    for &id in &ids[1..] {
        let gone = lwp_wait(id);
        check!(2, gone == Ok(id), "lwp_wait({id}) = {gone:?}");
    }
    for i in 0..N as u8 {
        let (count, fin) = (COUNT[i as usize].load(Relaxed), FINAL[i as usize].load(Relaxed));
        check!(
            10 + i,
            SAW[i as usize].load(Relaxed),
            "participant {i} never saw another LWP run (counts {:?})",
            counts()
        );
        check!(20 + i, count == fin, "participant {i}: counter {count}, counted {fin}");
        check!(30 + i, fin >= MIN_COUNT, "participant {i} counted only {fin}");
    }
    say!("5 LWPs interleaved, counts {:?}", counts());
}

fn counts() -> [u64; N] {
    core::array::from_fn(|i| COUNT[i].load(Relaxed))
}
