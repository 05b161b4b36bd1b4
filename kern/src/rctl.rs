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
//!   no more than the pool holds the least a process needs ([`PROC_PAGES`]);
//! * `stack_max`: how far the main stack may grow below its top: Solaris' 8 MiB
//!   ([`crate::exec::STACK_LIMIT`]), or an eighth of the pool if that is less
//!   (never less than the initial stack).
//!
//! Past a limit, the creating call fails with `EAGAIN` and the caller goes on; a
//! stack fault past its limit is SIGSEGV. Boot arguments override them
//! (`max_threads=N`, `max_lwps=N`, `lwps_per_proc=N`, `max_procs=N`), as do the
//! self-tests that walk the limits ([`set`]).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use arch::{Machine, PAGE_SIZE};

use crate::exec::{STACK_LIMIT, USER_STACK_SIZE};
use crate::lwp::{Lwp, LwpData};
use crate::proc::Proc;
use crate::thread::{KThread, DEFAULT_STACKSIZE};
use crate::M;

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

/// What one thread costs at least: its stack and structures.
pub const THREAD_COST: usize = DEFAULT_STACKSIZE + core::mem::size_of::<KThread>();
/// What an LWP costs besides its thread.
pub const LWP_COST: usize = core::mem::size_of::<Lwp>() + core::mem::size_of::<LwpData>() + 64;
/// Threads kept for the kernel's own use out of `max_threads`.
pub const KERNEL_RESERVE: u32 = 16;
/// The pool pages a process needs at least: its initial stack and a few page
/// tables (its program's pages besides).
pub const PROC_PAGES: usize = (USER_STACK_SIZE / PAGE_SIZE) as usize + 8;

/// The limits a heap of `heap` bytes and a pool of `pages` pages allow (see the
/// module comment).
pub fn sized_for(heap: usize, pages: usize) -> Limits {
    let budget = heap / 2;
    let max_threads = u32::try_from(budget / (THREAD_COST + LWP_COST)).unwrap_or(u32::MAX);
    let max_threads = max_threads.max(2 * KERNEL_RESERVE);
    let max_lwps = max_threads - KERNEL_RESERVE.min(max_threads / 4);
    // A process holds at least its structure and one LWP in the heap, and its
    // tables and stack in the pool; what more it maps fails with ENOMEM when the
    // pool cannot give it.
    let proc_cost = core::mem::size_of::<Proc>() + THREAD_COST + LWP_COST;
    let max_procs = (budget / 2 / proc_cost).min(pages / PROC_PAGES);
    let max_procs = u32::try_from(max_procs).unwrap_or(u32::MAX).max(4);
    Limits { max_threads, max_lwps, lwps_per_proc: max_lwps, max_procs }
}

/// How far the main stack may grow in a pool of `pages` pages (see the module
/// comment).
pub fn stack_sized_for(pages: usize) -> u64 {
    let eighth = (pages as u64 / 8) * PAGE_SIZE;
    eighth.clamp(USER_STACK_SIZE, STACK_LIMIT)
}

/// How far a main stack may grow below its top: its limit, in bytes.
pub fn stack_max() -> u64 {
    STACK_MAX.load(Ordering::Relaxed)
}

/// Sets the limits at boot: sized from the machine's heap and page pool, then as
/// the boot arguments say (`arg("max_lwps")` is the value of `max_lwps=N`, if
/// given).
pub fn init(arg: impl Fn(&str) -> Option<u32>) {
    let pages = M::page_stats().total;
    STACK_MAX.store(stack_sized_for(pages), Ordering::Relaxed);
    let mut l = sized_for(M::heap_stats().total, pages);
    l.max_threads = arg("max_threads").unwrap_or(l.max_threads);
    l.max_lwps = arg("max_lwps").unwrap_or(l.max_lwps.min(l.max_threads));
    l.lwps_per_proc = arg("lwps_per_proc").unwrap_or(l.lwps_per_proc.min(l.max_lwps));
    l.max_procs = arg("max_procs").unwrap_or(l.max_procs);
    set(l);
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
