//! Threads and LWPs as the library keeps them (S4): the thread structure, the
//! LWP record, the static table of threads (each with its stack), and the
//! current-thread register. The calls on threads are `calls`; what the pool does
//! with these records is `sched`.
//!
//! A thread is *unbound* (run by the pool's LWPs, switched at user level:
//! `sched`) or *bound* (an LWP of its own for its whole life, made by
//! `_lwp_create`, blocking by parking it). The library has no heap: thread
//! structures come from a fixed table ([`MAX_THREADS`]), and creation beyond it
//! fails with `EAGAIN`.
//!
//! Stacks are anonymous memory, as Solaris' libc makes them: each is
//! [`STACK_SIZE`] bytes mapped with `mmap` above a guard page that has no rights
//! ([`GUARD_SIZE`]), so a thread that runs off the bottom of its stack takes
//! SIGSEGV (`SEGV_ACCERR`, at an address in its guard page) where it does so,
//! instead of writing over whatever lies below. A stack belongs to a thread
//! structure: it is mapped the first time the structure carries a thread and
//! kept with it for the program's life, as libc caches default-size stacks, so a
//! thread made on a structure used before costs no system call. The free
//! structures are taken most recently freed first, so a program that makes and
//! joins threads reuses the same few, their stacks mapped already. The cache is
//! bounded by the table: never more stacks than the most threads that lived at
//! once (the main thread runs on the process's stack), one per structure at
//! most. The memory running out fails creation with `ENOMEM`.
//!
//! A thread that exits stays a zombie, holding its exit value, until joined, or is
//! freed at once if detached. An unbound thread that is detached is freed as it
//! exits, under the pool's lock, which nobody else can take before the switch
//! away from it is complete (`sched::exit_unbound`); a bound thread once its LWP
//! is gone (`_lwp_wait`), by whoever joins it, or, detached, by whoever next needs
//! a structure. When the last thread that is neither an LWP's idle thread nor the
//! pool's watchdog exits, the process exits with status 0.

use core::cell::Cell;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use lwp_abi::{Errno, PROT_NONE, PROT_READ, PROT_WRITE};
use lwp_user::{mmap_anon, mprotect, munmap};

use super::sys::StateWord;
use crate::lwpmutex::{err, Error};
use crate::queue::Linked;
use crate::wait;

/// Thread structures, the main thread's included.
pub const MAX_THREADS: usize = 128;
/// LWPs a pool may have.
pub const MAX_LWPS: usize = 16;
/// Bytes of stack per thread (and per LWP's idle thread), above its guard page.
pub const STACK_SIZE: usize = 64 * 1024;
/// The guard page under each stack: one sparc64 page (`sysconfig(_SC_PAGESIZE)`).
pub const GUARD_SIZE: usize = 8 * 1024;
/// Per-thread data keys.
pub const NKEYS: usize = 8;

/// A thread's name: unique among the threads a structure has carried until the
/// ids wrap around (about 33 million threads later).
pub type ThreadId = u32;

/// What a thread is to the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// Run by the pool's LWPs.
    Unbound = 0,
    /// On an LWP of its own.
    Bound = 1,
    /// A pool LWP's idle thread: what the LWP runs when no thread is runnable.
    Idle = 2,
    /// The pool's watchdog, on an LWP of its own (`sched`).
    Watchdog = 3,
}

/// What a thread runs.
pub(crate) type StartFn = fn(u64) -> u64;

/// Where a thread structure is in its life (under the pool's lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Life {
    Free = 0,
    Live = 1,
    Zombie = 2,
}

/// An LWP, as the library knows it: a pool LWP (`sched`), or a bound thread's own.
/// Its fields are set by `sched` as it makes and starts the LWP.
pub(crate) struct Lwp {
    pub(crate) id: AtomicU32,
    /// Its schedctl slot's address.
    pub(crate) sc: AtomicU64,
    /// A pool LWP's idle thread.
    pub(crate) idle: Cell<Option<&'static Thread>>,
}

// SAFETY: `idle` is set before the LWP is made and read only by threads that run
// on it.
unsafe impl Sync for Lwp {}

impl Lwp {
    pub(crate) const fn new() -> Lwp {
        Lwp { id: AtomicU32::new(0), sc: AtomicU64::new(0), idle: Cell::new(None) }
    }

    #[inline(always)]
    pub(crate) fn id(&self) -> u32 {
        self.id.load(Ordering::Relaxed)
    }

    #[inline(always)]
    pub(crate) fn sc(&self) -> u64 {
        self.sc.load(Ordering::Relaxed)
    }
}

