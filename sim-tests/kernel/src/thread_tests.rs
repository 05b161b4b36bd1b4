//! Self-tests of the thread library (`sim-tests/user/thread`, S4, S8, S9, S18):
//! its test programs run in processes of their own, as the user programs of
//! `user_tests` do, and pass or exit with the code of the check that failed (their
//! console line says more).

use arch::Machine;
use kern::proc::WaitStatus;
use kern::M;
use kern_selftest::{ensure_eq, Test, TestResult};

use crate::programs::*;
use crate::user_tests::{passes, run};

pub static UTHREAD: &[Test] = &[
    Test::new("uthread_every_kind_of_life", uthread_every_kind_of_life),
    Test::new("uthread_last_exit_ends_process", uthread_last_exit_ends_process),
    Test::new("uthread_1000_threads_adaptive_mutex", || many(0)),
    Test::new("uthread_1000_threads_spin_mutex", || many(1)),
    Test::new("uthread_1000_threads_block_mutex", || many(2)),
    Test::new("uthread_kernel_block_stops_its_lwp_only", || passes(UTHREADS, 4)),
    Test::new("uthread_all_lwps_blocked_adds_an_lwp", || passes(UTHREADS, 5)),
    Test::new("uthread_switch_survives_signals_inside", || passes(UTHREADS, 6)),
    Test::new("uthread_stack_overflow_hits_its_guard_page", || passes(UTHREADS, 7)),
    Test::new("usync_producer_consumer", || each_kind(1)),
    Test::new("usync_semaphore_never_over_admits", || each_kind(2)),
    Test::new("usync_rwlock_readers_overlap_writers_not_starved", || each_kind(3)),
    Test::new("usync_misuse_gets_errors", || each_kind(4)),
    Test::new("usync_kinds_when_the_owner_sleeps", || each_kind(5)),
    Test::new("usync_lwp_mutex_between_lwps", || each_kind(6)),
    Test::new("usync_adaptive_spins_while_the_owner_runs", adaptive_spins),
];

/// Unbound and bound threads, joinable and detached, returning and exiting: joined
/// with their values, freed, misuse refused, turns taken, per-thread data (S4).
fn uthread_every_kind_of_life() -> TestResult {
    passes(UTHREADS, 1)
}

/// The main thread exits first; the process ends with its last thread, which
/// alone can give status 7.
fn uthread_last_exit_ends_process() -> TestResult {
    ensure_eq!(run(UTHREADS, 2)?, WaitStatus::Exited(7));
    Ok(())
}

/// 1,000 unbound threads count under a mutex of `kind` on 1, 2 and 4 LWPs: exact
/// totals, never two inside, contended as the kind says (S4, S8, S9).
fn many(kind: u64) -> TestResult {
    for lwps in [1, 2, 4] {
        passes(UTHREADS, 3 | lwps << 8 | kind << 16)?;
    }
    Ok(())
}

/// Test `test` of the `usync` program with objects of each kind (S8, S9).
fn each_kind(test: u64) -> TestResult {
    for kind in 0..3 {
        passes(USYNC, test | kind << 8)?;
    }
    Ok(())
}

/// An adaptive lock spins while its owner's LWP is on another CPU (`usync`'s test
/// 7). QEMU's sun4u has one: while the waiter runs no owner is on a CPU. The host
/// simulation shows it on 2 to 8 CPUs (`sim-tests/host/tests/user_sim`: this
/// library's LWP mutexes against the same kernel).
fn adaptive_spins() -> TestResult {
    if M::ncpus() < 2 {
        kern_selftest::skip!(
            "one CPU: no owner runs while its waiter does (see the host simulation)"
        );
    }
    passes(USYNC, 7)
}
