//! What each process carries for profiling (`Proc::p_prof`, S5.4): its `profil`
//! buffer and whether it profiles. Kept by `rusage`; below the process structure
//! that holds it.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::sync::Mutex;

/// A process's profiling buffer (Solaris' `struct prof`), as `profil` set it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prof {
    /// `pr_base`: the user address of the `u16` counters.
    pub pr_base: u64,
    /// `pr_size`: the buffer's length in bytes.
    pub pr_size: u64,
    /// `pr_off`: the lowest `pc` counted, subtracted before scaling.
    pub pr_off: u64,
    /// `pr_scale`: 16.16 fixed point from `pc - pr_off` to a byte offset in the
    /// buffer (0: not profiling; 2: every tick in the first counter).
    pub pr_scale: u32,
}

impl Prof {
    /// The user address of the counter a tick at `pc` adds to, if there is one:
    /// none below `pr_off`, beyond the buffer, or while not profiling.
    pub fn slot(&self, pc: u64) -> Option<u64> {
        if self.pr_scale < 2 || pc < self.pr_off {
            return None;
        }
        if self.pr_scale == 2 {
            return Some(self.pr_base);
        }
        // Solaris' sum of two products, which cannot overflow for a user `pc`.
        let (delta, scale) = (pc - self.pr_off, u64::from(self.pr_scale));
        let byteoff = (delta >> 16) * scale + (((delta & 0xffff) * scale) >> 16);
        if byteoff >= self.pr_size {
            return None;
        }
        self.pr_base.checked_add(byteoff & !1)
    }
}

/// A process's profiling state (`p_prof`, S5.4).
pub(crate) struct ProcProf {
    /// The buffer, under Solaris' `p_pflock`: a sleeping mutex, held while a
    /// counter is updated in user memory.
    pub(super) pr: Mutex<Prof>,
    /// Whether `pr_scale` says it profiles: what the clock reads, without the
    /// mutex (it cannot sleep). Written under the mutex.
    pub(super) on: AtomicBool,
}

impl ProcProf {
    /// Not profiling.
    pub(crate) const fn new() -> ProcProf {
        ProcProf {
            pr: Mutex::new(Prof { pr_base: 0, pr_size: 0, pr_off: 0, pr_scale: 0 }),
            on: AtomicBool::new(false),
        }
    }

    /// Sets the buffer (profiling on unless its scale is 0).
    pub(super) fn set(&self, prof: Prof) {
        let mut pr = self.pr.lock();
        *pr = prof;
        self.on.store(prof.pr_scale != 0, Ordering::Relaxed);
    }

    /// Whether the process profiles (for the clock).
    pub(crate) fn on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }
}
