//! Kernel threads: the entity the dispatcher schedules (S2), the never-swapped half
//! of an LWP's state (S6), and what the current-thread register points at (S7).
//!
//! # Theory
//!
//! A `KThread` is what must stay in memory while its LWP's swappable `lwp` structure
//! may be out: scheduling state, the machine context with the kernel stack, and the
//! pointers to the `lwp` and `proc` it serves. A kernel thread may have neither (S2):
//! the idle threads and the kernel's own daemons are such threads.
//!
//! Thread structures are never freed. An exited thread is reaped onto a cache and
//! reused, stack and all, by a later `thread_create` (as Solaris' thread cache
//! does). This is also what makes `&'static KThread` true: the current-thread
//! register, the run queues and the CPUs hold plain references, and a reference to
//! a thread can never dangle; it may only find the thread recycled, which the
//! generation-bearing `t_id` tells apart.
//!
//! What is freed is a cached thread's stack, which is most of its memory: when the
//! heap runs low (a reaped thread then goes to the cache without its stack), and all
//! of them when an allocation fails ([`cache_reap`], through `kern::kmem::reap`,
//! which the allocator runs before it refuses). A thread is
//! made only within `rctl`'s `max_threads`; making one fails with `EAGAIN` beyond
//! it and with `ENOMEM` when there is no memory, and leaves nothing behind. The
//! cache is a list through the threads' own `t_link` (a cached thread is on no
//! queue), so putting a thread there allocates nothing under its lock.
//!
//! Every thread structure there is, in use or cached, is also on one list that
//! only grows ([`allthreads`], as Solaris links its threads from `t0` by `t_next`): the
//! structures allocated, and each CPU's boot thread as the CPU starts. It is what
//! the debugger (`kmdb`) and the gdb helpers (`scripts/gdb`) walk to see every
//! thread, without a lock: a structure is linked once, before the head points at
//! it, and never unlinked.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use arch::cell::StaticRef;
use arch::order::Ordered;
use arch::{kmem, Machine, PendingWork, ThreadRegister};
use spin::Mutex;

use crate::class::table::{self as class, Quantum, SchedClass};
use crate::disp::tstate::ThreadDisp;
use crate::displock::DispLock;
use crate::errno::Errno;
use crate::lwp::handle::Lwp;
use crate::lwp::tstate::{ThreadWait, TpFlags};
use crate::proc::Proc;
use crate::schedctl::tstate::ScThread;
use crate::signal::data::ThreadSig;
use crate::sleepq::tstate::ThreadSleep;
use crate::swap::tstate::ThreadSwap;
use crate::sync::tstate::ThreadTs;
use crate::{rctl, M};

pub mod life;

/// The machine context type of this build.
pub type Context = <M as Machine>::Context;

/// Kernel stack size of a new thread.
pub const DEFAULT_STACKSIZE: usize = 32 * 1024;

/// A thread's start function and its argument.
type StartFn = (fn(usize), usize);

/// The states of a thread (`t_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ThreadState {
    /// In the thread cache, not in use.
    Free = 0,
    /// Runnable, on a run queue.
    Run = 1,
    /// Running on a CPU.
    OnProc = 2,
    /// Exited; its stack is still in use until the switch away completes.
    Zombie = 3,
    /// Asleep on a sleep queue, waiting for a wakeup on its wait channel.
    Sleep = 4,
    /// Stopped (an LWP suspended), waiting to be continued.
    Stopped = 5,
}

/// `t_bound` of a thread that may run on any CPU.
const UNBOUND: usize = usize::MAX;

/// The bits of `t_pending` that the kernel sets (the machine keeps
/// `PendingWork::MACHINE` for itself: windows waiting in the window buffer). Of the
/// kinds of work due before a return to user mode, a stop point has a bit, and so
/// has a signal to look at (`signal`). Preemption needs none:
/// the interrupt that asks for it preempts on its way out (`disp::kpreempt`),
/// from the kernel as from user mode, and the return path tests the word with
/// interrupts off, so a request after the test is an interrupt taken in user mode
/// at once. Nor does a swap-in: a thread whose LWP's `lwp` structure is out is
/// never dispatched (`t_schedflag`), so it gets its structure back before it runs
/// at all.
pub mod pending {
    /// A stop point is due: the LWP was asked to stop or to exit (`TpFlags`).
    pub const STOP: u32 = 1;
    /// A signal may be there for the LWP to take (`signal::issig`): one was sent
    /// to it or to its process, unmasked, or is being delivered.
    pub const SIG: u32 = 2;
    /// The LWP owes its process's profiling buffer clock ticks, to be counted at
    /// its user `pc` (`rusage::profil_tick`).
    pub const PROF: u32 = 4;
}

