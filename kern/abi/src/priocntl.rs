//! `priocntl` (Solaris' `priocntlsys`, simplified): the scheduling class and
//! priority of an LWP of the caller's own process, and the TS dispatcher
//! parameter table, as `dispadmin -c TS -g`/`-s` reads and replaces it.
//!
//! `priocntl(cmd, idtype, id, arg)`:
//!
//! * `PC_GETPARMS`, `P_LWPID`, `id` (0: the caller), `&mut PcParms`: the LWP's class
//!   and priority.
//! * `PC_SETPARMS`, `P_LWPID`, `id`, `&PcParms`: puts the LWP in that class at that
//!   priority. RT needs root (`EPERM`); an id that is no LWP of the caller's process
//!   is `ESRCH` (S15); a class other than TS or RT, or a priority outside the class,
//!   is `EINVAL`.
//! * `PC_ADMIN`, `TS_GETDPTBL` or `TS_SETDPTBL`, [`TS_NDPENTS`], `&mut`/`&[TsDpEnt;
//!   TS_NDPENTS]`: copies the TS table out, or replaces it (root only; a bad table
//!   is `EINVAL` and changes nothing). The second and third arguments are the
//!   command of Solaris' `tsadmin_t` and its entry count.

/// `priocntl` commands (Solaris' numbers).
pub const PC_SETPARMS: u64 = 2;
pub const PC_GETPARMS: u64 = 3;
pub const PC_ADMIN: u64 = 4;

/// The one id type: an LWP of the caller's process (Solaris' `P_LWPID`).
pub const P_LWPID: u64 = 8;
/// The id that names the caller itself (Solaris' `P_MYID`, as 0 here).
pub const P_MYID: u64 = 0;

/// The classes' ids (`pc_cid`): SYS (kernel threads only), TS, RT.
pub const PC_CID_SYS: i32 = 0;
pub const PC_CID_TS: i32 = 1;
pub const PC_CID_RT: i32 = 2;

/// The priorities within TS and RT: `0..=PC_MAXPRI` (TS: global 0–59, RT: global
/// 100–159).
pub const PC_MAXPRI: i32 = 59;

/// `PC_GETPARMS`/`PC_SETPARMS`' argument: a class and a priority within it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PcParms {
    pub pc_cid: i32,
    pub pc_pri: i32,
}

/// `PC_ADMIN` commands (Solaris' `tsadmin_t` values).
pub const TS_GETDPTBL: u64 = 2;
pub const TS_SETDPTBL: u64 = 3;

/// Entries in the TS table: one per TS priority.
pub const TS_NDPENTS: usize = 60;

/// One level of the TS dispatcher parameter table (Solaris' `tsdpent_t`, its
/// fields widened to 4 bytes). Quanta are in clock ticks, waits in seconds.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TsDpEnt {
    /// The global priority of the level (its index: it cannot be changed).
    pub ts_globpri: i32,
    /// Clock ticks a thread may run at this level (1–32767).
    pub ts_quantum: i32,
    /// The level after using up the quantum (0–59).
    pub ts_tqexp: i32,
    /// The level on waking up from a sleep (0–59).
    pub ts_slpret: i32,
    /// Seconds it may wait on a run queue before it is boosted (0–32767).
    pub ts_maxwait: i32,
    /// The level it is boosted to (0–59).
    pub ts_lwait: i32,
}