/// A thread. `#[repr(C)]`: the switch reads its first two fields.
#[repr(C)]
pub struct Thread {
    /// Saved context (`switch`): the stack pointer and return address of the
    /// function that called the switch. Written only by the thread's own switch
    /// and `prepare`, while no LWP runs it.
    pub(crate) ctx_sp: Cell<u64>,
    pub(crate) ctx_pc: Cell<u64>,
    /// The run queue, a sleep queue or a free list it is on (under that list's
    /// lock).
    link: Cell<Option<&'static Thread>>,
    /// The wait protocol's state (`wait`).
    pub(crate) wstate: StateWord,
    /// The `Lwp` that runs it now (its address), 0 while none does: written by
    /// the switches (pool's lock held), read by adaptive waiters without a lock,
    /// and by `lwpt_start`, which continues a thread on the LWP the exit of the
    /// thread before gave it.
    pub(crate) lwp: AtomicUsize,
    /// A bound thread's (and the watchdog's) own LWP.
    pub(crate) own: Lwp,
    kind: Cell<Kind>,
    pub(crate) life: Cell<Life>,
    pub(crate) detached: Cell<bool>,
    /// A bound thread's LWP is still to be reaped (`_lwp_wait`).
    pub(crate) lwp_unreaped: Cell<bool>,
    id: AtomicU32,
    /// What it runs, and its argument (`sched::run`).
    pub(crate) start: Cell<Option<StartFn>>,
    pub(crate) arg: Cell<u64>,
    /// Its exit value, for its joiner.
    pub(crate) value: Cell<u64>,
    /// The thread waiting in `join` for it (under the pool's lock).
    pub(crate) joiner: Cell<Option<&'static Thread>>,
    /// Where its stack begins (its lowest address, just above its guard page); 0
    /// while the structure has none (the main thread's is the process's). Set
    /// once, by the one thread that holds the structure then (`map_stack`).
    stack: AtomicU64,
    /// The object whose sleep queue it is on, and how it waits there (`sleepq`).
    pub(crate) wchan: Cell<u64>,
    pub(crate) wkind: Cell<u8>,
    /// Waiting on a condition variable: the mutex it will take again (its address).
    pub(crate) wmutex: Cell<u64>,
    /// Per-thread data, by key: all 0 while the structure is free (its thread's
    /// exit clears them: `sched::run_destructors`).
    pub(crate) tsd: [Cell<u64>; NKEYS],
    /// Whether the thread set a value for a key: one that never did has none to
    /// destroy at its exit, as a Solaris thread that never set one has no
    /// per-thread data allocated.
    pub(crate) tsd_set: Cell<bool>,
}

// SAFETY: every `Cell` is reached only by the thread itself, or under the lock its
// comment names (the pool's, or the sleep queue's it is on); the rest are atomics.
unsafe impl Sync for Thread {}

impl Linked for Thread {
    #[inline(always)]
    fn link(&self) -> &Cell<Option<&'static Thread>> {
        &self.link
    }
}

impl Thread {
    const fn new() -> Thread {
        Thread {
            ctx_sp: Cell::new(0),
            ctx_pc: Cell::new(0),
            link: Cell::new(None),
            wstate: StateWord::new(wait::RUNNING),
            lwp: AtomicUsize::new(0),
            own: Lwp::new(),
            kind: Cell::new(Kind::Unbound),
            life: Cell::new(Life::Free),
            detached: Cell::new(false),
            lwp_unreaped: Cell::new(false),
            id: AtomicU32::new(0),
            start: Cell::new(None),
            arg: Cell::new(0),
            value: Cell::new(0),
            joiner: Cell::new(None),
            stack: AtomicU64::new(0),
            wchan: Cell::new(0),
            wkind: Cell::new(0),
            wmutex: Cell::new(0),
            tsd: [const { Cell::new(0) }; NKEYS],
            tsd_set: Cell::new(false),
        }
    }

    /// Its id.
    pub fn id(&self) -> ThreadId {
        self.id.load(Ordering::Relaxed)
    }

    /// Its address: what the lock words record as owner.
    #[inline(always)]
    pub(crate) fn addr(&'static self) -> u64 {
        self as *const Thread as u64
    }