/// A kernel thread. `#[repr(C)]`: its first field is the pending-work word, where
/// the machine finds it through the current-thread register (`ThreadRegister`).
///
/// Every field is private to the module that owns it: this one's own, or, for the
/// state another module keeps, a structure of that module (`t_disp`, `t_sleep`,
/// `t_ts`, ...) whose fields are private to it and whose methods are the protocol.
/// Each field says what protects it. All of it is resident (S6): the thread is never
/// swapped, only its LWP's `lwp` structure.
#[repr(C)]
pub struct KThread {
    /// Work to do before the thread's LWP goes back to user mode (illumos'
    /// `t_astflag`): one bit per kind (`pending`), tested by the machine once on
    /// every return to user mode, through the current-thread register at offset 0.
    /// *Atomic:* any CPU sets bits; only the thread itself takes them (and
    /// `thread_alloc`, before the structure is handed out).
    t_pending: PendingWork,
    /// Unique for the life of the kernel; a recycled structure gets a new one.
    /// *Immutable* while the thread lives (written when the structure is handed out).
    t_id: AtomicU64,
    /// What the thread is for, as the debugger shows it. *Its own mutex.*
    t_name: Mutex<&'static str>,
    /// `ThreadState`. *Set by whoever moves the thread to the state*, which owns it
    /// at that moment: the thread itself as it sleeps (under its sleep-queue
    /// bucket's lock), blocks (the turnstile lock), stops (its process's `p_lock`;
    /// also its LWP's creator, for an LWP made stopped) or exits (interrupts off);
    /// its CPU, switching it in (`OnProc`) or requeueing it; whoever makes it
    /// runnable (`Run`), once it is off every CPU; the thread cache (`Free`). Read
    /// without a lock.
    t_state: AtomicU8,
    /// The machine context: kernel stack and saved kernel registers (S17).
    /// *The machine's switch*, on the thread's CPU with interrupts off; the thread
    /// cache resets it, or frees its stack, only while the thread is not in use.
    t_ctx: Context,
    /// What the thread runs when it first starts. *Its own mutex.*
    t_start: Mutex<Option<StartFn>>,
    /// The LWP this thread carries (S3, S5.7); none for S2 threads. *Set before the
    /// thread first runs* (by its LWP's creator, `lwp`), *cleared only by the
    /// thread itself* as its LWP exits; read without a lock (by other LWPs under
    /// its process's `p_lock`, while the LWP is live in the process's directory).
    t_lwp: StaticRef<Lwp>,
    /// The process of that LWP (S1, S5.8). *Like `t_lwp`*, and with it.
    t_procp: StaticRef<Proc>,
    /// Whether its LWP's `lwp` structure is in memory, and when it began to wait
    /// (`swap::ThreadSwap`: `t_schedflag`, `t_stime`). *Kept by `swap`.*
    t_swap: ThreadSwap,
    /// What the LWP module asks of the thread's LWP (`TpFlags`: stop, exit) and
    /// whether it is stopped. Read at every stop point. *Atomic:* changed under
    /// its process's `p_lock` (by the LWPs of the process, the thread itself as it
    /// stops), but for the thread clearing it as its LWP exits; read without a lock.
    t_proc_flag: AtomicU32,
    /// The CPU it last ran on. *By the CPU that switches it in*, interrupts off.
    t_cpu: AtomicUsize,
    /// How many times it was switched in. *Like `t_cpu`.*
    t_nswitch: AtomicU64,
    /// Switches away from it that it asked for — it slept, blocked or stopped —
    /// and those it did not — preempted, or a yield (S5.4: its LWP's `nvcsw` and
    /// `nivcsw`, counted here, resident, so that a switch takes no lock on the
    /// `lwp` structure). *By the CPU that switches it out*, interrupts off.
    t_nvcsw: AtomicU64,
    /// See `t_nvcsw`.
    t_nivcsw: AtomicU64,

    // Dispatcher state (S6: never swapped).
    /// Scheduling class (`SchedClass`). *Before the thread is first made runnable*
    /// (`set_class`).
    t_cid: AtomicU8,
    /// Global priority given by the class, `0..NPRI`. *Only while the thread is on
    /// no dispatch queue*, whose list is chosen by it: by its class, on its CPU as
    /// the clock ticks or by whoever wakes it; by the dispatcher between taking it
    /// off its queue and putting it back (`disp::ts_update`); by `set_class`,
    /// before it is first made runnable.
    t_pri: AtomicU8,
    /// Priority inherited from the threads it blocks (priority inheritance), or 0.
    /// The thread runs at the higher of the two. *Under the turnstile lock*
    /// (`disp::change_epri`, which moves a queued thread to the list of its new
    /// priority), or before the structure is handed out.
    t_epri: AtomicU8,
    /// Clock ticks left in its current quantum (`class::Quantum`). *Kept by
    /// `class`.*
    t_quantum: Quantum,
    /// The CPU the thread is bound to, or `UNBOUND`. *By the thread itself*
    /// (`disp::thread_bind`), or by whoever holds a thread that is not running:
    /// before it first runs, or while it waits on a queue (`set_bound`).
    t_bound: AtomicUsize,
    /// Whether it is on a CPU, and where it waits on a dispatch queue
    /// (`disp::ThreadDisp`: `t_oncpu`, `t_qpri`, `t_disptime`). *Kept by `disp`
    /// and `dispq`.*
    t_disp: ThreadDisp,
    /// Its link on the one queue it is on, if any ([`QueueLink`]: `t_link`,
    /// `t_queued`). *Under the lock of that queue.*
    t_queue: QueueLink,

