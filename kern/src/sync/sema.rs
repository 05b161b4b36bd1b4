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
//!
//! # Kinds (S9)
//!
//! * **Block** (the default, [`Sema::new`]): `P` sleeps as described above.
//! * **Spin**: `P` busy-waits until it takes a unit and never sleeps, with the
//!   interrupt level its caller has. It may wait with interrupts off, but then
//!   only a `V` on another CPU can end the wait. Spinners are not counted as
//!   waiters: they need no wakeup.
//! * **Adaptive**: a semaphore has no owner whose running says the wait is short,
//!   so it remembers its *waker*, the last thread that made a `V`, and `P` spins
//!   while that thread runs on another CPU, for about a clock tick at most
//!   (`sync::ADAPTIVE_SPIN_TICKS`: the waker may run on and never `V` again), then
//!   sleeps as a blocking `P` does. A `V` that a spinner takes may also wake a
//!   sleeper, which finds no unit and sleeps again: nobody takes more than there is.
//!
//! `V` never waits, whatever the kind.

use core::sync::atomic::AtomicUsize;
use core::sync::atomic::Ordering::{Relaxed, SeqCst};

use arch::cell::TaggedRef;
use arch::Machine;

use super::mutex::MutexKind;
use super::STATS;
use crate::sleepq::{self, SObj};
use crate::thread::KThread;
use crate::M;

/// A counting semaphore (Solaris' `ksema_t`).
pub struct Sema {
    count: AtomicUsize,
    waiters: AtomicUsize,
    kind: MutexKind,
    /// The last thread that made a `V` (adaptive only): the one `P` spins on.
    waker: TaggedRef<KThread>,
}

impl Sema {
    /// A blocking semaphore holding `count` units.
    pub const fn new(count: usize) -> Sema {
        Sema::with_kind(count, MutexKind::Block)
    }

    /// A semaphore of `kind` holding `count` units.
    pub const fn with_kind(count: usize, kind: MutexKind) -> Sema {
        Sema {
            count: AtomicUsize::new(count),
            waiters: AtomicUsize::new(0),
            kind,
            waker: TaggedRef::new_num(0, 0),
        }
    }

    /// What `P` does when there is no unit (fixed at creation).
    pub fn kind(&self) -> MutexKind {
        self.kind
    }

    fn chan(&self) -> usize {
        self as *const Sema as usize
    }

    /// Takes a unit if there is one (`sema_tryp`).
    #[must_use = "a unit was taken only if this is true"]
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

    /// Takes a unit, waiting as the kind says until there is one (`sema_p`).
    pub fn p(&self) {
        if self.try_p() {
            return;
        }
        match self.kind {
            MutexKind::Spin => {
                STATS.sema_spin_waits.fetch_add(1, Relaxed);
                while !self.try_p() {
                    M::relax();
                }
                return;
            }
            MutexKind::Adaptive => {
                if super::adaptive_spin(&self.waker, &STATS.sema_adaptive_spins, None, || {
                    self.try_p()
                }) {
                    return;
                }
            }
            MutexKind::Block => {}
        }
        STATS.sema_blocks.fetch_add(1, Relaxed);
        self.waiters.fetch_add(1, SeqCst);
        sleepq::sleep_on(self.chan(), SObj::Sema, || self.try_p());
        self.waiters.fetch_sub(1, SeqCst);
    }

    /// Gives a unit back, waking a sleeper if any (`sema_v`).
    pub fn v(&self) {
        if self.kind == MutexKind::Adaptive {
            super::note_waker(&self.waker);
        }
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
