//! What each thread carries for schedctl (`KThread::t_sc`): its LWP's slot in the
//! shared pages and its pool state, read at every switch. Kept by `schedctl`;
//! below the thread structure that holds it.

use core::sync::atomic::{AtomicBool, Ordering};

use lwp_abi::{SC_CPU, SC_NOPREEMPT, SC_ONPROC, SC_STATE, SC_YIELD};

use arch::kmem::Shared;
use arch::Machine;

use crate::displock::DispLock;
use crate::M;

/// A page the kernel shares with the process's thread library.
pub(super) type SharedPage = <M as Machine>::SharedPage;

/// A shared page and a byte offset in it.
pub(super) type Slot = (Shared<SharedPage>, usize);

/// A thread's schedctl state, in its `KThread` (`t_sc`): resident (S6), read at
/// every switch. (`reset` clears it all before the structure is handed out.)
pub(crate) struct ScThread {
    /// It has a slot: the quick test of every switch. *Only by the thread itself*
    /// (the system call, its LWP's exit); read by whoever switches it or takes its
    /// clock tick.
    pub(super) on: AtomicBool,
    /// Its LWP's slot: the page and the offset of its `ScShared`. *Its own
    /// `DispLock`*, set and cleared by the thread itself.
    pub(super) slot: DispLock<Option<Slot>>,
    /// Its LWP said `SC_POOL`. *Only by the thread itself* (the system call, its
    /// LWP's exit).
    pub(super) pool: AtomicBool,
    /// It is a pool LWP counted out of `sc_pool_awake`: asleep in the kernel.
    /// *Only by the thread itself*, as it sleeps and wakes.
    pub(super) asleep: AtomicBool,
    /// It is in `_lwp_park`, where it counts as awake. *Only by the thread itself.*
    pub(super) parking: AtomicBool,
    /// It was let run past its time slice (`sc_nopreempt`) since it last left its
    /// CPU. *By its CPU, with interrupts off* (the clock tick, the switch).
    pub(super) granted: AtomicBool,
}

impl ScThread {
    pub(crate) const fn new() -> ScThread {
        ScThread {
            on: AtomicBool::new(false),
            slot: DispLock::new(None),
            pool: AtomicBool::new(false),
            asleep: AtomicBool::new(false),
            parking: AtomicBool::new(false),
            granted: AtomicBool::new(false),
        }
    }

    /// Forgets everything (a thread structure is reused; its last LWP cleared its slot).
    pub(crate) fn reset(&self) {
        self.on.store(false, Ordering::Relaxed);
        self.pool.store(false, Ordering::Relaxed);
        self.asleep.store(false, Ordering::Relaxed);
        self.parking.store(false, Ordering::Relaxed);
        self.granted.store(false, Ordering::Relaxed);
    }

    /// Stores `v` at `word` of the slot, if there is one; interrupts are off.
    #[inline]
    pub(super) fn store(&self, word: u64, v: u32) {
        self.stores(&[(word, v)]);
    }

    /// Stores each `(word, v)` of `words` in the slot, if there is one, under one
    /// hold of its lock; interrupts are off.
    #[inline(always)]
    fn stores(&self, words: &[(u64, u32)]) {
        if let Some((page, off)) = &*self.slot.lock_intr_off() {
            for &(word, v) in words {
                M::shared_store(page, off + word as usize, v);
            }
        }
    }

    /// The dispatcher switches the thread out: its slot, if it has one, gets the
    /// state `state()` gives (`SC_RUN`, `SC_SLEEP`, `SC_STOPPED`), and a grant of
    /// one more tick ends. Interrupts are off.
    #[inline(always)]
    pub(crate) fn switch_out(&self, state: impl FnOnce() -> u32) {
        if self.on.load(Ordering::Relaxed) {
            // Only this CPU writes `granted` now: a load and a store, not a swap
            // (a loop of compare-and-swaps on a byte).
            if self.granted.load(Ordering::Relaxed) {
                self.granted.store(false, Ordering::Relaxed);
                self.stores(&[(SC_STATE, state()), (SC_YIELD, 0)]);
            } else {
                self.store(SC_STATE, state());
            }
        }
    }

    /// The dispatcher switches the thread in on CPU `cpu`: its slot, if it has
    /// one, says `SC_ONPROC` there. Interrupts are off.
    #[inline(always)]
    pub(crate) fn switch_in(&self, cpu: usize) {
        if self.on.load(Ordering::Relaxed) {
            self.stores(&[(SC_CPU, cpu as u32), (SC_STATE, SC_ONPROC)]);
        }
    }

    /// The clock found the thread's time slice over: true if it runs on anyway,
    /// for one more tick, because it asked not to be preempted now (once until it
    /// leaves its CPU); it then finds `sc_yield` set. Interrupts are off, on the
    /// thread's CPU.
    #[must_use = "true: the thread keeps its CPU for one more tick"]
    pub(crate) fn defer_preemption(&self) -> bool {
        if !self.on.load(Ordering::Relaxed) || self.granted.load(Ordering::Relaxed) {
            return false;
        }
        let ask = match &*self.slot.lock_intr_off() {
            Some((page, off)) => M::shared_load(page, off + SC_NOPREEMPT as usize) != 0,
            None => false,
        };
        if ask {
            self.granted.store(true, Ordering::Relaxed);
            self.store(SC_YIELD, 1);
        }
        ask
    }

    /// Whether a sleep of the thread in the kernel counts in its process's pool:
    /// its LWP said `SC_POOL` and is not parking. By the thread itself.
    #[inline(always)]
    pub(crate) fn counts_asleep(&self) -> bool {
        self.pool.load(Ordering::Relaxed) && !self.parking.load(Ordering::Relaxed)
    }
}
