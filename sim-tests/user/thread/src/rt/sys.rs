//! The library's view of its machine and kernel on sparc64: the current thread
//! (`%g7`), LWP mutexes through their addresses ([`Native`], for `lwpmutex`),
//! the schedctl slot of the LWP a thread runs on, the atomic words of the
//! library's objects and threads in the machine's Total Store Order ([`LockWord`],
//! [`StateWord`], [`Counter`]: no barrier instructions), and [`Locked`], the library's own
//! lock around its data: an adaptive LWP mutex held with `sc_nopreempt` set.

use core::arch::asm;
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use lwp_abi::{sc_shared_addr, LwpMutex, SC_NOPREEMPT, SC_ONPROC, SC_STATE, SC_YIELD};
use lwp_user::{lwp_mutex_timedlock, lwp_mutex_unlock, lwp_self, yield_now};

use super::stats::STATS;
use super::thread::{Lwp, Thread};
use crate::lwpmutex::{self, Error, LwpSys, SyncKind};
use crate::{lockword, wait};

/// The thread the calling code runs as: `%g7` (the register S7 gives the kernel's
/// current thread; the kernel keeps user mode's own, which Solaris' libthread
/// makes the current thread too), or none in an LWP the library did not make.
#[inline(always)]
pub(crate) fn current_opt() -> Option<&'static Thread> {
    let t: usize;
    // SAFETY: reads a register. The kernel starts every LWP with 0 there, and the
    // library (`thread`, `switch`) only ever puts there the address of a `Thread`
    // of its static table, which lives for the whole program.
    unsafe { asm!("mov %g7, {0}", out(reg) t, options(nomem, nostack, preserves_flags)) };
    // SAFETY: see above.
    (t != 0).then(|| unsafe { &*(t as *const Thread) })
}

/// The current thread; a program that uses threads calls `calls::init` first.
#[inline(always)]
pub(crate) fn current() -> &'static Thread {
    current_opt().unwrap_or_else(|| broken("no thread: call lwp_thread::init first"))
}

/// The 32-bit word at user address `addr`, which must be a live, 4-aligned word
/// of this program: every address the library hands here comes from a reference
/// or from the kernel (`schedctl`'s pages, mapped for the process's whole life).
#[inline(always)]
pub(crate) fn word(addr: u64) -> &'static AtomicU32 {
    // SAFETY: see above; an `AtomicU32` has the layout of a `u32`.
    unsafe { &*(addr as *const AtomicU32) }
}

/// The library's LWP-level calls: LWP mutexes on this machine.
pub(crate) struct Native;

impl LwpSys for Native {
    #[inline(always)]
    fn lwp_self() -> u32 {
        current_opt().map_or_else(kernel_lwp_self, Thread::lwp_id)
    }
    #[inline(always)]
    fn cas(addr: u64, old: u32, new: u32) -> u32 {
        match word(addr).compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(v) | Err(v) => v,
        }
    }
    #[inline(always)]
    fn load(addr: u64) -> u32 {
        word(addr).load(Ordering::Acquire)
    }
    fn store(addr: u64, v: u32) {
        word(addr).store(v, Ordering::Release)
    }
    fn on_cpu(id: u32) -> bool {
        // Every LWP of the library has asked for its slot before it can own a lock.
        word(sc_shared_addr(id) + SC_STATE).load(Ordering::Acquire) == SC_ONPROC
    }
    fn timedlock(addr: u64) -> Result<(), Error> {
        // SAFETY: `addr` is the address of a live LwpMutex (see `word`).
        lwp_mutex_timedlock(unsafe { &*(addr as *const LwpMutex) }, None)
    }
    fn unlock(addr: u64) -> Result<(), Error> {
        // SAFETY: as in `timedlock`.
        lwp_mutex_unlock(unsafe { &*(addr as *const LwpMutex) })
    }
    fn yield_lwp() {
        let _ = yield_now();
    }
    #[inline(always)]
    fn pause() {
        core::hint::spin_loop();
    }
}

/// Compare-and-swap of `w` from `old` to `new`: what it held.
///
/// Rust's atomics would put a `membar` on each side of the `cas` for acquire and
/// release ordering; the kernel runs user mode in Total Store Order
/// (`PSTATE.MM` = 0), where a `cas` already keeps every earlier load and store
/// before it and every later one after it, so they would order nothing. The asm
/// claims to touch memory, so the compiler moves no access across it either.
#[inline(always)]
fn cas(w: &AtomicU32, old: u32, new: u32) -> u32 {
    let mut v = new;
    // SAFETY: `w` is a live, 4-aligned word (an `AtomicU32`), which `cas` reads
    // and writes atomically.
    unsafe {
        asm!(
            "cas [{a}], {o}, {v}",
            a = in(reg) w.as_ptr(),
            o = in(reg) old,
            v = inout(reg) v,
            options(nostack, preserves_flags)
        )
    };
    v
}

