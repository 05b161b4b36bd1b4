//! What the pool and its threads did, counted for tests and benchmarks ([`STATS`]):
//! the switches, spins, blocks and hand-offs of `sched` and `sync`, and the yields
//! the kernel asked of `sys`'s lock.

use core::sync::atomic::{AtomicU64, Ordering};

/// What the pool and its threads did: for tests and benchmarks.
pub struct Stats {
    /// Switches from a thread to another at user level.
    pub switches: AtomicU64,
    /// LWPs the watchdog added because every pool LWP was asleep in the kernel.
    pub lwps_added: AtomicU64,
    /// Idle LWPs unparked to run a thread made runnable.
    pub unparks: AtomicU64,
    /// Rounds spun (or yielded) on a busy synchronization object.
    pub spins: AtomicU64,
    /// Waits on a synchronization object that slept (queued and blocked).
    pub blocks: AtomicU64,
    /// Objects handed by the thread that left them to a sleeping waiter.
    pub handoffs: AtomicU64,
    /// Yields the kernel asked for: a time slice that ended while an LWP held a
    /// library lock, and which it let run on until the lock was left (`sc_yield`).
    pub kernel_yields: AtomicU64,
}

/// Counts one more event: a load and a store, not an atomic add (a compare-and-swap
/// loop on SPARC): two LWPs counting at the same moment may count one, which
/// figures for tests and benchmarks can afford.
#[inline(always)]
pub(crate) fn bump(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

pub static STATS: Stats = Stats {
    switches: AtomicU64::new(0),
    lwps_added: AtomicU64::new(0),
    unparks: AtomicU64::new(0),
    spins: AtomicU64::new(0),
    blocks: AtomicU64::new(0),
    handoffs: AtomicU64::new(0),
    kernel_yields: AtomicU64::new(0),
};
