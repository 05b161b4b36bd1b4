//! The priorities, the scheduling classes and the TS dispatcher parameter table
//! (`ts_dptbl`): the data of the classes, below the threads that carry it
//! (`t_cid`, `t_quantum`). What the classes do with it is `class` (the module above).

use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use crate::errno::Errno;

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
    /// Clock ticks the thread may run at this priority (1–32767).
    pub quantum: i32,
    /// The priority after using up the quantum.
    pub tqexp: u8,
    /// The priority on waking up from a sleep.
    pub slpret: u8,
    /// Seconds it may wait on a run queue before it is boosted.
    pub maxwait: u16,
    /// The priority it is boosted to.
    pub lwait: u8,
}

/// The number of TS levels, one row each.
pub const TS_NLEVELS: usize = TS_MAXPRI as usize + 1;

impl TsDpEnt {
    /// The longest quantum and wait a row may hold (Solaris' `short`).
    pub const MAX: i32 = i16::MAX as i32;

    /// Whether the row is one the table may hold: a quantum of at least one tick
    /// and at most [`TsDpEnt::MAX`], TS priorities for its levels.
    pub fn valid(&self) -> bool {
        let level = |p: u8| p <= TS_MAXPRI;
        (1..=TsDpEnt::MAX).contains(&self.quantum)
            && i32::from(self.maxwait) <= TsDpEnt::MAX
            && level(self.tqexp)
            && level(self.slpret)
            && level(self.lwait)
    }

    /// The row as one word: quantum, maxwait, tqexp, slpret, lwait.
    const fn pack(self) -> u64 {
        (self.quantum as u64 & 0xffff)
            | (self.maxwait as u64) << 16
            | (self.tqexp as u64) << 32
            | (self.slpret as u64) << 40
            | (self.lwait as u64) << 48
    }

    const fn unpack(w: u64) -> TsDpEnt {
        TsDpEnt {
            quantum: (w & 0xffff) as i32,
            maxwait: (w >> 16) as u16,
            tqexp: (w >> 32) as u8,
            slpret: (w >> 40) as u8,
            lwait: (w >> 48) as u8,
        }
    }
}

/// Solaris' default table, `ts_dptbl(4)`, by bands of levels: the first level of
/// each band, its quantum, and its `slpret` and `lwait`. Everywhere `tqexp` is ten
/// levels lower (at least 0) and `maxwait` 0, but at level 59, whose threads are
/// never boosted (32000 s).
const TS_BANDS: [(u8, i32, u8, u8); 11] = [
    (0, 20, 50, 50),
    (10, 16, 51, 51),
    (20, 12, 52, 52),
    (30, 8, 53, 53),
    (35, 8, 54, 54),
    (40, 4, 55, 55),
    (45, 4, 56, 56),
    (46, 4, 57, 57),
    (47, 4, 58, 58),
    (49, 4, 58, 59),
    (59, 2, 59, 59),
];

/// Row `pri` of Solaris' default table.
pub const fn ts_dptbl_default(pri: u8) -> TsDpEnt {
    let mut b = 0;
    while b + 1 < TS_BANDS.len() && TS_BANDS[b + 1].0 <= pri {
        b += 1;
    }
    let (_, quantum, slpret, lwait) = TS_BANDS[b];
    TsDpEnt {
        quantum,
        tqexp: pri.saturating_sub(10),
        slpret,
        maxwait: if pri == TS_MAXPRI { 32000 } else { 0 },
        lwait,
    }
}

/// The table in use, a row per TS level.
static TS_DPTBL: [AtomicU64; TS_NLEVELS] = {
    let mut t = [const { AtomicU64::new(0) }; TS_NLEVELS];
    let mut pri = 0;
    while pri < TS_NLEVELS {
        t[pri] = AtomicU64::new(ts_dptbl_default(pri as u8).pack());
        pri += 1;
    }
    t
};

/// The TS table entry for priority `pri` (0–59), as the table is now.
#[inline]
pub fn ts_dptbl(pri: u8) -> TsDpEnt {
    TsDpEnt::unpack(TS_DPTBL[usize::from(pri)].load(Ordering::Relaxed))
}

/// Replaces the TS table with `tbl` (`dispadmin -c TS -s`), once every row of it
/// is checked. Threads pick the new rows up at their next tick, wakeup or sweep.
///
/// Errors: `EINVAL` if a row is not [`TsDpEnt::valid`]; nothing is changed then.
pub fn ts_dptbl_set(tbl: &[TsDpEnt; TS_NLEVELS]) -> Result<(), Errno> {
    if !tbl.iter().all(TsDpEnt::valid) {
        return Err(Errno::EINVAL);
    }
    for (row, e) in TS_DPTBL.iter().zip(tbl) {
        row.store(e.pack(), Ordering::Relaxed);
    }
    Ok(())
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
    /// (the clock tick: [`super::tick`], `schedctl`'s extension), or while it is on no
    /// queue and not runnable: by whoever took it off its sleep queue, before
    /// making it runnable ([`super::wakeup`]); by `set_class`, before it is first made
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
    pub(super) fn charge(&self) -> bool {
        self.t_timeleft.fetch_sub(1, Ordering::Relaxed) <= 1
    }
}