    /// Sleep state (`sleepq::ThreadSleep`: `t_wchan`, `t_sobj`, `t_sleepgen`,
    /// `t_callout`). *Kept by `sleepq`*, under the lock of the
    /// sleep-queue bucket of the wait channel.
    t_sleep: ThreadSleep,
    /// Turnstile state (`sync::turnstile::ThreadTs`: `t_ts_sobj`, `t_ts_kind`,
    /// `t_spinning`). *Kept by `sync`*, under its turnstile lock but for
    /// `t_spinning`. A thread blocked on a turnstile is on no other queue; it is
    /// linked there through `t_queue`, like a sleeping thread.
    t_ts: ThreadTs,
    /// Signal state (S11, `signal::ThreadSig`: `t_hold`, `t_sig`, `t_sigwait`):
    /// resident, so that choosing the LWP that takes a signal never needs an `lwp`
    /// structure. *Kept by `signal`*, under the process's `p_lock` but for the
    /// LWP's own changes of its mask.
    t_signal: ThreadSig,
    /// The LWP's waits (`lwp::ThreadWait`: `t_wakeable`, `t_park`): whether it is
    /// in an interruptible wait, and its park permit. *Kept by `lwp`.*
    t_lwpwait: ThreadWait,
    /// The next thread structure on the list of all of them ([`allthreads`]).
    /// *Under `ALLTHREADS_LOCK`*, once, before the structure is published.
    t_next_all: StaticRef<KThread>,
    /// Its LWP's schedctl slot and pool state (`schedctl::ScThread`), read at every
    /// switch. *Kept by `schedctl`.*
    t_sc: ScThread,
}

// SAFETY: `KThread` is the only type ever stored in the current-thread register:
// `thread` and `disp` hand the machine nothing but `&'static KThread`; it is
// `#[repr(C)]` with its pending-work word first (checked below).
#[allow(unsafe_code)]
unsafe impl ThreadRegister for KThread {}
const _: () = assert!(core::mem::offset_of!(KThread, t_pending) == 0);

/// A thread's link on the one queue it is on at a time (S6: resident): a dispatch
/// queue (`dispq`), a sleep queue or the swap-in queue (`sleepq::ThreadFifo`), a
/// turnstile (`sync::turnstile`), or the thread cache. Both words are *under the
/// lock of the queue the thread is on* (or enters or leaves), which orders them
/// (`cache_reap` walks a list it took whole off the cache's lock); each kind of
/// queue keeps the memory orderings it always used.
pub(crate) struct QueueLink {
    /// The next thread on the same queue (intrusive link).
    t_link: StaticRef<KThread>,
    /// On a queue (at most one at a time).
    t_queued: AtomicBool,
}

impl QueueLink {
    const fn new() -> QueueLink {
        QueueLink { t_link: StaticRef::none(), t_queued: AtomicBool::new(false) }
    }

    /// The next thread on the queue.
    #[inline(always)]
    pub(crate) fn next(&self) -> Option<&'static KThread> {
        self.t_link.get()
    }

    /// Links the next thread on the queue (or none).
    #[inline(always)]
    pub(crate) fn set_next(&self, t: Option<&'static KThread>) {
        self.t_link.set(t);
    }

    /// The next thread on a queue whose every reader and writer holds its lock
    /// (a dispatch queue): the lock orders the link, no barrier of its own.
    #[inline(always)]
    pub(crate) fn next_locked(&self) -> Option<&'static KThread> {
        self.t_link.get_relaxed()
    }

    /// Links the next thread on such a queue (see [`QueueLink::next_locked`]).
    #[inline(always)]
    pub(crate) fn set_next_locked(&self, t: Option<&'static KThread>) {
        self.t_link.set_relaxed(t);
    }

    /// Unlinks the next thread, returning it.
    #[inline(always)]
    fn take_next(&self) -> Option<&'static KThread> {
        self.t_link.take()
    }

    /// Whether the thread is on a queue.
    #[inline(always)]
    pub(crate) fn is_queued(&self, order: Ordering) -> bool {
        self.t_queued.load(order)
    }

    /// Marks the thread on a queue, or on none.
    #[inline(always)]
    pub(crate) fn set_queued(&self, queued: bool, order: Ordering) {
        self.t_queued.store(queued, order);
    }

    /// Marks the thread on a queue; returns whether it was on one already. Under
    /// the lock of the queue it joins, and a load and a store, no atomic swap: a
    /// thread leaves a queue under that queue's lock before anyone can add it to
    /// another, so the flag never has two writers at once.
    #[inline(always)]
    #[must_use]
    pub(crate) fn mark_queued(&self) -> bool {
        let was = self.t_queued.load(Ordering::Relaxed);
        self.t_queued.store(true, Ordering::Relaxed);
        was
    }
}

