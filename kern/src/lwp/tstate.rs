//! What each thread carries for its LWP (S6: resident): the requests to the LWP
//! and its stop state (`KThread::t_proc_flag`, [`TpFlags`]), and its waits
//! (`KThread::t_lwpwait`, [`ThreadWait`]: interruptible sleep, park permit). Kept
//! by `lwp`; below the thread structure that holds it.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use bitflags::bitflags;

/// An LWP's waits, in its thread (`KThread::t_lwpwait`): resident (S6), as whoever
/// sends the LWP a signal or a request looks at them. Cleared before the structure
/// is handed out (`reset`).
pub(crate) struct ThreadWait {
    /// Asleep in an interruptible wait, which a signal or a request to stop or exit
    /// ends (Solaris' `T_WAKEABLE`). *Only by the thread itself*, around the sleep
    /// (`event::wakeable`); read by whoever sends it a signal or a request.
    pub(super) t_wakeable: AtomicBool,
    /// Its LWP's park permit (`park`): given by whoever unparks it (under its
    /// process's `p_lock`, or the thread itself: `schedctl`), taken only by the
    /// thread itself.
    pub(super) t_park: Permit,
}

impl ThreadWait {
    /// Not waiting, no permit.
    pub(crate) const fn new() -> ThreadWait {
        ThreadWait { t_wakeable: AtomicBool::new(false), t_park: Permit::new() }
    }

    /// Not waiting, no permit: the structure is handed out (a permit left by the
    /// thread's last LWP is dropped).
    #[inline]
    pub(crate) fn reset(&self) {
        self.t_wakeable.store(false, Ordering::Relaxed);
        self.t_park.clear();
    }

    /// Whether the LWP is asleep in an interruptible wait (`t_wakeable`).
    #[inline(always)]
    pub(crate) fn wakeable(&self) -> bool {
        self.t_wakeable.load(Ordering::SeqCst)
    }
}

bitflags! {
    /// A thread's `t_proc_flag`: requests to its LWP and its stop state. Set and
    /// cleared under the process's `p_lock`; read without it at stop points.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct TpFlags: u32 {
        /// Stop at the next stop point, until continued (Solaris' `TP_HOLDLWP`).
        const HOLDLWP = 0x0002;
        /// Stop at the next stop point until the process is continued: a stop
        /// signal (job control, `signal`; Solaris' `TP_PRSTOP`).
        const JOBSTOP = 0x0004;
        /// Stop at the next stop point while another LWP of the process copies
        /// it in `forkall` (`holdlwps`; Solaris' `SHOLDFORK` hold). The swapper
        /// leaves an LWP so held in memory: its copy is read from there.
        const HOLDFORK = 0x0010;
        /// Exit at the next stop point: the process is exiting (`TP_EXITLWP`).
        const EXITLWP = 0x0040;
        /// Stopped at a stop point (state `Stopped`), and nobody has set it running
        /// since: whoever clears this bit owns the `setrun`.
        const STOPPED = 0x1_0000;
        /// Being created: it stays stopped, whatever else is asked of it, until its
        /// creator is done with it (Solaris' thread without `TS_CREATE` yet).
        const CREATING = 0x2_0000;
    }
}

impl TpFlags {
    /// The requests a stop point acts on: to stop, for any reason, or to exit.
    pub(crate) const REQUESTS: TpFlags =
        TpFlags::HOLDLWP.union(TpFlags::HOLDFORK).union(TpFlags::JOBSTOP).union(TpFlags::EXITLWP);
}

/// An LWP's park permit: a field of its thread.
pub(crate) struct Permit {
    /// 1 if given, 0 if not: a word, not a `bool`, so that taking it is SPARC's
    /// one-instruction `swap` (a byte's swap is a loop of compare-and-swaps).
    pub(super) given: AtomicU32,
}

impl Permit {
    pub(crate) const fn new() -> Permit {
        Permit { given: AtomicU32::new(0) }
    }

    pub(super) fn chan(&self) -> usize {
        self as *const Permit as usize
    }

    #[must_use = "a permit taken and not looked at is lost"]
    pub(super) fn take(&self) -> bool {
        // Only the LWP itself takes its permit: a look first spares the atomic swap
        // (a loop of compare-and-swaps on a byte) when there is none to take.
        self.given.load(Ordering::Relaxed) != 0 && self.given.swap(0, Ordering::SeqCst) != 0
    }

    /// Drops a permit left by the thread's last LWP (the thread is reused).
    pub(crate) fn clear(&self) {
        self.given.store(0, Ordering::SeqCst);
    }
}
