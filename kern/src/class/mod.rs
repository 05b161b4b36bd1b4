//! Scheduling classes: SYS, TS and RT (Solaris' class-dependent half of the dispatcher).
//!
//! # Theory
//!
//! Every thread has a class and a *global* priority; the dispatcher only ever looks at
//! the global priority (`disp`). The class decides how the priority moves:
//!
//! * **SYS** (global 60–99): kernel threads (S2). Fixed priority, no time slice: a SYS
//!   thread runs until it blocks, yields or is preempted by a higher priority.
//! * **TS** (global 0–59), time sharing, the default for LWPs. A table indexed by
//!   priority gives each level its quantum, the priority to drop to when the quantum
//!   is used up (CPU-bound threads sink), the priority to return at after a sleep
//!   (threads that block, like interactive ones, rise), and how long a runnable thread
//!   may wait before it is boosted, so that none starves.
//! * **RT** (global 100–159), real time: fixed priority above every TS and SYS thread,
//!   round robin with a quantum among threads of one priority.
//!
//! Lower TS priorities get longer quanta: a thread that keeps the CPU busy runs less
//! often, but for longer each time.
//!
//! The TS table is Solaris' default `ts_dptbl` (the values `ts_dptbl(4)` documents:
//! quanta of 20 ticks at levels 0–9 down to 4 at 40–58 and 2 at 59; a used-up
//! quantum drops ten levels; a sleep returns at 50–59; `maxwait` 0 but at 59),
//! and it can be read and replaced while the system runs, as `dispadmin -c TS
//! -g`/`-s` do (`priocntl`'s `PC_ADMIN`): [`ts_dptbl_set`] checks a whole new table
//! before any row of it is used. Each row is one atomic word, read without a lock
//! on every clock tick and wakeup; a replacement is made row by row, so a thread
//! may meet rows of the old table and of the new one while it is under way (as in
//! Solaris, whose readers take no lock either), but never half a row. `maxwait` is
//! in seconds, as Solaris' once-a-second `ts_update` counts it: the sweep boosts a
//! thread whose wait on a run queue, in seconds rounded to the nearest, is more
//! than `maxwait` (with the default 0: half a second). Solaris counts the sweeps
//! a thread was found waiting at; this kernel knows how long it waited, and a
//! thread that has just been queued (a yield) is not counted a second.
//!
//! An LWP's class and priority change at run time through `priocntl`'s `set_parms`
//! (`priocntl`'s `PC_SETPARMS`): a TS or RT LWP of one process is scheduled on its
//! own, whatever class its siblings are in (S3).

#[cfg(debug_assertions)]
use arch::Machine;

use crate::clock;
use crate::thread::KThread;
#[cfg(debug_assertions)]
use crate::M;

pub(crate) mod table;
pub use table::*;

/// A clock tick charged to the running thread `t` (`cl_tick`). True when its quantum
/// is used up and it should go to the back of its queue, at its new priority.
/// Interrupts are off, on `t`'s CPU.
#[must_use = "true: the thread's quantum is used up and it must be preempted"]
pub(crate) fn tick(t: &KThread) -> bool {
    debug_check!(t.is_curthread() && !M::intr_enabled(), "{t:?}: a tick charged elsewhere");
    let class = t.class();
    if class == SchedClass::Sys {
        return false;
    }
    if !t.quantum().charge() {
        return false;
    }
    if class == SchedClass::Ts {
        t.set_pri_raw(ts_dptbl(t.base_pri()).tqexp);
    }
    t.quantum().set(quantum(class, t.base_pri()).unwrap_or(0));
    true
}

/// `t` wakes up from a sleep (`cl_wakeup`): a TS thread returns at `slpret`. By
/// whoever took it off its sleep queue, before it is made runnable.
pub(crate) fn wakeup(t: &KThread) {
    if t.class() == SchedClass::Ts {
        let pri = ts_dptbl(t.base_pri()).slpret;
        t.set_pri_raw(pri);
        t.quantum().set(ts_dptbl(pri).quantum);
    }
}

/// `t` has waited `waited` ticks on a run queue (`ts_update`); returns the priority
/// to boost it to, if it has waited too long.
pub(crate) fn starved(t: &KThread, waited: u64) -> Option<u8> {
    if t.class() != SchedClass::Ts {
        return None;
    }
    let e = ts_dptbl(t.base_pri());
    let hz = u64::from(clock::hz());
    let secs = (waited + hz / 2) / hz;
    (secs > u64::from(e.maxwait) && e.lwait > t.base_pri()).then_some(e.lwait)
}

/// The class of `t` and its priority within the class (0–59 for TS and RT;
/// 0–39 for SYS).
pub fn parms(t: &KThread) -> (SchedClass, u8) {
    let class = t.class();
    (class, t.base_pri() - *class.range().start())
}