/// The thread that boots the first CPU. The machine's entry code loads it into the
/// current-thread register before the first line of Rust runs (S7).
pub static THREAD0: KThread = KThread::boot("thread0");

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
/// Thread structures ever allocated (the cache holds the ones not in use).
static NALLOCATED: AtomicUsize = AtomicUsize::new(0);
/// Threads made and not yet reaped (`rctl::max_threads`).
static NTHREADS: AtomicU32 = AtomicU32::new(0);

/// Reaped threads, ready for reuse: a list through their `t_queue` links (a cached
/// thread is on no other queue).
struct Cache {
    head: Option<&'static KThread>,
    len: usize,
}

static THREAD_CACHE: DispLock<Cache> = DispLock::new(Cache { head: None, len: 0 });

/// The first thread structure on the list of all of them (see the module comment);
/// changed only under `ALLTHREADS_LOCK`, read without it.
static ALLTHREADS: StaticRef<KThread> = StaticRef::none();
static ALLTHREADS_LOCK: DispLock<()> = DispLock::new(());

/// Puts `t`, not on the list yet, at the head of the list of all threads: a new
/// structure, or a CPU's boot thread, which no allocation made.
pub(crate) fn enlist(t: &'static KThread) {
    let _g = ALLTHREADS_LOCK.lock();
    t.t_next_all.set(ALLTHREADS.get());
    ALLTHREADS.set(Some(t));
}

/// Every thread structure there is, newest first: those in use, in any state, and
/// those cached (`ThreadState::Free`). Takes no lock (see the module comment).
pub fn allthreads() -> impl Iterator<Item = &'static KThread> {
    core::iter::successors(ALLTHREADS.get(), |t| t.t_next_all.get())
}

/// The thread cache's figures for the debugger: threads cached, and the bytes of
/// kernel stack they keep; `None` if its lock is held.
pub(crate) fn cache_peek() -> Option<(usize, usize)> {
    let c = crate::displock::peek(&THREAD_CACHE)?;
    let stacks = core::iter::successors(c.head, |t| t.t_queue.next())
        .map(|t| M::context_stack_bytes(&t.t_ctx))
        .sum();
    Some((c.len, stacks))
}

impl Cache {
    fn push(&mut self, t: &'static KThread) {
        t.t_queue.set_next(self.head);
        self.head = Some(t);
        self.len += 1;
    }

    fn pop(&mut self) -> Option<&'static KThread> {
        let t = self.head?;
        self.head = t.t_queue.take_next();
        self.len -= 1;
        Some(t)
    }
}

impl KThread {
    /// A CPU's boot thread: it is already running on the machine's boot stack.
    pub const fn boot(name: &'static str) -> KThread {
        KThread {
            t_pending: PendingWork::new(),
            t_id: AtomicU64::new(0),
            t_name: Mutex::new(name),
            t_state: AtomicU8::new(ThreadState::OnProc as u8),
            t_ctx: <M as Machine>::BOOT_CONTEXT,
            t_start: Mutex::new(None),
            t_lwp: StaticRef::none(),
            t_procp: StaticRef::none(),
            t_proc_flag: AtomicU32::new(0),
            t_swap: ThreadSwap::new(),
            t_cpu: AtomicUsize::new(0),
            t_nswitch: AtomicU64::new(0),
            t_nvcsw: AtomicU64::new(0),
            t_nivcsw: AtomicU64::new(0),
            t_cid: AtomicU8::new(SchedClass::Sys as u8),
            t_pri: AtomicU8::new(class::SYS_PRI),
            t_epri: AtomicU8::new(0),
            t_quantum: Quantum::new(),
            t_bound: AtomicUsize::new(UNBOUND),
            t_disp: ThreadDisp::new(),
            t_queue: QueueLink::new(),
            t_sleep: ThreadSleep::new(),
            t_ts: ThreadTs::new(),
            t_signal: ThreadSig::new(),
            t_lwpwait: ThreadWait::new(),
            t_next_all: StaticRef::none(),
            t_sc: ScThread::new(),
        }
    }

    /// Its id (`t_did`): unique for the life of the kernel; a recycled structure
    /// gets a new one.
    #[inline]
    pub fn id(&self) -> u64 {
        self.t_id.load(Ordering::Relaxed)
    }