/// [`cas`] of a 64-bit word (`casx`).
#[inline(always)]
fn casx(w: &AtomicU64, old: u64, new: u64) -> u64 {
    let mut v = new;
    // SAFETY: `w` is a live, 8-aligned word (an `AtomicU64`), which `casx` reads
    // and writes atomically.
    unsafe {
        asm!(
            "casx [{a}], {o}, {v}",
            a = in(reg) w.as_ptr(),
            o = in(reg) old,
            v = inout(reg) v,
            options(nostack, preserves_flags)
        )
    };
    v
}

/// Keeps the compiler from moving memory accesses across this point, with no
/// instruction (`compiler_fence` puts a `membar` here).
#[inline(always)]
fn compiler_barrier() {
    // SAFETY: an empty asm: it only claims to touch memory.
    unsafe { asm!("", options(nostack, preserves_flags)) };
}

/// A load in Total Store Order: every load is an acquire, so `o` binds the
/// compiler only (a sequentially consistent one is left to `core`).
#[inline(always)]
fn tso_load<T>(plain: impl FnOnce(Ordering) -> T, o: Ordering) -> T {
    if o == Ordering::SeqCst {
        return plain(o);
    }
    let v = plain(Ordering::Relaxed);
    if o != Ordering::Relaxed {
        compiler_barrier();
    }
    v
}

/// A store in Total Store Order: every store is a release (see [`tso_load`]).
#[inline(always)]
fn tso_store(plain: impl FnOnce(Ordering), o: Ordering) {
    if o == Ordering::SeqCst {
        return plain(o);
    }
    if o != Ordering::Relaxed {
        compiler_barrier();
    }
    plain(Ordering::Relaxed)
}

/// A lock word of the library's mutexes and reader-writer locks
/// (`lockword::Word`), whose steps take no `membar`: see [`cas`] and
/// [`tso_load`].
#[repr(transparent)]
pub(crate) struct LockWord(AtomicU64);

impl LockWord {
    pub(crate) const fn new(v: u64) -> LockWord {
        LockWord(AtomicU64::new(v))
    }
}

impl lockword::Word for LockWord {
    #[inline(always)]
    fn load(&self, o: Ordering) -> u64 {
        tso_load(|o| self.0.load(o), o)
    }
    #[inline(always)]
    fn store(&self, v: u64, o: Ordering) {
        tso_store(|o| self.0.store(v, o), o)
    }
    #[inline(always)]
    fn compare_exchange(&self, cur: u64, new: u64, _: Ordering, _: Ordering) -> Result<u64, u64> {
        match casx(&self.0, cur, new) {
            v if v == cur => Ok(v),
            v => Err(v),
        }
    }
    #[inline(always)]
    fn fetch_add(&self, v: u64, o: Ordering) -> u64 {
        self.0.fetch_add(v, o)
    }
}

/// A thread's wait state (`wait::State`), whose steps take no `membar`: see
/// [`cas`] and [`tso_load`].
#[repr(transparent)]
pub(crate) struct StateWord(AtomicU32);

impl StateWord {
    pub(crate) const fn new(v: u32) -> StateWord {
        StateWord(AtomicU32::new(v))
    }
}

impl wait::State for StateWord {
    #[inline(always)]
    fn load(&self) -> u32 {
        tso_load(|o| self.0.load(o), Ordering::Acquire)
    }
    #[inline(always)]
    fn store(&self, v: u32) {
        tso_store(|o| self.0.store(v, o), Ordering::Release)
    }
    #[inline(always)]
    fn cas(&self, cur: u32, new: u32) -> Result<u32, u32> {
        match cas(&self.0, cur, new) {
            v if v == cur => Ok(v),
            v => Err(v),
        }
    }
}

/// A counter of a library object (a condition variable's sequence number and
/// waiters), whose steps take no `membar`: its loads are acquire loads, and its
/// [`Counter::add`] a `casx`, which orders every access around it (see [`cas`]).
#[repr(transparent)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) const fn new(v: u64) -> Counter {
        Counter(AtomicU64::new(v))
    }

    #[inline(always)]
    pub(crate) fn load(&self) -> u64 {
        tso_load(|o| self.0.load(o), Ordering::Acquire)
    }

    /// Adds `d` (wrapping: a negative step is its two's complement).
    #[inline(always)]
    pub(crate) fn add(&self, d: u64) {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            match casx(&self.0, cur, cur.wrapping_add(d)) {
                v if v == cur => return,
                v => cur = v,
            }
        }
    }
}

