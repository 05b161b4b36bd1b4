//! What each thread carries for the sleep queues (`KThread::t_sleep`): the channel
//! it sleeps on, its sleep count and the callout of its timed sleeps. Kept by
//! `sleepq`, under the lock of the bucket of its channel; below the thread
//! structure that holds it.

use core::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};

use arch::order::Ordered;

use crate::callout::Callout;

/// A thread's sleep state, in its `KThread` (`t_sleep`): resident (S6). Written
/// under the lock of the sleep-queue bucket of the wait channel, but where a field
/// says otherwise.
pub(crate) struct ThreadSleep {
    /// The wait channel it sleeps on; 0 when not asleep. *Under the bucket's lock*
    /// (or before the structure is handed out); read without it, and then again
    /// under it.
    pub(super) t_wchan: AtomicUsize,
    /// What kind of object its wait channel names while it sleeps ([`SObj`](super::SObj),
    /// Solaris' `t_sobj_ops`): for the debugger. *Like `t_wchan`.*
    pub(super) t_sobj: AtomicU8,
    /// Counts its sleeps, so that a stale timeout cannot end a later sleep.
    /// *Under the bucket's lock.*
    pub(super) t_sleepgen: AtomicU64,
    /// The callout that ends its timed sleeps (`callout`). *Its fields are under
    /// the callout table's lock.*
    pub(super) t_callout: Callout,
}

impl ThreadSleep {
    /// Not asleep.
    pub(crate) const fn new() -> ThreadSleep {
        ThreadSleep {
            t_wchan: AtomicUsize::new(0),
            t_sobj: AtomicU8::new(0),
            t_sleepgen: AtomicU64::new(0),
            t_callout: Callout::new(),
        }
    }

    /// Not asleep: the structure is handed out.
    #[inline]
    pub(crate) fn reset(&self) {
        self.t_wchan.store(0, Ordering::Relaxed);
    }

    /// The wait channel it sleeps on, if asleep.
    #[inline(always)]
    pub(crate) fn wchan(&self) -> Option<usize> {
        let w = self.chan();
        (w != 0).then_some(w)
    }

    /// `t_wchan`: 0 if not asleep.
    #[inline(always)]
    pub(super) fn chan(&self) -> usize {
        self.t_wchan.load_acquire()
    }

    /// The callout of its timed sleeps (`callout`).
    #[inline(always)]
    pub(crate) fn callout(&self) -> &Callout {
        &self.t_callout
    }
}