    /// Its name, read under the name's own mutex (a debugger uses `try_name`).
    pub fn name(&self) -> &'static str {
        *self.t_name.lock()
    }

    /// Its name, unless its lock is held (by code a debugger stopped, say).
    pub fn try_name(&self) -> Option<&'static str> {
        self.t_name.try_lock().map(|n| *n)
    }

    /// Its scheduling state (`t_state`): free, runnable, on a CPU, asleep, stopped
    /// or zombie.
    #[inline]
    pub fn state(&self) -> ThreadState {
        match self.t_state.load_acquire() {
            0 => ThreadState::Free,
            1 => ThreadState::Run,
            2 => ThreadState::OnProc,
            3 => ThreadState::Zombie,
            4 => ThreadState::Sleep,
            _ => ThreadState::Stopped,
        }
    }

    #[inline]
    pub(crate) fn set_state(&self, s: ThreadState) {
        self.t_state.store_release(s as u8);
    }

    /// Whether this is the running thread (for the assertions of what only the
    /// thread itself may do).
    #[cfg(debug_assertions)]
    #[inline(always)]
    pub(crate) fn is_curthread(&self) -> bool {
        core::ptr::eq(self, curthread())
    }

    /// Whether the thread was never switched in: it is being made, and only its
    /// maker touches it (for assertions).
    #[cfg(debug_assertions)]
    #[inline(always)]
    pub(crate) fn never_ran(&self) -> bool {
        self.nswitch() == 0
    }

    /// The work due before its LWP goes back to user mode (`pending` bits).
    #[inline(always)]
    pub(crate) fn pending(&self) -> u32 {
        self.t_pending.get()
    }

    /// Makes the work of `bits` (`pending`) due before its LWP goes back to user
    /// mode. From any CPU.
    #[inline(always)]
    pub(crate) fn set_pending(&self, bits: u32) {
        self.t_pending.set(bits);
    }

    /// Takes the work of `bits` (`pending`): returns those of them that were due.
    /// Only by the thread itself.
    #[inline(always)]
    pub(crate) fn take_pending(&self, bits: u32) -> u32 {
        debug_check!(self.is_curthread(), "{self:?} takes another thread's pending work");
        self.t_pending.take(bits)
    }

    /// Sets what the thread runs when it first starts (`life`).
    pub(super) fn set_start(&self, func: fn(usize), arg: usize) {
        *self.t_start.lock() = Some((func, arg));
    }

    /// Takes what the thread was to run first: as it starts, or as it is discarded.
    pub(super) fn take_start(&self) -> Option<StartFn> {
        self.t_start.lock().take()
    }

    /// The LWP this thread carries, if any (S3); none for S2 threads.
    #[inline(always)]
    pub fn lwp(&self) -> Option<&'static Lwp> {
        self.t_lwp.get()
    }

    /// The process of that LWP, if any.
    #[inline(always)]
    pub fn procp(&self) -> Option<&'static Proc> {
        self.t_procp.get()
    }

    /// [`KThread::lwp`] of the running thread, by the thread itself: without the
    /// barrier, which orders nothing here (the cell is set before the thread first
    /// runs, emptied by the thread itself).
    #[inline(always)]
    pub(crate) fn own_lwp(&self) -> Option<&'static Lwp> {
        debug_check!(self.is_curthread(), "{self:?}: another thread's LWP read as its own");
        self.t_lwp.get_relaxed()
    }

    /// [`KThread::procp`] of the running thread, by the thread itself (see
    /// [`KThread::own_lwp`]).
    #[inline(always)]
    pub(crate) fn own_procp(&self) -> Option<&'static Proc> {
        debug_check!(self.is_curthread(), "{self:?}: another thread's process read as its own");
        self.t_procp.get_relaxed()
    }

    /// Makes the thread carry LWP `lwp` of `p` for its whole life (S3): by the LWP's
    /// creator, under `p`'s `p_lock`, before the thread first runs.
    #[inline]
    pub(crate) fn attach_lwp(&self, lwp: &'static Lwp, p: &'static Proc) {
        debug_check!(self.never_ran(), "{self:?} gets an LWP after it ran");
        self.t_lwp.set(Some(lwp));
        self.t_procp.set(Some(p));
    }

    /// The thread's LWP exits: it carries none from now. Only by the thread itself.
    #[inline]
    pub(crate) fn detach_lwp(&self) {
        debug_check!(self.is_curthread(), "{self:?} loses its LWP to another thread");
        self.t_lwp.set(None);
        self.t_procp.set(None);
    }

    /// The thread goes to sleep on a sleep queue, or stops: from now (`t_stime`).
    /// By the thread itself, or by its creator before it first runs.
    #[inline]
    pub(crate) fn note_wait(&self) {
        debug_check!(self.is_curthread() || self.never_ran(), "{self:?}: wait noted by another");
        self.t_swap.note_wait();
    }

    /// Whether its LWP's `lwp` structure is in memory, so that it may run (always
    /// true for a thread without an LWP).
    #[inline]
    pub fn loaded(&self) -> bool {
        self.t_swap.loaded()
    }

    /// `lbolt` when it last went to sleep or stopped.
    pub fn stime(&self) -> u64 {
        self.t_swap.stime()
    }

    /// Its swap state (`swap`).
    #[inline(always)]
    pub(crate) fn swap_state(&self) -> &ThreadSwap {
        &self.t_swap
    }

    /// Its quantum (`class`).
    #[inline(always)]
    pub(crate) fn quantum(&self) -> &Quantum {
        &self.t_quantum
    }

    /// Its dispatcher state (`disp`, `dispq`).
    #[inline(always)]
    pub(crate) fn disp_state(&self) -> &ThreadDisp {
        &self.t_disp
    }

    /// Its link on the queue it is on (the queues' modules).
    #[inline(always)]
    pub(crate) fn link(&self) -> &QueueLink {
        &self.t_queue
    }

    /// Its sleep state (`sleepq`).
    #[inline(always)]
    pub(crate) fn sleep_state(&self) -> &ThreadSleep {
        &self.t_sleep
    }

    /// Its turnstile state (`sync`).
    #[inline(always)]
    pub(crate) fn ts_state(&self) -> &ThreadTs {
        &self.t_ts
    }

    /// Its LWP's signal state (`signal`).
    #[inline(always)]
    pub(crate) fn sig_state(&self) -> &ThreadSig {
        &self.t_signal
    }

    /// Its LWP's interruptible wait and park permit (`lwp`).
    #[inline(always)]
    pub(crate) fn lwp_wait(&self) -> &ThreadWait {
        &self.t_lwpwait
    }

    /// Its LWP's schedctl state (`schedctl`).
    #[inline(always)]
    pub(crate) fn sc(&self) -> &ScThread {
        &self.t_sc
    }

    /// The CPU the thread last ran on.
    #[inline]
    pub fn cpu(&self) -> usize {
        self.t_cpu.load(Ordering::Relaxed)
    }

    /// How many times the thread was switched in.
    #[inline]
    pub fn nswitch(&self) -> u64 {
        self.t_nswitch.load(Ordering::Relaxed)
    }

    /// Called by the CPU that switches the thread in, with interrupts off: no other
    /// CPU writes these meanwhile, so the count needs no atomic add.
    #[inline]
    pub(crate) fn note_switched_in(&self, cpu: usize) {
        debug_check!(!M::intr_enabled(), "{self:?} switched in with interrupts on");
        self.t_cpu.store(cpu, Ordering::Relaxed);
        self.t_nswitch.store(self.nswitch() + 1, Ordering::Relaxed);
    }

    /// Counts a switch away from it: `voluntary` if it sleeps, blocks or stops.
    /// By the CPU that switches it out, interrupts off: no atomic add.
    #[inline(always)]
    pub(crate) fn note_switched_out(&self, voluntary: bool) {
        let n = if voluntary { &self.t_nvcsw } else { &self.t_nivcsw };
        n.store(n.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// The switches away from it: (voluntary, involuntary), see `t_nvcsw`.
    #[inline]
    pub fn csw(&self) -> (u64, u64) {
        (self.t_nvcsw.load(Ordering::Relaxed), self.t_nivcsw.load(Ordering::Relaxed))
    }

    /// Its machine context (for the machine's switch).
    #[inline(always)]
    pub(crate) fn context(&self) -> &Context {
        &self.t_ctx
    }

    /// Its scheduling class.
    #[inline]
    pub fn class(&self) -> SchedClass {
        SchedClass::from_u8(self.t_cid.load(Ordering::Relaxed))
    }

    /// The global priority it runs at: its class's, or the one it inherited if higher.
    #[inline]
    pub fn pri(&self) -> u8 {
        self.base_pri().max(self.t_epri.load(Ordering::Relaxed))
    }

    /// The global priority its class gave it.
    #[inline]
    pub fn base_pri(&self) -> u8 {
        self.t_pri.load(Ordering::Relaxed)
    }

    /// The priority it inherited, if any.
    #[inline]
    pub fn inherited_pri(&self) -> Option<u8> {
        let e = self.t_epri.load(Ordering::Relaxed);
        (e != 0).then_some(e)
    }

    /// Changes the class priority. The caller makes sure the thread is on no
    /// dispatch queue, whose list is chosen by the priority (see `disp`).
    pub(crate) fn set_pri_raw(&self, pri: u8) {
        debug_check!(
            !self.t_queue.is_queued(Ordering::Relaxed),
            "{self:?}: class priority changed on a queue"
        );
        self.t_pri.store(pri, Ordering::Relaxed);
    }

    /// Changes the inherited priority: under the turnstile lock, and then the
    /// thread moves to its new priority's list if it is queued
    /// (`disp::change_epri`). Public for a dispatch queue exercised on its own,
    /// whose entries' priorities change while they are queued.
    pub fn set_epri_raw(&self, epri: Option<u8>) {
        self.t_epri.store(epri.unwrap_or(0), Ordering::Relaxed);
    }

    /// Puts a thread that is not yet runnable in `class` at global priority `pri`,
    /// with that priority's quantum: one just created (not yet given to
    /// `disp::setrun`), or a bare structure from [`KThread::boot`] that is only ever
    /// an entry of a dispatch queue ([`DispQ`](crate::dispq::DispQ)). The priority of a thread the
    /// dispatcher schedules changes through its class, never through this.
    pub fn set_class(&self, class: SchedClass, pri: u8) {
        debug_check!(
            !self.t_queue.is_queued(Ordering::Relaxed),
            "{self:?}: class set while queued"
        );
        self.change_class(class, pri);
    }

    /// Moves a thread the dispatcher schedules to `class` at `pri` (`priocntl`),
    /// with interrupts off: `disp::change_class` then moves it to its new
    /// priority's list if it is queued (a queue finds a thread by the priority it
    /// was queued at), or has its CPU look again if it runs.
    pub(crate) fn change_class(&self, class: SchedClass, pri: u8) {
        assert!(class.range().contains(&pri), "priority {pri} outside the {class:?} class");
        self.t_cid.store(class as u8, Ordering::Relaxed);
        self.t_pri.store(pri, Ordering::Relaxed);
        self.t_quantum.set(class::quantum(class, pri).unwrap_or(0));
    }

    /// The CPU it is bound to, if any.
    #[inline]
    pub fn bound_cpu(&self) -> Option<usize> {
        let b = self.t_bound.load(Ordering::Relaxed);
        (b != UNBOUND).then_some(b)
    }

    /// Binds the thread to `cpu`, or unbinds it (`None`), without moving it: for a
    /// thread that is not running. A thread not yet runnable then waits on that
    /// CPU's queue when made runnable; a queued one stays where it waits until a CPU
    /// takes it (once unbound, an idle CPU may steal it). A running thread binds
    /// itself, and moves, with [`disp::thread_bind`](crate::disp::thread_bind).
    pub fn set_bound(&self, cpu: Option<usize>) {
        self.t_bound.store(cpu.unwrap_or(UNBOUND), Ordering::Relaxed);
    }

    /// The LWP flags (`t_proc_flag`): what its LWP was asked to do at its next stop point.
    pub fn proc_flag(&self) -> TpFlags {
        TpFlags::from_bits_retain(self.t_proc_flag.load(Ordering::SeqCst))
    }

    /// Sets `f` in `t_proc_flag`, under the process's `p_lock`. A request to stop
    /// or to exit also makes a stop point due on the way back to user mode, and
    /// ends a park (a stop point too).
    pub(crate) fn set_proc_flag(&self, f: TpFlags) {
        debug_check!(
            self.t_procp.get().is_some_and(|p| p.p_lock.is_locked()),
            "{self:?}: LWP flags set without p_lock"
        );
        self.t_proc_flag.fetch_or(f.bits(), Ordering::SeqCst);
        if f.intersects(TpFlags::REQUESTS) {
            self.t_pending.set(pending::STOP);
            self.t_lwpwait.interrupt_park();
        }
    }

    /// Clears `f` in `t_proc_flag`, under the process's `p_lock` (or by the thread
    /// itself, its LWP gone); returns the flags as they were.
    pub(crate) fn clear_proc_flag(&self, f: TpFlags) -> TpFlags {
        debug_check!(
            self.is_curthread() || self.t_procp.get().is_some_and(|p| p.p_lock.is_locked()),
            "{self:?}: LWP flags cleared without p_lock"
        );
        TpFlags::from_bits_retain(self.t_proc_flag.fetch_and(!f.bits(), Ordering::SeqCst))
    }

    /// The wait channel it sleeps on, if asleep.
    pub fn wchan(&self) -> Option<usize> {
        self.t_sleep.wchan()
    }
}

impl core::fmt::Debug for KThread {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "thread {} '{}' ({:?})", self.id(), self.name(), self.state())
    }
}

