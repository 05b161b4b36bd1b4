//! Self-tests of the synchronization objects (S8, S9): run in QEMU (one CPU, under
//! clock preemption) and on the host simulation (1 to 8 CPUs).
//!
//! Each test measures what it claims: critical sections that really were preempted
//! or really contended (the `sync::STATS` counts of spins, blocks and hand-offs),
//! readers really inside together, a priority really inherited while the waiter
//! was blocked, and the order in which threads really finished.
//!
//! One file per subject: [`mutex`], [`condvar_sema`] (condition variables and
//! semaphores), [`rwlock`], [`kinds`] (what each kind of rwlock, semaphore and
//! condition variable does when busy), [`pi`] (priority inheritance) and [`misuse`] (what the
//! kernel reports by panicking); here the suite and what they share.

mod condvar_sema;
mod kinds;
mod misuse;
mod mutex;
mod pi;
mod rwlock;

use core::hint::black_box;
use core::sync::atomic::Ordering::SeqCst;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};

use arch::Machine;

use crate::{spawn, Test};
use kern::class::{self, SchedClass};
use kern::thread::KThread;
use kern::{clock, disp, sleepq, M};

/// The synchronization suite, in the order it runs.
pub static SYNC: &[Test] = &[
    Test::new("sync_mutex_counter_adaptive", mutex::sync_mutex_counter_adaptive),
    Test::new("sync_mutex_counter_block", mutex::sync_mutex_counter_block),
    Test::new("sync_mutex_counter_spin", mutex::sync_mutex_counter_spin),
    Test::new("sync_mutex_try_enter_and_owner", mutex::sync_mutex_try_enter_and_owner),
    Test::new(
        "sync_adaptive_blocks_when_owner_sleeps",
        mutex::sync_adaptive_blocks_when_owner_sleeps,
    ),
    Test::new("sync_spin_mutex_in_interrupt_handler", mutex::sync_spin_mutex_in_interrupt_handler),
    Test::new("sync_cv_producer_consumer", condvar_sema::sync_cv_producer_consumer),
    Test::new("sync_cv_timedwait", condvar_sema::sync_cv_timedwait),
    Test::new("sync_cv_signal_one_broadcast_all", condvar_sema::sync_cv_signal_one_broadcast_all),
    Test::new("sync_sema_never_over_admits", condvar_sema::sync_sema_never_over_admits),
    Test::new("sync_sema_p_v_try_p", condvar_sema::sync_sema_p_v_try_p),
    Test::new("sync_rwlock_readers_overlap", rwlock::sync_rwlock_readers_overlap),
    Test::new("sync_rwlock_writer_not_starved", rwlock::sync_rwlock_writer_not_starved),
    Test::new("sync_rwlock_try_downgrade_upgrade", rwlock::sync_rwlock_try_downgrade_upgrade),
    Test::new("sync_rwlock_spin_waiter_spins", kinds::sync_rwlock_spin_waiter_spins),
    Test::new("sync_rwlock_block_waiter_sleeps", kinds::sync_rwlock_block_waiter_sleeps),
    Test::new(
        "sync_rwlock_adaptive_spins_on_running_writer",
        kinds::sync_rwlock_adaptive_spins_on_running_writer,
    ),
    Test::new(
        "sync_rwlock_adaptive_blocks_on_sleeping_writer",
        kinds::sync_rwlock_adaptive_blocks_on_sleeping_writer,
    ),
    Test::new(
        "sync_rwlock_adaptive_blocks_on_readers",
        kinds::sync_rwlock_adaptive_blocks_on_readers,
    ),
    Test::new(
        "sync_spin_rwlock_in_interrupt_handler",
        kinds::sync_spin_rwlock_in_interrupt_handler,
    ),
    Test::new("sync_sema_spin_waiter_spins", kinds::sync_sema_spin_waiter_spins),
    Test::new("sync_sema_block_waiter_sleeps", kinds::sync_sema_block_waiter_sleeps),
    Test::new(
        "sync_sema_adaptive_spins_on_running_waker",
        kinds::sync_sema_adaptive_spins_on_running_waker,
    ),
    Test::new(
        "sync_sema_adaptive_blocks_on_sleeping_waker",
        kinds::sync_sema_adaptive_blocks_on_sleeping_waker,
    ),
    Test::new("sync_cv_spin_waiter_spins", kinds::sync_cv_spin_waiter_spins),
    Test::new("sync_cv_block_waiter_sleeps", kinds::sync_cv_block_waiter_sleeps),
    Test::new(
        "sync_cv_adaptive_spins_on_running_waker",
        kinds::sync_cv_adaptive_spins_on_running_waker,
    ),
    Test::new(
        "sync_cv_adaptive_blocks_on_sleeping_waker",
        kinds::sync_cv_adaptive_blocks_on_sleeping_waker,
    ),
    Test::new("sync_cv_timedwait_every_kind", kinds::sync_cv_timedwait_every_kind),
    Test::new("sync_pi_mutex_inversion", pi::sync_pi_mutex_inversion),
    Test::new("sync_pi_chain_of_two_locks", pi::sync_pi_chain_of_two_locks),
    Test::new("sync_pi_recomputed_on_release", pi::sync_pi_recomputed_on_release),
    Test::new("sync_pi_rwlock_writer", pi::sync_pi_rwlock_writer),
    Test::explicit("sync_deadlock_detected", misuse::sync_deadlock_detected),
    Test::explicit(
        "sync_mutex_recursive_enter_reported",
        misuse::sync_mutex_recursive_enter_reported,
    ),
    Test::explicit(
        "sync_mutex_exit_by_non_owner_reported",
        misuse::sync_mutex_exit_by_non_owner_reported,
    ),
];

