//! What each thread carries for swapping (`KThread::t_swap`): whether its LWP's
//! `lwp` structure is in memory, and since when it waits. Kept by `swap`, resident
//! (S6): the dispatcher reads it whenever the thread is made runnable. Below the
//! thread structure that holds it.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::clock;

/// The bits of `t_schedflag` (Solaris' `TS_*`): whether the thread's LWP's `lwp`
/// structure is in memory, which the dispatcher must know before it runs the
/// thread (S5, S6). Changed under the swap queue's lock.
pub mod schedflag {
    /// The LWP's `lwp` structure is in memory: the thread may run (`TS_LOAD`).
    /// Always set for a thread without an LWP.
    pub const LOAD: u32 = 1;
    /// The thread was made runnable while not loaded: it waits on the swapper's
    /// queue for its structure instead of a dispatch queue (`TS_ON_SWAPQ`).
    pub const ON_SWAPQ: u32 = 2;
}

/// A thread's swap state, in its `KThread` (`t_swap`): resident (S6), as the
/// dispatcher reads it whenever the thread is made runnable.
pub(crate) struct ThreadSwap {
    /// Where the LWP's `lwp` structure is (`schedflag`). *Under the swap-in queue's
    /// lock* (`swapper`), or before the thread is handed out (`reset`).
    t_schedflag: AtomicU32,
    /// `lbolt` when the thread last went to sleep on a sleep queue or stopped
    /// (`KThread::note_wait`): the swapper takes the LWPs that have waited longest
    /// first (Solaris' `t_stime`). *Only by the thread itself* as it goes to sleep
    /// or stops, or by its LWP's creator before it first runs.
    t_stime: AtomicU64,
}

impl ThreadSwap {
    /// A thread's, loaded.
    pub(crate) const fn new() -> ThreadSwap {
        ThreadSwap { t_schedflag: AtomicU32::new(schedflag::LOAD), t_stime: AtomicU64::new(0) }
    }

    /// Loaded: the structure is handed out (to a thread without an LWP yet).
    #[inline]
    pub(crate) fn reset(&self) {
        self.t_schedflag.store(schedflag::LOAD, Ordering::SeqCst);
    }

    /// Whether the LWP's `lwp` structure is in memory (`LOAD`). A relaxed load: the
    /// flag goes off only under the lock that keeps the thread asleep or stopped,
    /// which whoever makes it runnable took first.
    #[inline(always)]
    pub(crate) fn loaded(&self) -> bool {
        self.t_schedflag.load(Ordering::Relaxed) & schedflag::LOAD != 0
    }

    /// `lbolt` when the thread last went to sleep or stopped.
    #[inline(always)]
    pub(crate) fn stime(&self) -> u64 {
        self.t_stime.load(Ordering::Relaxed)
    }

    /// The thread begins to wait (see `t_stime`).
    #[inline(always)]
    pub(crate) fn note_wait(&self) {
        self.t_stime.store(clock::lbolt(), Ordering::Relaxed);
    }

    /// `t_schedflag`, under the swap-in queue's lock.
    #[inline(always)]
    pub(super) fn schedflag(&self) -> u32 {
        self.t_schedflag.load(Ordering::Acquire)
    }

    /// Changes `t_schedflag`, under the swap-in queue's lock.
    #[inline(always)]
    pub(super) fn set_schedflag(&self, f: u32) {
        self.t_schedflag.store(f, Ordering::Release);
    }
}