/// The running thread (S7): one read of the current-thread register.
#[inline(always)]
pub fn curthread() -> &'static KThread {
    M::curthread::<KThread>()
}

/// The running thread's LWP (S7): one load from the current thread.
#[inline(always)]
pub fn curlwp() -> Option<&'static Lwp> {
    curthread().own_lwp()
}

/// The running thread's process (S7): one load from the current thread.
#[inline(always)]
pub fn curproc() -> Option<&'static Proc> {
    curthread().own_procp()
}

/// Takes a thread structure from the cache, or makes a new one, prepared to start
/// at `entry`. It is not runnable yet.
///
/// Errors: `EAGAIN` beyond `rctl::max_threads`; `ENOMEM` if there is no memory for
/// a stack or a structure, even after the cache gave its stacks back.
pub(super) fn thread_alloc(
    name: &'static str,
    entry: arch::ThreadEntry,
) -> Result<&'static KThread, Errno> {
    if !rctl::take(&NTHREADS, rctl::max_threads()) {
        return Err(Errno::EAGAIN);
    }
    let Some(t) = structure_alloc(name, entry) else {
        rctl::give(&NTHREADS);
        return Err(Errno::ENOMEM);
    };
    t.t_id.store(NEXT_ID.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
    *t.t_name.lock() = name;
    t.t_lwp.set(None);
    t.t_procp.set(None);
    t.t_proc_flag.store(0, Ordering::SeqCst);
    t.t_swap.reset();
    t.t_pending.take(!PendingWork::MACHINE);
    t.t_nswitch.store(0, Ordering::Relaxed);
    t.t_nvcsw.store(0, Ordering::Relaxed);
    t.t_nivcsw.store(0, Ordering::Relaxed);
    t.t_disp.reset();
    t.t_sleep.reset();
    t.t_ts.reset();
    t.t_signal.reset();
    t.t_lwpwait.reset();
    t.t_sc.reset();
    t.set_bound(None);
    t.set_class(SchedClass::Sys, class::SYS_PRI);
    t.set_epri_raw(None);
    t.set_state(ThreadState::Free);
    Ok(t)
}

