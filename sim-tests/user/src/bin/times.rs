//! `times`: CPU time is charged to the LWP that used it, as user or system time,
//! and the process's time is the sum of its LWPs', exited ones included (S5.6).
//!
//! Main first measures how far it counts in 20 clock ticks, alone (`clock_ns`
//! against `lwp_times().hz`); three LWPs then each count that far, so each uses
//! about 20 ticks of CPU in user mode, record their own times with `lwp_times`
//! and exit. Main waits for them and checks:
//!
//! * each spinner was charged at least 10 ticks of user time, and more user than
//!   system time; so was main, for its measuring;
//! * Σu ≤ proc_utime and Σs ≤ proc_stime, where Σ sums what the spinners recorded
//!   and main's own figures (from the same `lwp_times` call as the process's):
//!   no time is lost when an LWP exits;
//! * (proc_utime − Σu) + (proc_stime − Σs) ≤ 4: what the records miss is a tick
//!   charged to a spinner between its record and its exit (a few hundred
//!   instructions: one tick at most, as user or as system time — 3 in all), and a
//!   tick charged to main inside its final `lwp_times`, between the kernel's
//!   reading of main's own times and of the process's (1).
//!
//! Exit codes: 0 passed; 1+i spinner i used less than 10 ticks of user time; 4+i
//! not more user than system time; 7 Σu > proc_utime; 8 Σs > proc_stime; 9 the
//! process was charged more than 4 ticks beyond the records; 10 main's measuring
//! was charged less than 10 ticks; 11 spawn or lwp_wait failed.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use lwp_user::{check, clock_ns, lwp_times, lwp_wait, ok, say, spawn};

lwp_user::main!(main);

const SPINNERS: usize = 3;
/// How long each spins, in clock ticks, and the least it must be charged.
const SPIN_TICKS: u64 = 20;
const MIN_TICKS: u64 = 10;
/// The largest excess of the process's times over the records (see above).
const SLACK: u64 = SPINNERS as u64 + 1;
const CHUNK: u64 = 1 << 16;

/// How far each spinner counts: what main counted in `SPIN_TICKS`.
static COUNT_TO: AtomicU64 = AtomicU64::new(0);
/// Each spinner's (utime, stime) when it was done.
static TIMES: [[AtomicU64; 2]; SPINNERS] = [const { [const { AtomicU64::new(0) }; 2] }; SPINNERS];

fn count(n: u64) {
    for i in 0..n {
        core::hint::black_box(i);
    }
}

fn spinner(i: u64) {
    count(COUNT_TO.load(Relaxed));
    let t = lwp_times().expect("lwp_times");
    TIMES[i as usize][0].store(t.lwp_utime, Relaxed);
    TIMES[i as usize][1].store(t.lwp_stime, Relaxed);
}

fn main(_: u64) {
    let hz = lwp_times().expect("lwp_times").hz;
    let start = clock_ns().expect("clock_ns");
    let mut counted = 0;
    while clock_ns().expect("clock_ns") - start < SPIN_TICKS * 1_000_000_000 / hz {
        count(CHUNK);
        counted += CHUNK;
    }
    COUNT_TO.store(counted, Relaxed);
    let ids: [u32; SPINNERS] = core::array::from_fn(|i| ok!(11, spawn(spinner, i as u64, 0)));
    for id in ids {
        ok!(11, lwp_wait(id));
    }
    let t = lwp_times().expect("lwp_times");
    let (mut su, mut ss) = (t.lwp_utime, t.lwp_stime);
    for (i, [u, s]) in TIMES.iter().enumerate() {
        let (u, s) = (u.load(Relaxed), s.load(Relaxed));
        check!(1 + i as u8, u >= MIN_TICKS, "spinner {i}: utime {u} ticks for about {SPIN_TICKS}");
        check!(4 + i as u8, u > s, "spinner {i}: utime {u} <= stime {s}");
        su += u;
        ss += s;
    }
    check!(
        10,
        t.lwp_utime >= MIN_TICKS,
        "main measured {SPIN_TICKS} ticks, was charged {}",
        t.lwp_utime
    );
    check!(7, su <= t.proc_utime, "user: the LWPs' {su} > the process's {}", t.proc_utime);
    check!(8, ss <= t.proc_stime, "system: the LWPs' {ss} > the process's {}", t.proc_stime);
    let excess = (t.proc_utime - su) + (t.proc_stime - ss);
    check!(
        9,
        excess <= SLACK,
        "the process has {excess} ticks more than its LWPs' records ({su}u {ss}s, process {t:?})"
    );
    say!(
        "{SPINNERS} spinners and main: {su} ticks user, {ss} system; process {}u {}s at {hz} Hz",
        t.proc_utime,
        t.proc_stime
    );
}
