//! Counting semaphores (S8): `P` takes a unit, sleeping while there is none; `V`
//! gives one back.
//!
//! # Theory
//!
//! The count is one atomic word; a unit is taken only by a compare-and-swap from a
//! positive count, so the semaphore can never admit more than it holds. Threads
//! that find it empty sleep on the sleep queue of the semaphore's address, with
//! "I took a unit" as their sleep condition, evaluated under the sleep queue's lock
//! (`sleepq`): a `V` that comes before the sleeper is queued leaves a unit that
//! the condition takes, one that comes after finds it queued. `V` skips the wakeup
//! when nobody is counted as waiting; a sleeper counts itself before it looks at
//! the count, and `V` adds to the count before it looks at the waiters
//! (sequentially consistent on both sides), so at least one of them sees the
//! other. Semaphores have no owner, hence no priority inheritance (as in Solaris).

use core::sync::atomic::AtomicUsize;
use core::sync::atomic::Ordering::SeqCst;

use crate::sleepq::{self, SObj};

/// A counting semaphore (Solaris' `ksema_t`).
pub struct Sema {
    count: AtomicUsize,
    waiters: AtomicUsize,
}

impl Sema {
    /// A semaphore holding `count` units.
    pub const fn new(count: usize) -> Sema {
        Sema { count: AtomicUsize::new(count), waiters: AtomicUsize::new(0) }
    }

    fn chan(&self) -> usize {
        self as *const Sema as usize
    }

    /// Takes a unit if there is one (`sema_tryp`).
    pub fn try_p(&self) -> bool {
        let mut n = self.count.load(SeqCst);
        while n > 0 {
            match self.count.compare_exchange(n, n - 1, SeqCst, SeqCst) {
                Ok(_) => return true,
                Err(now) => n = now,
            }
        }
        false
    }

    /// Takes a unit, sleeping until there is one (`sema_p`).
    pub fn p(&self) {
        if self.try_p() {
            return;
        }
        self.waiters.fetch_add(1, SeqCst);
        sleepq::sleep_on(self.chan(), SObj::Sema, || self.try_p());
        self.waiters.fetch_sub(1, SeqCst);
    }

    /// Gives a unit back, waking a sleeper if any (`sema_v`).
    pub fn v(&self) {
        self.count.fetch_add(1, SeqCst);
        if self.waiters.load(SeqCst) != 0 {
            sleepq::wakeup_one(self.chan());
        }
    }

    /// The units it holds now.
    pub fn count(&self) -> usize {
        self.count.load(SeqCst)
    }
}