/// A thread structure with a stack prepared to start at `entry`: a cached one, or a
/// new one. (A heap that is short has already had the caches give their memory
/// back before it refuses: `arch::kmem::set_reclaim`.)
fn structure_alloc(name: &'static str, entry: arch::ThreadEntry) -> Option<&'static KThread> {
    let cached = THREAD_CACHE.lock().pop();
    if let Some(t) = cached {
        if M::context_reset(&t.t_ctx, DEFAULT_STACKSIZE, entry, 0).is_ok() {
            return Some(t);
        }
        // No memory for its stack: it stays cached, without one.
        THREAD_CACHE.lock().push(t);
        return None;
    }
    let ctx = M::context_new(DEFAULT_STACKSIZE, entry, 0).ok()?;
    let mut t = KThread::boot(name);
    t.t_ctx = ctx;
    let t = alloc::boxed::Box::leak(kmem::try_box(t).ok()?);
    NALLOCATED.fetch_add(1, Ordering::Relaxed);
    enlist(t);
    Some(t)
}

/// Gives the stacks of every cached thread back to the heap (memory runs low).
/// Returns how many it freed.
pub fn cache_reap() -> usize {
    // The list is taken whole, emptied outside the lock, and put back.
    let mut list = core::mem::replace(&mut *THREAD_CACHE.lock(), Cache { head: None, len: 0 });
    let mut freed = 0;
    let mut cur = list.head;
    while let Some(t) = cur {
        freed += usize::from(M::context_release_stack(&t.t_ctx));
        cur = t.t_queue.next();
    }
    let mut c = THREAD_CACHE.lock();
    while let Some(t) = list.pop() {
        c.push(t);
    }
    freed
}

/// Creates a CPU's idle thread: it runs when nothing else can, and never queues.
pub(crate) fn idle_thread_create(idle: fn(usize) -> !) -> &'static KThread {
    thread_alloc("idle", idle).unwrap_or_else(|e| panic!("no idle thread: {e}"))
}