// ------------------------------------------------------------------ helpers

/// Sleeps (a tick at a time) until `done()` holds: for test threads, which give up
/// when the machine halts.
fn sleep_until(done: impl Fn() -> bool) {
    while !done() {
        sleepq::delay(1);
    }
}

/// Creates and starts a SYS thread one above the test thread's priority: it runs
/// as soon as the test thread sleeps, and before any TS thread.
fn spawn_sys(name: &'static str, f: fn(usize), arg: usize) -> &'static KThread {
    spawn(name, f, arg, SchedClass::Sys, class::SYS_PRI + 1, None)
}

/// Makes all of `ts` runnable before any of them runs, then lets the best run.
fn start_together(ts: &[&'static KThread]) {
    let was = M::intr_disable();
    for t in ts {
        disp::setrun(t);
    }
    M::intr_restore(was);
    disp::kpreempt();
}

fn mix(x: u64, y: u64) -> u64 {
    (x ^ y).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(23)
}

/// CPU work that the compiler cannot remove.
fn work(n: u64) -> u64 {
    let mut x = 0;
    for i in 0..n {
        x = mix(x, black_box(i));
    }
    black_box(x)
}

/// Spins on the CPU (never yields) for `ticks` clock ticks.
fn spin_ticks(ticks: u64) {
    let end = clock::lbolt() + ticks;
    while clock::lbolt() < end {
        work(50);
    }
}

fn same(a: Option<&KThread>, b: &KThread) -> bool {
    a.is_some_and(|a| core::ptr::eq(a, b))
}

/// Prints what a test measured, on a line of its own before the test's verdict.
macro_rules! measured {
    ($($arg:tt)*) => { kern::kprintln!("  measured: {}", format_args!($($arg)*)) };
}
use measured;

static DONE: AtomicUsize = AtomicUsize::new(0);
static STOP: AtomicBool = AtomicBool::new(false);
/// A sequence number: threads take one to record the order of events.
static SEQ: AtomicU64 = AtomicU64::new(1);

fn reset() {
    DONE.store(0, SeqCst);
    STOP.store(false, SeqCst);
}

fn next_seq() -> u64 {
    SEQ.fetch_add(1, SeqCst)
}
