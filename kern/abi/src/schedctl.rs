//! What the kernel and the thread library share besides system calls: the
//! schedctl pages (Solaris' `sc_shared`), through which user code sees whether an
//! LWP is on a CPU and asks not to be preempted, and the layout of an LWP mutex,
//! whose word the kernel reads and writes in `lwp_mutex_timedlock`/`lwp_mutex_unlock`.
//!
//! # Schedctl pages
//!
//! A process's schedctl pages are mapped read-write at [`SC_BASE`] as its LWPs ask
//! for them (`schedctl`). LWP `id` has the 16 bytes at [`sc_shared_addr`]`(id)`, an
//! [`ScShared`]; LWP ids start at 1, and the first 16 bytes (id 0) are the
//! process's [`ScProc`]. The kernel writes `sc_state` and `sc_cpu` whenever the LWP
//! is switched in or out, so another LWP of the process can read, without a system
//! call, whether the owner of a lock it wants is running (adaptive spinning, S9).
//! The LWP writes `sc_nopreempt` around a short critical section; a time slice that
//! ends inside one is extended (once, by at most a clock tick) and `sc_yield` set:
//! the LWP yields when it leaves the section.
//!
//! # LWP mutexes
//!
//! An [`LwpMutex`] is two 32-bit words: the lock word (0 free, else the owner's LWP
//! id, with [`LWP_MUTEX_WAITERS`] when LWPs sleep in the kernel for it) and a type
//! word ([`LWP_MUTEX_MAGIC`] once initialized, [`LWP_MUTEX_DEAD`] once destroyed).
//! User code takes a free one with one compare-and-swap of 0 to its id and leaves
//! it with one back to 0; the kernel is entered only when it is busy.

/// Where the schedctl pages start (below the stack, which ends at 2^43).
pub const SC_BASE: u64 = 0x600_0000_0000;
/// Bytes of schedctl data per LWP: an [`ScShared`].
pub const SC_SIZE: u64 = 16;

/// Where LWP `id`'s [`ScShared`] is (id 0: the process's [`ScProc`]).
pub const fn sc_shared_addr(id: u32) -> u64 {
    SC_BASE + id as u64 * SC_SIZE
}

/// One LWP's schedctl data, 32-bit words (big-endian in memory, as everything).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScShared {
    /// [`SC_ONPROC`], [`SC_RUN`], [`SC_SLEEP`], [`SC_STOPPED`] or [`SC_FREE`]
    /// (kernel-written).
    pub sc_state: u32,
    /// The CPU it runs or last ran on (kernel-written).
    pub sc_cpu: u32,
    /// Nonzero: do not preempt me now (user-written).
    pub sc_nopreempt: u32,
    /// Nonzero: a time slice ended while `sc_nopreempt` was set and the kernel let
    /// the LWP run on: it should yield as soon as it can (kernel-written, cleared
    /// when the LWP next leaves its CPU).
    pub sc_yield: u32,
}

/// The process's schedctl data, at [`sc_shared_addr`]`(0)`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScProc {
    /// LWPs that said [`SC_POOL`] (kernel-written).
    pub sc_pool_lwps: u32,
    /// Of those, the ones not asleep in the kernel, or asleep only in `_lwp_park`
    /// (kernel-written): when it falls to 0 the process's [`SC_WAITING`] LWP is
    /// unparked (Solaris sent SIGWAITING).
    pub sc_pool_awake: u32,
    pub _reserved: [u32; 2],
}

/// Word offsets in an [`ScShared`].
pub const SC_STATE: u64 = 0;
pub const SC_CPU: u64 = 4;
pub const SC_NOPREEMPT: u64 = 8;
pub const SC_YIELD: u64 = 12;
/// Word offsets in the [`ScProc`].
pub const SC_POOL_LWPS: u64 = 0;
pub const SC_POOL_AWAKE: u64 = 4;

/// `sc_state`: no LWP has this id (or it has not run since it asked).
pub const SC_FREE: u32 = 0;
/// `sc_state`: running on a CPU.
pub const SC_ONPROC: u32 = 1;
/// `sc_state`: runnable, waiting for a CPU.
pub const SC_RUN: u32 = 2;
/// `sc_state`: asleep in the kernel.
pub const SC_SLEEP: u32 = 3;
/// `sc_state`: stopped (suspended).
pub const SC_STOPPED: u32 = 4;

/// `schedctl` flag: the LWP runs a thread library's pool of unbound threads; its
/// sleeps in the kernel (other than `_lwp_park`) count against `sc_pool_awake`.
pub const SC_POOL: u64 = 1;
/// `schedctl` flag: unpark this LWP whenever every pool LWP is asleep in the
/// kernel (one LWP per process; a later one replaces it).
pub const SC_WAITING: u64 = 2;

/// An LWP mutex: see the module comment.
#[repr(C, align(8))]
#[derive(Debug)]
pub struct LwpMutex {
    /// 0, or the owner's LWP id | [`LWP_MUTEX_WAITERS`].
    pub lock: core::sync::atomic::AtomicU32,
    /// [`LWP_MUTEX_MAGIC`] while usable.
    pub magic: core::sync::atomic::AtomicU32,
}

/// The lock word's flag: LWPs sleep in the kernel for it; its owner must leave it
/// with `lwp_mutex_unlock`.
pub const LWP_MUTEX_WAITERS: u32 = 1 << 31;
/// The type word of an initialized LWP mutex.
pub const LWP_MUTEX_MAGIC: u32 = 0x4d58_4c57; // "MXLW"
/// The type word of a destroyed one.
pub const LWP_MUTEX_DEAD: u32 = 0xdead_4d58;
/// Byte offset of the type word.
pub const LWP_MUTEX_MAGIC_OFFSET: u64 = 4;

impl LwpMutex {
    /// A free, initialized LWP mutex.
    pub const fn new() -> LwpMutex {
        LwpMutex {
            lock: core::sync::atomic::AtomicU32::new(0),
            magic: core::sync::atomic::AtomicU32::new(LWP_MUTEX_MAGIC),
        }
    }
}

impl Default for LwpMutex {
    /// A free, initialized LWP mutex (never the zeroed, uninitialized one).
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_what_the_kernel_reads() {
        assert_eq!(core::mem::size_of::<ScShared>() as u64, SC_SIZE);
        assert_eq!(core::mem::size_of::<ScProc>() as u64, SC_SIZE);
        assert_eq!(core::mem::offset_of!(ScShared, sc_yield) as u64, SC_YIELD);
        assert_eq!(core::mem::offset_of!(ScProc, sc_pool_awake) as u64, SC_POOL_AWAKE);
        assert_eq!(core::mem::size_of::<LwpMutex>(), 8);
        assert_eq!(core::mem::offset_of!(LwpMutex, magic) as u64, LWP_MUTEX_MAGIC_OFFSET);
        assert_eq!(sc_shared_addr(1), SC_BASE + 16);
        // The whole area lies below the stack's guard page for any LWP id.
        assert!(sc_shared_addr(u32::MAX) + SC_SIZE < (1 << 43) - 512 * 1024);
    }
}
