//! Resource usage and profiling (S5.4): what `rusagesys` (`getrusage`) copies out
//! and what `profil` takes, as Solaris has them.
//!
//! `getrusage(who, &mut Rusage)` is `rusagesys` with a subcode: [`RUSAGESYS_GETRUSAGE`]
//! for the calling process (every LWP it has had, live or exited),
//! [`RUSAGESYS_GETRUSAGE_CHLD`] for its children that were waited for (and theirs),
//! [`RUSAGESYS_GETRUSAGE_LWP`] for the calling LWP alone. The user runtime maps
//! `who` ([`RUSAGE_SELF`], [`RUSAGE_CHILDREN`], [`RUSAGE_LWP`]) to the subcode, as
//! Solaris' libc does.

use crate::signal::Timeval;

/// `rusagesys` subcodes (Solaris' `_RUSAGESYS_GETRUSAGE`, `_CHLD`, `_LWP`).
pub const RUSAGESYS_GETRUSAGE: u64 = 0;
pub const RUSAGESYS_GETRUSAGE_CHLD: u64 = 1;
pub const RUSAGESYS_GETRUSAGE_LWP: u64 = 2;

/// `getrusage`'s `who` (Solaris' values): the process, its children, the LWP.
pub const RUSAGE_SELF: i32 = 0;
pub const RUSAGE_CHILDREN: i32 = -1;
pub const RUSAGE_LWP: i32 = 1;

/// Resource usage (`struct rusage`, 64-bit SPARC: two `timeval`s, then fourteen
/// `long`s). The times are CPU times charged by the clock (S5.6); `ru_maxrss` and
/// the three memory integrals are never filled in (Solaris' are not either).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rusage {
    /// User time used.
    pub ru_utime: Timeval,
    /// System time used.
    pub ru_stime: Timeval,
    pub ru_maxrss: i64,
    pub ru_ixrss: i64,
    pub ru_idrss: i64,
    pub ru_isrss: i64,
    /// Page faults resolved without I/O.
    pub ru_minflt: i64,
    /// Faults that needed I/O: here, times the LWP's `lwp` structure had to be
    /// read back from the swap device before it could run.
    pub ru_majflt: i64,
    /// Times swapped out.
    pub ru_nswap: i64,
    /// Block input and output operations (the swap device's transfers).
    pub ru_inblock: i64,
    pub ru_oublock: i64,
    /// Messages sent and received (there is no message IPC: 0).
    pub ru_msgsnd: i64,
    pub ru_msgrcv: i64,
    /// Signals taken.
    pub ru_nsignals: i64,
    /// Voluntary context switches: the LWP slept, blocked or stopped.
    pub ru_nvcsw: i64,
    /// Involuntary ones: it was preempted (its time slice ran out, or a thread of
    /// higher priority came), or it yielded (as Solaris counts `yield`).
    pub ru_nivcsw: i64,
}

/// Words of a [`Rusage`]: the two `timeval`s, then the fourteen counters.
pub const RUSAGE_WORDS: usize = 18;
