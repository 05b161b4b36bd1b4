//! Synchronization objects (S8), for kernel threads and LWPs alike: mutexes,
//! condition variables, counting semaphores and reader-writer locks.
//!
//! # Theory
//!
//! What a thread does when an object is busy is chosen when the object is
//! initialized (S9), with the same three [`MutexKind`]s for every object:
//!
//! * A **mutex** ([`mutex`]): `Spin` busy-waits (with interrupts off, so interrupt
//!   handlers may use it), `Block` sleeps, and the default `Adaptive` spins while
//!   the owner is running on a CPU and sleeps otherwise.
//! * A **reader-writer lock** ([`rwlock`]): `Spin` busy-waits, and leaves interrupts
//!   as its holders have them (unlike a spin mutex; [`rwlock`] says why); `Block`
//!   (the default, as before kinds existed) sleeps; `Adaptive` spins while a
//!   *writer* holds the lock and runs on a CPU, and sleeps as soon as it does not,
//!   or when readers hold the lock: readers are a count without names, so nobody
//!   can tell whether they run (the same reason a read-held lock lends no priority).
//! * A **semaphore** and a **condition variable** ([`sema`], [`condvar`]) have no
//!   owner. `Spin` busy-waits for the unit or the signal and never sleeps; `Block`
//!   (the default) sleeps; `Adaptive` remembers the *waker*, the last thread that
//!   gave a unit back or signalled, and spins while that thread runs on another CPU,
//!   for at most about a clock tick ([`ADAPTIVE_SPIN_TICKS`]: it may run on and
//!   never wake anyone; an owner must leave its lock, a waker need not come back),
//!   then sleeps.
//!
//! A spin mutex turns interrupts off for its holder, so interrupt handlers may take
//! it; a spin rwlock is fit for them only if every holder turns them off itself.
//! Any spin object may be *waited for* with interrupts off, since its waiters never
//! sleep, but only while whatever ends the wait runs on another CPU (a holder that
//! cannot be interrupted, a `V`, a signal).
//!
//! One concept per module:
//! [`lockword`] the lock-word protocols of the mutex and the rwlock (every atomic
//! step, generic so that `loom` can check them), [`turnstile`] where threads block
//! on locks that have an owner, with priority inheritance through chains of owners
//! and deadlock detection, [`mutex`] the mutex (`KMutex`, and `Mutex<T>` with a
//! guard), [`rwlock`] the reader-writer lock (`KRwLock`, `RwLock<T>`), [`condvar`]
//! condition variables and [`sema`] semaphores, both on the sleep queues
//! (`crate::sleepq`), as in Solaris: they have no owner to lend a priority to.
//! Spinning is counted in [`STATS`] per object, so tests see what each kind did.
//!
//! The fast paths (an uncontended enter or exit) are one atomic instruction on the
//! lock word and never take a lock. Misuse that a kernel must not survive (a
//! recursive enter, an exit by a thread that does not hold the lock, a cycle of
//! threads waiting for each other) panics, naming the threads.

pub mod condvar;
pub mod lockword;
pub mod mutex;
pub mod rwlock;
pub mod sema;
pub(crate) mod tstate;
pub mod turnstile;

use core::sync::atomic::{AtomicU64, Ordering};

use arch::cell::{Tagged, TaggedRef};
use arch::Machine;

use crate::disp;
use crate::thread::{curthread, KThread};
use crate::M;

pub use condvar::CondVar;
pub use mutex::{KMutex, Mutex, MutexGuard, MutexKind};
pub use rwlock::{KRwLock, RwLock, RwLockReadGuard, RwLockWriteGuard, RwMode};
pub use sema::Sema;

/// How long an adaptive semaphore or condition variable spins at most before it
/// sleeps: until the clock has ticked this many times, between one and two tick
/// periods (the first tick may come at once). The bound exists because the
/// waker is only a guess: it may run on and never wake anyone. It is a tick, not a
/// count of rounds, so that it means the same time on every machine: the clock's
/// period is the dispatcher's unit of "soon" (a quantum is a few ticks), and a
/// waker that has not come within it is better waited for asleep.
pub const ADAPTIVE_SPIN_TICKS: u64 = 2;

