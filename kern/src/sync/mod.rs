//! Synchronization objects (S8), for kernel threads and LWPs alike: mutexes,
//! condition variables, counting semaphores and reader-writer locks.
//!
//! # Theory
//!
//! What a thread does when an object is busy is chosen when the object is
//! initialized (S9): a [`MutexKind::Spin`] mutex busy-waits (with interrupts off,
//! so interrupt handlers may use it), a [`MutexKind::Block`] mutex sleeps, and the
//! default [`MutexKind::Adaptive`] mutex spins while the owner is running on a CPU
//! and sleeps otherwise. Reader-writer locks, condition variables and semaphores
//! sleep.
//!
//! One concept per module:
//! [`lockword`] the lock-word protocols of the mutex and the rwlock (every atomic
//! step, generic so that `loom` can check them), [`turnstile`] where threads block
//! on locks that have an owner, with priority inheritance through chains of owners
//! and deadlock detection, [`mutex`] the mutex (`KMutex`, and `Mutex<T>` with a
//! guard), [`rwlock`] the reader-writer lock (`KRwLock`, `RwLock<T>`), [`condvar`]
//! condition variables and [`sema`] semaphores, both on the sleep queues
//! (`crate::sleepq`), as in Solaris: they have no owner to lend a priority to.
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
pub mod turnstile;

use core::sync::atomic::{AtomicU64, Ordering};

pub use condvar::CondVar;
pub use mutex::{KMutex, Mutex, MutexGuard, MutexKind};
pub use rwlock::{KRwLock, RwLock, RwLockReadGuard, RwLockWriteGuard, RwMode};
pub use sema::Sema;

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
        }
    }
}
