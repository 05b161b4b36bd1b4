//! The kernel's memory as a whole: what its caches hold and give back when memory
//! runs low (Solaris' `kmem_reap`), and a census of what the kernel has made, by
//! which a test or a user finds a leak.
//!
//! # Theory
//!
//! Thread, LWP and process structures are never freed (their `&'static`
//! references must never dangle: see `thread`); they are cached and reused. What
//! they carry that is big is freed instead: a cached thread's stack, a cached LWP
//! handle's `lwp` structure. So after a [`reap`] the heap in use is the live
//! objects plus the structures ever allocated, and a run of work that leaves no
//! thread, LWP or process behind may leave the heap bigger by at most those
//! structures (and the kernel's tables, which grow by doubling): anything more is a
//! leak ([`Census::leaked_since`]). User memory (the machine's page pool: pages
//! and page tables) belongs to processes alone: with no more processes, no more
//! of it may be in use.

use alloc::format;
use alloc::string::String;

use arch::Machine;

use crate::lwp::cache as lwp_cache;
use crate::lwp::handle::Lwp;
use crate::proc::{self, Proc};
use crate::thread::{self, KThread};
use crate::{callout, M};

/// Room for the kernel's tables to grow (turnstiles, directories) and the heap's
/// rounding, in a census comparison.
const TABLE_SLACK: usize = 16 * 1024;

/// Gives back what the caches hold beyond the structures themselves: cached
/// threads' stacks and cached LWP handles' `lwp` structures. Returns how many
/// blocks it freed. The allocators run it when the heap is short
/// (`arch::kmem::set_reclaim`, registered at boot); it allocates nothing.
pub fn reap() -> usize {
    thread::cache_reap() + lwp_cache::cache_reap()
}

/// What the kernel holds at one moment (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Census {
    /// Heap bytes in use, after a [`reap`].
    pub heap_used: usize,
    /// Pages of the page pool in use (user memory: pages and page tables).
    pub pages_used: usize,
    /// Threads made and not yet reaped.
    pub threads: u32,
    /// LWPs in every process.
    pub lwps: u32,
    /// Processes, zombies included.
    pub procs: u32,
    /// Callouts armed.
    pub callouts: usize,
    /// Structures ever allocated: threads, LWP handles, processes.
    pub thread_structs: usize,
    /// `Lwp` handles allocated since boot, in use or cached.
    pub lwp_structs: u32,
    /// Process structures allocated since boot, in use or cached.
    pub proc_structs: u32,
}

/// Reaps the caches and counts.
pub fn census() -> Census {
    reap();
    Census {
        heap_used: M::heap_stats().used,
        pages_used: M::page_stats().used(),
        threads: thread::nthreads(),
        lwps: lwp_cache::nlwps(),
        procs: proc::nprocs(),
        callouts: callout::pending(),
        thread_structs: thread::nthreads_allocated(),
        lwp_structs: lwp_cache::nallocated(),
        proc_structs: proc::nallocated(),
    }
}

impl Census {
    /// What this census holds beyond `before`, if it is more than new structures
    /// explain: more threads, LWPs, processes or callouts, or heap bytes beyond the
    /// structures allocated since.
    pub fn leaked_since(&self, before: &Census) -> Option<String> {
        let counts = (self.threads, self.lwps, self.procs, self.callouts);
        let was = (before.threads, before.lwps, before.procs, before.callouts);
        // Fewer is no leak: what was ending at `before` may have ended since.
        if counts.0 > was.0 || counts.1 > was.1 || counts.2 > was.2 || counts.3 > was.3 {
            return Some(format!(
                "(threads, LWPs, processes, callouts) were {was:?}, are {counts:?}"
            ));
        }
        let structs = self.thread_structs.saturating_sub(before.thread_structs)
            * core::mem::size_of::<KThread>()
            + self.lwp_structs.saturating_sub(before.lwp_structs) as usize
                * core::mem::size_of::<Lwp>()
            + self.proc_structs.saturating_sub(before.proc_structs) as usize
                * core::mem::size_of::<Proc>();
        let grown = self.heap_used.saturating_sub(before.heap_used);
        if grown > structs + TABLE_SLACK {
            return Some(format!(
                "the heap grew by {grown} bytes, of which new thread, LWP and process \
                 structures explain {structs}"
            ));
        }
        // User memory belongs to processes: with no more of them, no more of it.
        (self.pages_used > before.pages_used).then(|| {
            format!(
                "{} pages of the page pool are in use, {} were",
                self.pages_used, before.pages_used
            )
        })
    }
}

/// Makes the `n`th allocation the current thread makes from now on fail (1: the next; a
/// heap block or pages of the page pool), once; 0 disarms. For tests of every creating
/// path's failure handling.
pub fn fail_nth(n: u64) {
    arch::kmem::fail_nth(crate::thread::curthread() as *const KThread as usize, n);
}

/// Allocations refused on purpose ([`fail_nth`]) since boot.
pub fn failures_injected() -> u64 {
    arch::kmem::failures_injected()
}
