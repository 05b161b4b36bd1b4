//! LWPs in user mode (S3, S5.6, S8, S16): interleaved by the clock, suspended and
//! continued, waited for, their CPU times, `_lwp_park`; made until the kernel
//! refuses, thousands made and gone, an endless sleep woken again and again.

use kern_selftest::TestResult;

use super::{beside_sibling, passes};
use crate::programs::*;

/// Five LWPs of one process that never yield all run, interleaved by the clock,
/// sharing the process's memory (S3, S17).
pub(super) fn user_lwps_interleave() -> TestResult {
    passes(LWPS, 0)
}

/// LWPs created suspended, suspended and continued while running, detached (S3).
pub(super) fn user_lwp_suspend_continue() -> TestResult {
    passes(SUSPEND, 0)
}

/// `_lwp_wait` for any, by id, for itself (EDEADLK), for nobody (ESRCH) (S3).
pub(super) fn user_lwp_wait() -> TestResult {
    passes(WAIT, 0)
}

/// CPU times are charged per LWP, user and system, and summed in the process,
/// exited LWPs included (S5.6).
pub(super) fn user_times() -> TestResult {
    passes(TIMES, 0)
}

/// `_lwp_park`/`_lwp_unpark` (S3, S8): an early unpark is kept, a timed park times
/// out, bad arguments are refused, two LWPs hand a turn back and forth through
/// them (also with the combined `park(unpark)`), and a stop ends no park.
pub(super) fn user_park_unpark() -> TestResult {
    passes(PARK, 0)
}

/// A program that makes SUSPENDED LWPs until the kernel refuses gets `EAGAIN` (at
/// the process's or the system's limit, `kern::rctl`), and exits; a sibling process
/// lives on, and the next program runs (S16). The suite's memory check then finds
/// everything given back.
pub(super) fn user_lwp_create_until_refused() -> TestResult {
    beside_sibling(|| passes(LIMITS, 1))?;
    passes(HELLO, 0)
}

/// The same with LWPs that exit at once and are never waited for: their zombies
/// fill the process's directory until `EAGAIN`; one wait makes room for one more.
pub(super) fn user_zombie_lwps_until_refused() -> TestResult {
    beside_sibling(|| passes(LIMITS, 2))?;
    passes(HELLO, 0)
}

/// Four thousand LWPs made, run to their exit and waited for one after another
/// leave the kernel's memory as it was (the suite's check: thread stacks and `lwp`
/// structures back in the heap, not kept by the caches).
pub(super) fn user_thousands_of_lwps_leave_nothing() -> TestResult {
    let before = kern::kmem::census();
    passes(LIMITS, 3 | 4000 << 8)?;
    kern_selftest::memory_back(&before)
}

/// An LWP asleep in `nanosleep` for `i64::MAX` seconds, woken 2,000 times by
/// `_lwp_continue`: its deadline saturates (a debug kernel once panicked on the
/// overflow) and its one timeout moves instead of piling up (2,000 callouts once
/// stayed armed); the process then exits, and the kernel's callouts, threads and
/// heap are as they were.
pub(super) fn user_endless_sleep_woken_again_and_again() -> TestResult {
    let before = kern::kmem::census();
    passes(LIMITS, 4 | 2000 << 8)?;
    kern_selftest::memory_back(&before)
}
