//! Resource controls: how many threads, LWPs and processes the system may have, and
//! how many LWPs one process may have (Solaris' `max_nprocs`, and the `max-lwps`,
//! `max-processes` and per-process LWP resource controls), so that no user program
//! can make the kernel exhaust its memory (S16: bad parameters, or too many of good
//! ones, get an error code, never a kernel crash); and how far a process's main
//! stack may grow (Solaris' stack size limit).
//!
//! # Theory
//!
//! Every kernel thread costs a kernel stack and its structures; every LWP also its
//! `lwp` structure and a slot in its process's directory, which a zombie keeps until
//! it is waited for. Every process also holds user memory, from the machine's page
//! pool, which is apart from the heap: at least its page tables and its initial
//! stack. The limits are sized at boot from the kernel heap and the page pool the
//! machine reports, so that the kernel objects they admit fit in half of the heap,
//! leaving the rest for the kernel's own needs, and the processes in the pool:
//!
//! * `max_threads`: kernel threads of any kind, LWPs' included;
//! * `max_lwps`: LWPs of all processes: `max_threads` less a reserve, so that user
//!   programs can never take the threads the kernel needs for itself;
//! * `lwps_per_proc`: LWPs of one process, zombies included (a process that never
//!   waits for its LWPs fills its own directory, and only that);
//! * `max_procs`: processes, zombies included: as many as half the heap holds, and
//!   no more than the pool holds the least a process needs ([`size::PROC_PAGES`]);
//! * `stack_max`: how far the main stack may grow below its top: Solaris' 8 MiB
//!   ([`STACK_LIMIT`]), or an eighth of the pool if that is less
//!   (never less than the initial stack).
//!
//! The limits in force are here, below everything that counts against them; how
//! they are sized from the machine is [`size`], above the structures it weighs.
//!
//! Past a limit, the creating call fails with `EAGAIN` and the caller goes on; a
//! stack fault past its limit is SIGSEGV. Boot arguments override them
//! (`max_threads=N`, `max_lwps=N`, `lwps_per_proc=N`, `max_procs=N`), as do the
//! self-tests that walk the limits ([`set`]).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

pub mod size;

/// The most any stack limit may be (`stack_max`): Solaris' default, 8 MiB.
pub const STACK_LIMIT: u64 = 8 << 20;

/// The limits in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Kernel threads, LWPs' included.
    pub max_threads: u32,
    /// LWPs of all processes.
    pub max_lwps: u32,
    /// LWPs of one process, zombies included.
    pub lwps_per_proc: u32,
    /// Processes, zombies included.
    pub max_procs: u32,
}

static MAX_THREADS: AtomicU32 = AtomicU32::new(u32::MAX);
static MAX_LWPS: AtomicU32 = AtomicU32::new(u32::MAX);
static LWPS_PER_PROC: AtomicU32 = AtomicU32::new(u32::MAX);
static MAX_PROCS: AtomicU32 = AtomicU32::new(u32::MAX);
static STACK_MAX: AtomicU64 = AtomicU64::new(STACK_LIMIT);

/// How far a main stack may grow below its top: its limit, in bytes.
pub fn stack_max() -> u64 {
    STACK_MAX.load(Ordering::Relaxed)
}

/// The limits in force.
pub fn limits() -> Limits {
    Limits {
        max_threads: MAX_THREADS.load(Ordering::Relaxed),
        max_lwps: MAX_LWPS.load(Ordering::Relaxed),
        lwps_per_proc: LWPS_PER_PROC.load(Ordering::Relaxed),
        max_procs: MAX_PROCS.load(Ordering::Relaxed),
    }
}

/// Puts `l` in force (for what is created from now on); returns the limits it
/// replaces.
pub fn set(l: Limits) -> Limits {
    let old = limits();
    MAX_THREADS.store(l.max_threads, Ordering::Relaxed);
    MAX_LWPS.store(l.max_lwps, Ordering::Relaxed);
    LWPS_PER_PROC.store(l.lwps_per_proc, Ordering::Relaxed);
    MAX_PROCS.store(l.max_procs, Ordering::Relaxed);
    old
}

/// Takes one of `count`'s places under `limit`; false (nothing taken) if it is full.
#[must_use = "a place was taken only if this is true, and must then be given back"]
pub(crate) fn take(count: &AtomicU32, limit: u32) -> bool {
    count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1))
        .is_ok()
}

/// Gives back a place [`take`] took.
pub(crate) fn give(count: &AtomicU32) {
    count.fetch_sub(1, Ordering::AcqRel);
}

pub(crate) fn max_threads() -> u32 {
    MAX_THREADS.load(Ordering::Relaxed)
}

pub(crate) fn max_lwps() -> u32 {
    MAX_LWPS.load(Ordering::Relaxed)
}

pub(crate) fn lwps_per_proc() -> u32 {
    LWPS_PER_PROC.load(Ordering::Relaxed)
}

pub(crate) fn max_procs() -> u32 {
    MAX_PROCS.load(Ordering::Relaxed)
}