/// Records the current thread as the waker of an adaptive ownerless object (the
/// thread the next waiter spins on while it runs).
fn note_waker(waker: &TaggedRef<KThread>) {
    waker.store(Tagged::Ref(curthread(), 0), Ordering::Relaxed);
}

/// The adaptive wait of an ownerless object: spins until `done()` while the last
/// waker (`waker`) runs on another CPU, until the clock has ticked
/// [`ADAPTIVE_SPIN_TICKS`] times at most, and not past the `deadline` tick of a
/// timed wait. Returns whether `done()` held; `spins` counts the waits that spun.
fn adaptive_spin(
    waker: &TaggedRef<KThread>,
    spins: &AtomicU64,
    deadline: Option<u64>,
    done: impl Fn() -> bool,
) -> bool {
    let me = curthread();
    let runs = || {
        waker
            .load(Ordering::Relaxed)
            .as_ref()
            .is_some_and(|w| !core::ptr::eq(w, me) && disp::is_running(w))
    };
    if !runs() {
        return false;
    }
    spins.fetch_add(1, Ordering::Relaxed);
    let end = (crate::clock::lbolt() + ADAPTIVE_SPIN_TICKS).min(deadline.unwrap_or(u64::MAX));
    while !done() {
        if !runs() || crate::clock::lbolt() >= end {
            return done();
        }
        M::relax();
    }
    true
}

/// Counts of slow-path events since boot, for tests and benchmarks: they show
/// what the locks really did (spun, blocked, handed over, lent a priority).
pub struct Stats {
    /// Spin mutexes found busy (each wait counted once).
    pub spin_waits: AtomicU64,
    /// Adaptive mutexes found busy with the owner running: spun.
    pub adaptive_spins: AtomicU64,
    /// Threads blocked on a mutex's turnstile.
    pub blocks: AtomicU64,
    /// Readers blocked on a rwlock (write-held, or a writer waiting).
    pub rw_read_blocks: AtomicU64,
    /// Writers blocked on a rwlock.
    pub rw_write_blocks: AtomicU64,
    /// Locks handed to a waiter by the thread leaving them.
    pub handoffs: AtomicU64,
    /// Priorities lent to an owner (each step of a chain counts).
    pub pi_lends: AtomicU64,
    /// Spin rwlocks found busy (each wait counted once).
    pub rw_spin_waits: AtomicU64,
    /// Adaptive rwlocks found write-held by a running writer: spun.
    pub rw_adaptive_spins: AtomicU64,
    /// `P`s of spin semaphores that found no unit and busy-waited.
    pub sema_spin_waits: AtomicU64,
    /// `P`s of adaptive semaphores that spun while the last `V`-er ran.
    pub sema_adaptive_spins: AtomicU64,
    /// `P`s that found no unit and went to its sleep queue (a `V` may still come
    /// before they sleep).
    pub sema_blocks: AtomicU64,
    /// Condition-variable waits that busy-waited (spin kind).
    pub cv_spin_waits: AtomicU64,
    /// Adaptive condition-variable waits that spun while the last signaller ran.
    pub cv_adaptive_spins: AtomicU64,
    /// Condition-variable waits that went to its sleep queue (a signal may still
    /// come before they sleep).
    pub cv_blocks: AtomicU64,
}

/// The counts.
pub static STATS: Stats = Stats {
    spin_waits: AtomicU64::new(0),
    adaptive_spins: AtomicU64::new(0),
    blocks: AtomicU64::new(0),
    rw_read_blocks: AtomicU64::new(0),
    rw_write_blocks: AtomicU64::new(0),
    handoffs: AtomicU64::new(0),
    pi_lends: AtomicU64::new(0),
    rw_spin_waits: AtomicU64::new(0),
    rw_adaptive_spins: AtomicU64::new(0),
    sema_spin_waits: AtomicU64::new(0),
    sema_adaptive_spins: AtomicU64::new(0),
    sema_blocks: AtomicU64::new(0),
    cv_spin_waits: AtomicU64::new(0),
    cv_adaptive_spins: AtomicU64::new(0),
    cv_blocks: AtomicU64::new(0),
};