/// The calling LWP's id, from the kernel (before the library knows it).
pub(crate) fn kernel_lwp_self() -> u32 {
    lwp_self().unwrap_or(0)
}

/// Sets or clears `sc_nopreempt` in the schedctl slot at `sc` (the calling
/// LWP's, 0 if it has none); clearing it yields if the kernel asked for it
/// meanwhile (`sc_yield`).
#[inline(always)]
fn nopreempt(sc: u64, on: bool) {
    if sc == 0 {
        return;
    }
    word(sc + SC_NOPREEMPT).store(u32::from(on), Ordering::Relaxed);
    if !on && word(sc + SC_YIELD).load(Ordering::Relaxed) != 0 {
        kernel_yield();
    }
}

#[cold]
#[inline(never)]
fn kernel_yield() {
    STATS.kernel_yields.fetch_add(1, Ordering::Relaxed);
    let _ = yield_now();
}

/// Data behind an adaptive LWP mutex that is held with `sc_nopreempt` set (a lock
/// held for a few instructions: its holder asks not to be preempted meanwhile).
/// `#[repr(C)]`: the mutex first, at the object's own address, which `cas`
/// (that takes no offset) reaches without an addition.
#[repr(C)]
pub(crate) struct Locked<T> {
    m: LwpMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the data is reached only through a guard, or `raw` under the lock; one
// LWP at a time holds the LWP mutex around it.
unsafe impl<T: Send> Sync for Locked<T> {}

/// The data of a held [`Locked`]; dropping it unlocks.
pub(crate) struct Guard<'a, T> {
    lock: &'a Locked<T>,
}

impl<T> Locked<T> {
    pub(crate) const fn new(data: T) -> Locked<T> {
        Locked { m: LwpMutex::new(), data: UnsafeCell::new(data) }
    }

    fn addr(&self) -> u64 {
        &self.m as *const LwpMutex as u64
    }

    /// Takes the lock; the guard leaves it.
    #[inline(always)]
    pub(crate) fn lock(&self) -> Guard<'_, T> {
        self.acquire();
        Guard { lock: self }
    }

    /// Takes the lock without a guard: for a lock held across a switch and left
    /// by the thread that runs next on the LWP ([`Locked::release`]). The calling
    /// code runs as a thread (`current`).
    #[inline(always)]
    pub(crate) fn acquire(&self) {
        let me = current();
        self.take(me.sc(), me.lwp_id());
    }

    /// [`Locked::acquire`] by a thread that knows the LWP it runs on.
    #[inline(always)]
    pub(crate) fn acquire_on(&self, lwp: &Lwp) {
        self.take(lwp.sc(), lwp.id());
    }

    /// Takes the lock for LWP `id`, whose schedctl slot is at `sc`.
    #[inline(always)]
    fn take(&self, sc: u64, id: u32) {
        nopreempt(sc, true);
        if cas(&self.m.lock, 0, id) != 0 {
            self.acquire_slow();
        }
    }

    #[cold]
    #[inline(never)]
    fn acquire_slow(&self) {
        if lwpmutex::lock::<Native>(self.addr(), SyncKind::Adaptive).is_err() {
            broken("a library lock could not be taken");
        }
    }

    /// Leaves a lock taken with [`Locked::acquire`] (by this LWP).
    #[inline(always)]
    pub(crate) fn release(&self) {
        let me = current();
        self.leave(me.sc(), me.lwp_id());
    }

    /// [`Locked::release`] by a thread that knows the LWP it runs on.
    #[inline(always)]
    pub(crate) fn release_on(&self, lwp: &Lwp) {
        self.leave(lwp.sc(), lwp.id());
    }

    /// Leaves the lock that LWP `id` holds, whose schedctl slot is at `sc`.
    #[inline(always)]
    fn leave(&self, sc: u64, id: u32) {
        if cas(&self.m.lock, id, 0) != id {
            self.release_slow();
        }
        nopreempt(sc, false);
    }

    #[cold]
    #[inline(never)]
    fn release_slow(&self) {
        if lwpmutex::unlock::<Native>(self.addr()).is_err() {
            broken("a library lock could not be left");
        }
    }

    /// The data, while the caller holds the lock (taken with `acquire`).
    ///
    /// # Safety
    ///
    /// The calling LWP holds the lock, and no other reference to the data lives.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn raw(&self) -> &mut T {
        // SAFETY: the caller's promise.
        unsafe { &mut *self.data.get() }
    }
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while its LWP holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and `&mut self` makes this the only reference.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        self.lock.release();
    }
}

/// The library's own state is broken (a lock it holds is refused by the kernel):
/// nothing it does can be trusted any more.
#[cold]
pub(crate) fn broken(what: &str) -> ! {
    lwp_user::fail("lwp-thread", 120, format_args!("{what}"))
}