/// Gives back a thread made by [`life::thread_create_stopped`] that never ran.
pub(crate) fn discard(t: &'static KThread) {
    debug_check!(t.never_ran(), "{t:?} discarded after it ran");
    t.take_start();
    reap(t);
}

/// Puts an exited thread, whose stack is no longer in use, in the cache: without
/// its stack if the heap runs low (less than an eighth of it free).
pub(crate) fn reap(t: &'static KThread) {
    debug_check!(!t.t_disp.oncpu(), "{t:?} reaped on its CPU");
    t.set_state(ThreadState::Free);
    let heap = M::heap_stats();
    if heap.free() < heap.total / 8 {
        M::context_release_stack(&t.t_ctx);
    }
    THREAD_CACHE.lock().push(t);
    rctl::give(&NTHREADS);
}

/// Threads made and not yet reaped.
pub fn nthreads() -> u32 {
    NTHREADS.load(Ordering::Relaxed)
}

/// Threads in the cache that still have their stacks.
pub fn cached_stacks() -> usize {
    let c = THREAD_CACHE.lock();
    core::iter::successors(c.head, |t| t.t_queue.next())
        .filter(|t| M::context_stack_bytes(&t.t_ctx) > 0)
        .count()
}

/// Thread structures allocated since boot, in use or cached.
pub fn nthreads_allocated() -> usize {
    NALLOCATED.load(Ordering::Relaxed)
}
