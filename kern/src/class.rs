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

use core::sync::atomic::{AtomicI32, Ordering};

#[cfg(debug_assertions)]
use arch::Machine;

use crate::thread::KThread;
#[cfg(debug_assertions)]
use crate::M;

/// The number of global priorities, `0..NPRI`.
pub const NPRI: usize = 160;
/// The TS band.
pub const TS_MAXPRI: u8 = 59;
/// The SYS band: kernel threads get `SYS_PRI` unless told otherwise.
pub const SYS_MINPRI: u8 = 60;
/// The highest SYS priority (Solaris' `maxclsyspri`).
pub const SYS_MAXPRI: u8 = 99;
/// The priority kernel threads are created at: the bottom of the SYS band.
pub const SYS_PRI: u8 = SYS_MINPRI;
/// The RT band.
pub const RT_MINPRI: u8 = 100;
/// The highest RT priority, and the highest global priority (`NPRI - 1`).
pub const RT_MAXPRI: u8 = 159;
/// The RT quantum, in clock ticks.
pub const RT_QUANTUM: i32 = 10;
/// The priority new TS threads start at.
pub const TS_DEFAULT_PRI: u8 = 29;

/// A scheduling class (`t_cid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SchedClass {
    /// SYS: kernel threads, fixed priority in 60–99, no time slice.
    Sys = 0,
    /// TS, time sharing: priority 0–59 moved by the `ts_dptbl`; the default for LWPs.
    Ts = 1,
    /// RT, real time: fixed priority in 100–159, round robin within a priority.
    Rt = 2,
}

impl SchedClass {
    pub(crate) fn from_u8(v: u8) -> SchedClass {
        match v {
            0 => SchedClass::Sys,
            1 => SchedClass::Ts,
            _ => SchedClass::Rt,
        }
    }

    /// The global priorities this class may use.
    pub fn range(self) -> core::ops::RangeInclusive<u8> {
        match self {
            SchedClass::Sys => SYS_MINPRI..=SYS_MAXPRI,
            SchedClass::Ts => 0..=TS_MAXPRI,
            SchedClass::Rt => RT_MINPRI..=RT_MAXPRI,
        }
    }
}

/// One row of the TS dispatcher parameter table (`ts_dptbl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TsDpEnt {
    /// Clock ticks the thread may run at this priority.
    pub quantum: i32,
    /// The priority after using up the quantum.
    pub tqexp: u8,
    /// The priority on waking up from a sleep.
    pub slpret: u8,
    /// Ticks it may wait on a run queue before it is boosted.
    pub maxwait: u64,
    /// The priority it is boosted to.
    pub lwait: u8,
}

/// The TS table entry for priority `pri` (0–59).
pub const fn ts_dptbl(pri: u8) -> TsDpEnt {
    let boosted = 50 + pri / 6; // 50..59: sleepers and starved threads rise high
    TsDpEnt {
        quantum: 20 - 3 * (pri as i32 / 10), // 20 ticks at 0..9 down to 5 at 50..59
        tqexp: pri.saturating_sub(10),
        slpret: if boosted > TS_MAXPRI { TS_MAXPRI } else { boosted },
        maxwait: 100, // a second at the default HZ
        lwait: if boosted > TS_MAXPRI { TS_MAXPRI } else { boosted },
    }
}

/// The quantum a thread of `class` gets at `pri`; `None`: no time slice.
pub fn quantum(class: SchedClass, pri: u8) -> Option<i32> {
    match class {
        SchedClass::Sys => None,
        SchedClass::Ts => Some(ts_dptbl(pri).quantum),
        SchedClass::Rt => Some(RT_QUANTUM),
    }
}

/// A thread's quantum, in its `KThread` (`t_quantum`): resident (S6), as its CPU's
/// clock tick charges it.
pub(crate) struct Quantum {
    /// Clock ticks left in the current quantum. *By its CPU, with interrupts off*
    /// (the clock tick: [`tick`], `schedctl`'s extension), or while it is on no
    /// queue and not runnable: by whoever took it off its sleep queue, before
    /// making it runnable ([`wakeup`]); by `set_class`, before it is first made
    /// runnable.
    t_timeleft: AtomicI32,
}

impl Quantum {
    /// No time left.
    pub(crate) const fn new() -> Quantum {
        Quantum { t_timeleft: AtomicI32::new(0) }
    }

    /// Gives the thread `ticks` clock ticks from now (see `t_timeleft` for who may).
    #[inline(always)]
    pub(crate) fn set(&self, ticks: i32) {
        self.t_timeleft.store(ticks, Ordering::Relaxed);
    }

    /// Charges one tick: true if that used the quantum up.
    #[inline(always)]
    fn charge(&self) -> bool {
        self.t_timeleft.fetch_sub(1, Ordering::Relaxed) <= 1
    }
}

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
    (waited > e.maxwait && e.lwait > t.base_pri()).then_some(e.lwait)
}