    /// The thread at `addr`, if `addr` names one of the table (a lock word's owner,
    /// which a program may have scribbled on).
    pub(crate) fn from_addr(addr: u64) -> Option<&'static Thread> {
        let base = THREADS.as_ptr() as u64;
        let size = core::mem::size_of::<Thread>() as u64;
        let off = addr.checked_sub(base)?;
        let i = (off / size) as usize;
        (off % size == 0 && i < MAX_THREADS).then(|| &THREADS[i])
    }

    pub(crate) fn kind(&self) -> Kind {
        self.kind.get()
    }

    /// It has an LWP of its own (it parks it to wait).
    #[inline(always)]
    pub(crate) fn is_bound(&self) -> bool {
        matches!(self.kind.get(), Kind::Bound | Kind::Watchdog)
    }

    /// The LWP that runs it now, if one does.
    #[inline(always)]
    pub(crate) fn lwp(&self) -> Option<&'static Lwp> {
        match self.lwp.load(Ordering::Relaxed) {
            0 => None,
            // SAFETY: only `set_lwp` writes it, with the address of an `Lwp` of a
            // static table (the pool's, or a thread's own), which lives for ever.
            a => Some(unsafe { &*(a as *const Lwp) }),
        }
    }

    /// It runs on `lwp` from now on (`None`: it is switched out).
    #[inline(always)]
    pub(crate) fn set_lwp(&self, lwp: Option<&'static Lwp>) {
        self.lwp.store(lwp.map_or(0, |l| l as *const Lwp as usize), Ordering::Relaxed);
    }

    /// The id of the LWP that runs it (0 if none does).
    #[inline(always)]
    pub(crate) fn lwp_id(&self) -> u32 {
        self.lwp().map_or(0, Lwp::id)
    }

    /// The schedctl slot of the LWP that runs it, 0 if none does.
    #[inline(always)]
    pub(crate) fn sc(&self) -> u64 {
        self.lwp().map_or(0, Lwp::sc)
    }

    /// Makes a free structure a live thread of `kind`.
    pub(crate) fn init(&self, kind: Kind, id: ThreadId, start: Option<StartFn>, arg: u64) {
        self.kind.set(kind);
        self.life.set(Life::Live);
        self.detached.set(false);
        self.lwp_unreaped.set(false);
        self.id.store(id, Ordering::Relaxed);
        self.start.set(start);
        self.arg.set(arg);
        self.joiner.set(None);
        wait::State::store(&self.wstate, wait::RUNNING);
        self.set_lwp(None);
    }

    /// Its exit value, once it is a zombie.
    pub(crate) fn value(&self) -> u64 {
        self.value.get()
    }
}

/// Every thread structure; the main thread is the first.
pub(crate) static THREADS: [Thread; MAX_THREADS] = [const { Thread::new() }; MAX_THREADS];

/// The top (16-aligned) of `t`'s stack, if it has one of the library's.
#[inline(always)]
pub(crate) fn stack_top(t: &Thread) -> Option<u64> {
    match t.stack.load(Ordering::Relaxed) {
        0 => None,
        low => Some(low + STACK_SIZE as u64),
    }
}

/// Maps `t`'s stack, if its structure has none yet: the guard page and the stack
/// above it. Called by the one holder of the structure, without the pool's lock
/// (it is a system call or three). `ENOMEM` when the memory runs out; the
/// structure stays without a stack.
pub(crate) fn map_stack(t: &Thread) -> Result<u64, Error> {
    if let Some(top) = stack_top(t) {
        return Ok(top);
    }
    let len = (GUARD_SIZE + STACK_SIZE) as u64;
    let low = mmap_anon(len, PROT_READ | PROT_WRITE).map_err(|_| err(Errno::ENOMEM))?;
    // SAFETY: the guard page is the bottom of the mapping just made, which nothing
    // uses yet.
    if unsafe { mprotect(low, GUARD_SIZE as u64, PROT_NONE) }.is_err() {
        // SAFETY: the whole mapping is this call's and unused.
        let _ = unsafe { munmap(low, len) };
        return Err(err(Errno::ENOMEM));
    }
    t.stack.store(low + GUARD_SIZE as u64, Ordering::Relaxed);
    Ok(low + GUARD_SIZE as u64 + STACK_SIZE as u64)
}

/// Sets the current-thread register (`%g7`) to `t`.
pub(crate) fn set_current(t: &'static Thread) {
    // SAFETY: `%g7` is the library's current thread; LLVM reserves it, so no
    // compiled code holds anything there, and the kernel keeps user `%g7` across
    // every trap.
    unsafe {
        core::arch::asm!(
            "mov {0}, %g7",
            in(reg) t.addr(),
            options(nomem, nostack, preserves_flags)
        )
    };
}

/// The ids a structure gives out go up by the table's size: its first is its
/// number + 1.
pub(crate) fn next_id(t: &'static Thread) -> ThreadId {
    match t.id() {
        0 => {
            ((t.addr() - THREADS.as_ptr() as u64) / core::mem::size_of::<Thread>() as u64) as u32
                + 1
        }
        old => old.wrapping_add(MAX_THREADS as u32),
    }
}
