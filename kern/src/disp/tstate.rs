//! What each thread carries for the dispatcher (`KThread::t_disp`): whether a CPU
//! runs it and where it waits on a dispatch queue. Kept by `disp` and `dispq`,
//! resident (S6); below the thread structure that holds it.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use arch::order::Ordered;

use crate::clock;

/// A thread's dispatcher state, in its `KThread` (`t_disp`): resident (S6). Its
/// class and priorities are the thread's own (`KThread::pri`); its link on a
/// dispatch queue is its `QueueLink`.
pub(crate) struct ThreadDisp {
    /// True from the moment a CPU picks the thread until the switch away from it is
    /// complete: whoever wants to make it runnable again waits for that. *By the CPU
    /// that runs it*, interrupts off (set by `swtch`, cleared by the switch's second
    /// half, `switch_done`), or before the thread is handed out.
    t_oncpu: AtomicBool,
    /// The priority whose list of a dispatch queue it is on: its priority may change
    /// meanwhile. *Under that dispatch queue's lock* (`dispq`).
    t_qpri: AtomicU8,
    /// `lbolt` when it was last put on a dispatch queue (for starvation). *By
    /// whoever puts it on one*, as it does, with interrupts off; read under that
    /// queue's lock, or by whoever took it off.
    t_disptime: AtomicU64,
}

impl ThreadDisp {
    /// A CPU's boot thread's: on its CPU.
    pub(crate) const fn new() -> ThreadDisp {
        ThreadDisp {
            t_oncpu: AtomicBool::new(true),
            t_qpri: AtomicU8::new(0),
            t_disptime: AtomicU64::new(0),
        }
    }

    /// Off every CPU: the structure is handed out, to a thread that has not run.
    #[inline]
    pub(crate) fn reset(&self) {
        self.t_oncpu.store(false, Ordering::Relaxed);
    }

    /// Whether a CPU runs the thread, or has not finished switching away from it.
    #[inline(always)]
    pub(crate) fn oncpu(&self) -> bool {
        self.t_oncpu.load_acquire()
    }

    /// Marks it on a CPU, or off (see `t_oncpu`).
    #[inline(always)]
    pub(super) fn set_oncpu(&self, on: bool) {
        self.t_oncpu.store_release(on);
    }

    /// The priority of the dispatch list it is on (`dispq`).
    #[inline(always)]
    pub(crate) fn qpri(&self) -> u8 {
        self.t_qpri.load(Ordering::Relaxed)
    }

    /// Records the priority of the dispatch list it goes on (`dispq`).
    #[inline(always)]
    pub(crate) fn set_qpri(&self, pri: u8) {
        self.t_qpri.store(pri, Ordering::Relaxed);
    }

    /// The time it went on a dispatch queue.
    #[inline(always)]
    pub(super) fn disptime(&self) -> u64 {
        self.t_disptime.load(Ordering::Relaxed)
    }

    /// It goes on a dispatch queue now.
    #[inline(always)]
    pub(super) fn note_queued(&self) {
        self.t_disptime.store(clock::lbolt(), Ordering::Relaxed);
    }
}