/// A copy of [`Stats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// [`Stats::spin_waits`]: spin mutexes found busy.
    pub spin_waits: u64,
    /// [`Stats::adaptive_spins`]: adaptive mutexes spun on while the owner ran.
    pub adaptive_spins: u64,
    /// [`Stats::blocks`]: threads blocked on a mutex's turnstile.
    pub blocks: u64,
    /// [`Stats::rw_read_blocks`]: readers blocked on a rwlock.
    pub rw_read_blocks: u64,
    /// [`Stats::rw_write_blocks`]: writers blocked on a rwlock.
    pub rw_write_blocks: u64,
    /// [`Stats::handoffs`]: locks handed straight to a waiter.
    pub handoffs: u64,
    /// [`Stats::pi_lends`]: priorities lent to an owner (priority inheritance).
    pub pi_lends: u64,
    /// [`Stats::rw_spin_waits`]: spin rwlocks found busy.
    pub rw_spin_waits: u64,
    /// [`Stats::rw_adaptive_spins`]: adaptive rwlocks spun on while the writer ran.
    pub rw_adaptive_spins: u64,
    /// [`Stats::sema_spin_waits`]: spin semaphores waited for by busy-waiting.
    pub sema_spin_waits: u64,
    /// [`Stats::sema_adaptive_spins`]: adaptive semaphores spun on while the last `V`-er ran.
    pub sema_adaptive_spins: u64,
    /// [`Stats::sema_blocks`]: `P`s that went to sleep.
    pub sema_blocks: u64,
    /// [`Stats::cv_spin_waits`]: condition-variable waits that busy-waited.
    pub cv_spin_waits: u64,
    /// [`Stats::cv_adaptive_spins`]: adaptive condition-variable waits that spun.
    pub cv_adaptive_spins: u64,
    /// [`Stats::cv_blocks`]: condition-variable waits that went to sleep.
    pub cv_blocks: u64,
}

impl Stats {
    /// Reads every counter (each atomically, not all at one instant).
    pub fn snapshot(&self) -> StatsSnapshot {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            spin_waits: l(&self.spin_waits),
            adaptive_spins: l(&self.adaptive_spins),
            blocks: l(&self.blocks),
            rw_read_blocks: l(&self.rw_read_blocks),
            rw_write_blocks: l(&self.rw_write_blocks),
            handoffs: l(&self.handoffs),
            pi_lends: l(&self.pi_lends),
            rw_spin_waits: l(&self.rw_spin_waits),
            rw_adaptive_spins: l(&self.rw_adaptive_spins),
            sema_spin_waits: l(&self.sema_spin_waits),
            sema_adaptive_spins: l(&self.sema_adaptive_spins),
            sema_blocks: l(&self.sema_blocks),
            cv_spin_waits: l(&self.cv_spin_waits),
            cv_adaptive_spins: l(&self.cv_adaptive_spins),
            cv_blocks: l(&self.cv_blocks),
        }
    }
}

impl StatsSnapshot {
    /// The events between `earlier` and this snapshot.
    pub fn since(&self, earlier: &StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            spin_waits: self.spin_waits - earlier.spin_waits,
            adaptive_spins: self.adaptive_spins - earlier.adaptive_spins,
            blocks: self.blocks - earlier.blocks,
            rw_read_blocks: self.rw_read_blocks - earlier.rw_read_blocks,
            rw_write_blocks: self.rw_write_blocks - earlier.rw_write_blocks,
            handoffs: self.handoffs - earlier.handoffs,
            pi_lends: self.pi_lends - earlier.pi_lends,
            rw_spin_waits: self.rw_spin_waits - earlier.rw_spin_waits,
            rw_adaptive_spins: self.rw_adaptive_spins - earlier.rw_adaptive_spins,
            sema_spin_waits: self.sema_spin_waits - earlier.sema_spin_waits,
            sema_adaptive_spins: self.sema_adaptive_spins - earlier.sema_adaptive_spins,
            sema_blocks: self.sema_blocks - earlier.sema_blocks,
            cv_spin_waits: self.cv_spin_waits - earlier.cv_spin_waits,
            cv_adaptive_spins: self.cv_adaptive_spins - earlier.cv_adaptive_spins,
            cv_blocks: self.cv_blocks - earlier.cv_blocks,
        }
    }
}
