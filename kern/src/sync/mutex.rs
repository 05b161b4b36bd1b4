//! Mutual-exclusion locks (S8) whose behaviour when busy is chosen at
//! initialization (S9): spin, block, or adaptive.
//!
//! # Theory
//!
//! A mutex is one word: free, or the owning thread plus a `WAITERS` flag (see
//! `lockword`). Entering a free mutex and leaving one that nobody waits for are one
//! compare-and-swap each; everything else is the slow path.
//!
//! * **Spin** (`MutexKind::Spin`): the thread busy-waits until the word is free and
//!   takes it with interrupts disabled, and keeps them off until it leaves.
//!   Interrupt handlers may take such a mutex: no handler can find it held by the
//!   thread it interrupted. (While it only waits, the thread keeps the interrupt
//!   level it came with, and disables interrupts to try the word: a CPU does not
//!   miss its clock for the time another CPU holds the lock.) The holder must not
//!   block; spin mutexes are left in the reverse order of entry (each restores the
//!   interrupt state its entry found).
//! * **Block** (`MutexKind::Block`): a busy mutex always puts the thread to sleep on
//!   the mutex's turnstile until the owner hands the mutex over.
//! * **Adaptive** (`MutexKind::Adaptive`, the default): spin while the owner is
//!   running on a CPU (it will probably leave soon, sooner than a sleep and a
//!   wakeup would take), block as soon as it is not. A spinner also blocks when the
//!   owner is itself spinning for another adaptive mutex: threads spinning for each
//!   other's locks would otherwise spin forever, where blocking lets the turnstile
//!   see the cycle (each spinner announces itself before it looks at the owner, so
//!   of two such threads at least one sees the other).
//!
//! Blocking: under the turnstile lock the waiter sets `WAITERS` on the held word
//! (and gives up if the mutex was freed meanwhile, or, adaptive, if its owner is on
//! a CPU again), then blocks on the turnstile, lending its priority to the owner
//! (`turnstile`). The owner's fast exit fails because of the flag, so it takes the
//! turnstile lock and hands the mutex to the highest-priority waiter: the waiter
//! wakes up owning it. No wakeup is lost: the flag is set and the waiter queued in
//! one hold of the turnstile lock, and the exit reads the queue under that lock.
//!
//! Handing the mutex over (rather than freeing it and waking the waiters to compete
//! for it, as Solaris' `mutex_vector_exit` does) keeps the priority order exact
//! and starves nobody, and is what Solaris does for its priority-inheritance user
//! mutexes. Its cost is the convoy: under sustained contention the mutex goes from
//! one sleeping waiter to the next, and a spinner finds the new owner not yet
//! running and blocks too (`sync_mutex_counter_adaptive` shows it: on several CPUs
//! most adaptive spins end in a block).
//!
//! The owner is always known, so a recursive entry or an exit by another thread is
//! caught and reported, naming both threads, as the kernel bug it is.

use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::AtomicBool;
use core::sync::atomic::Ordering::Relaxed;

use arch::cell::{Tagged, TaggedRef};
use arch::Machine;

use super::lockword as lw;
use super::turnstile::{self, WaitKind};
use super::STATS;
use crate::disp;
use crate::thread::{curthread, KThread};
use crate::M;

/// What a thread does when the mutex it wants is busy (S9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MutexKind {
    /// Spin while the owner runs on a CPU, else block. The default.
    Adaptive = 0,
    /// Busy-wait with interrupts disabled; usable from interrupt handlers.
    Spin = 1,
    /// Sleep until released.
    Block = 2,
}

/// A kernel mutex (Solaris' `kmutex_t`): [`enter`](KMutex::enter) and
/// [`exit`](KMutex::exit), with no data attached. [`Mutex`] wraps one around data.
pub struct KMutex {
    word: TaggedRef<KThread>,
    kind: MutexKind,
    /// A spin mutex: whether interrupts were enabled when its owner entered.
    /// Written by the owner after entering, read by it before leaving.
    spin_intr: AtomicBool,
}

impl KMutex {
    /// A free mutex of `kind`.
    pub const fn new(kind: MutexKind) -> KMutex {
        KMutex { word: TaggedRef::new_num(0, 0), kind, spin_intr: AtomicBool::new(false) }
    }

    /// A free adaptive mutex.
    pub const fn adaptive() -> KMutex {
        KMutex::new(MutexKind::Adaptive)
    }

    /// What it does when busy: adaptive, spin or block (fixed at creation).
    pub fn kind(&self) -> MutexKind {
        self.kind
    }

    /// The lock word's address: the mutex's name on its turnstile and in reports.
    pub fn addr(&self) -> usize {
        &self.word as *const TaggedRef<KThread> as usize
    }

    /// The thread holding the mutex, if any.
    pub fn owner(&self) -> Option<&'static KThread> {
        self.word.load(Relaxed).as_ref()
    }

    /// Whether the current thread holds it (Solaris' `mutex_owned`).
    pub fn held(&self) -> bool {
        self.owner().is_some_and(|o| core::ptr::eq(o, curthread()))
    }

    /// Panics unless the current thread holds it.
    #[track_caller]
    pub fn assert_held(&self) {
        if !self.held() {
            panic!(
                "{:?} does not hold mutex {:#x} (held by {:?})",
                curthread(),
                self.addr(),
                self.owner()
            );
        }
    }

    /// Enters the mutex, waiting as its kind says.
    #[inline]
    pub fn enter(&self) {
        let me = curthread();
        if self.kind() == MutexKind::Spin {
            let was = M::intr_disable();
            if lw::mutex_try_enter(&self.word, me).is_err() {
                self.spin_wait(me, was);
            }
            self.spin_intr.store(was, Relaxed);
        } else if lw::mutex_try_enter(&self.word, me).is_err() {
            self.vector_enter(me);
        }
    }

    /// Enters the mutex if it is free; never waits.
    #[must_use = "the caller holds the mutex only if this is true"]
    pub fn try_enter(&self) -> bool {
        let me = curthread();
        let spin = self.kind() == MutexKind::Spin;
        let was = if spin { M::intr_disable() } else { false };
        match lw::mutex_try_enter(&self.word, me) {
            Ok(()) => {
                if spin {
                    self.spin_intr.store(was, Relaxed);
                }
                true
            }
            Err(v) => {
                if spin {
                    M::intr_restore(was);
                }
                self.check_not_mine(me, v);
                false
            }
        }
    }

    /// Leaves the mutex, handing it to the first waiter if any.
    #[inline]
    pub fn exit(&self) {
        let me = curthread();
        if self.kind() == MutexKind::Spin {
            // Read before the release: the next owner overwrites it.
            let was = self.spin_intr.load(Relaxed);
            if let Err(v) = lw::mutex_exit_fast(&self.word, me) {
                self.bad_exit(me, v);
            }
            M::intr_restore(was);
        } else if let Err(v) = lw::mutex_exit_fast(&self.word, me) {
            self.vector_exit(me, v);
        }
    }

    #[cold]
    #[track_caller]
    fn check_not_mine(&self, me: &'static KThread, v: Tagged<KThread>) {
        if lw::is_writer(v, me) {
            panic!("recursive mutex_enter: {me:?} already holds mutex {:#x}", self.addr());
        }
    }

    #[cold]
    fn bad_exit(&self, me: &'static KThread, v: Tagged<KThread>) -> ! {
        match v.as_ref() {
            Some(o) => panic!(
                "mutex_exit by a non-owner: {me:?} exits mutex {:#x}, held by {o:?}",
                self.addr()
            ),
            None => panic!(
                "mutex_exit of a free mutex: {me:?} exits mutex {:#x}, held by nobody",
                self.addr()
            ),
        }
    }

    /// A busy spin mutex: spin until it is free and take it, returning with
    /// interrupts off. While it only waits, the thread runs with interrupts as its
    /// caller had them (`was`), as Solaris' `lock_set_spl` does: a CPU waiting for
    /// a spin lock still takes its interrupts (its clock ticks), and interrupts go
    /// off only to try the lock.
    #[cold]
    #[inline(never)]
    fn spin_wait(&self, me: &'static KThread, was: bool) {
        STATS.spin_waits.fetch_add(1, Relaxed);
        loop {
            M::intr_restore(was);
            loop {
                match self.word.load(Relaxed) {
                    Tagged::Num(..) => break,
                    v => self.check_not_mine(me, v),
                }
                M::relax();
            }
            M::intr_disable();
            if lw::mutex_try_enter(&self.word, me).is_ok() {
                return;
            }
        }
    }

    /// A busy adaptive or blocking mutex.
    #[cold]
    #[inline(never)]
    fn vector_enter(&self, me: &'static KThread) {
        let adaptive = self.kind() == MutexKind::Adaptive;
        let mut spinning = false;
        loop {
            match self.word.load(Relaxed) {
                Tagged::Num(..) => {
                    if lw::mutex_try_enter(&self.word, me).is_ok() {
                        break;
                    }
                    continue;
                }
                Tagged::Ref(o, _) => {
                    self.check_not_mine(me, Tagged::Ref(o, 0));
                    if adaptive && disp::is_running(o) {
                        if !spinning {
                            spinning = true;
                            STATS.adaptive_spins.fetch_add(1, Relaxed);
                            turnstile::set_spinning(me, true);
                        }
                        if !turnstile::is_spinning(o) {
                            M::relax();
                            continue;
                        }
                    }
                    if spinning {
                        spinning = false;
                        turnstile::set_spinning(me, false);
                    }
                    if self.block(me, adaptive) {
                        break;
                    }
                }
            }
        }
        if spinning {
            turnstile::set_spinning(me, false);
        }
    }

    /// Blocks on the turnstile until handed the mutex (true), unless the mutex is
    /// free, or (adaptive) its owner runs again (false: try again).
    fn block(&self, me: &'static KThread, adaptive: bool) -> bool {
        if !M::intr_enabled() {
            panic!(
                "{me:?} would block on mutex {:#x} with interrupts disabled (in an interrupt \
                 handler, or holding a spin mutex)",
                self.addr()
            );
        }
        let was = M::intr_disable();
        let tbl = turnstile::lock();
        let owner = match lw::mutex_mark_waiters(&self.word) {
            None => None,
            Some(o) if adaptive && disp::is_running(o) && !turnstile::is_spinning(o) => None,
            Some(o) => Some(o),
        };
        let Some(owner) = owner else {
            drop(tbl);
            M::intr_restore(was);
            return false;
        };
        STATS.blocks.fetch_add(1, Relaxed);
        turnstile::block(tbl, self.addr(), Some(owner), WaitKind::Mutex);
        M::intr_restore(was);
        let now = self.word.load(Relaxed);
        assert!(
            lw::is_writer(now, me),
            "{me:?} woke up on mutex {:#x} without holding it ({now:?})",
            self.addr()
        );
        true
    }

    /// An exit whose fast path failed: waiters to hand over to, or a bug.
    #[cold]
    #[inline(never)]
    fn vector_exit(&self, me: &'static KThread, v: Tagged<KThread>) {
        if !lw::is_writer(v, me) {
            self.bad_exit(me, v);
        }
        let sobj = self.addr();
        let was = M::intr_disable();
        {
            let mut tbl = turnstile::lock();
            let next = tbl.pop(sobj);
            let more = tbl.nwaiters(sobj) > 0;
            lw::mutex_handoff(&self.word, me, next, more);
            tbl.set_owner(sobj, next);
            if let Some(n) = next {
                STATS.handoffs.fetch_add(1, Relaxed);
                tbl.inherit(n);
                tbl.wake(n);
            }
            tbl.undo_inheritance(me);
        }
        M::intr_restore(was);
        // The new owner may outrank us.
        disp::kpreempt();
    }
}

impl Default for KMutex {
    fn default() -> Self {
        KMutex::adaptive()
    }
}

impl core::fmt::Debug for KMutex {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "KMutex({:?} {:#x}, {:?})", self.kind(), self.addr(), self.word.load(Relaxed))
    }
}

/// Data behind a kernel mutex: `lock()` returns a guard that leaves the mutex when
/// dropped.
///
/// The data sits in a `spin` cell that the mutex's owner, and only it, opens with
/// `try_lock` right after entering: the cell lets safe code hand out `&mut T`, and
/// its lock is never contended (finding it taken would be a kernel bug, reported).
pub struct Mutex<T> {
    raw: KMutex,
    data: spin::mutex::SpinMutex<T>,
}

/// The current thread holds the mutex while this lives; dropping it leaves the
/// mutex. It is not `Send`: the thread that entered must leave.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T> {
    pub(super) mutex: &'a Mutex<T>,
    pub(super) data: Option<spin::mutex::SpinMutexGuard<'a, T>>,
    _not_send: PhantomData<*const ()>,
}

impl<T> Mutex<T> {
    /// An adaptive mutex around `value`.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex::with_kind(MutexKind::Adaptive, value)
    }

    /// A mutex of `kind` around `value`.
    pub const fn with_kind(kind: MutexKind, value: T) -> Mutex<T> {
        Mutex { raw: KMutex::new(kind), data: spin::mutex::SpinMutex::new(value) }
    }

    /// Enters the mutex; the guard leaves it.
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.raw.enter();
        self.guard()
    }

    /// Enters the mutex if it is free.
    #[must_use = "the mutex is left as soon as the guard is dropped"]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.raw.try_enter().then(|| self.guard())
    }

    /// The kernel mutex underneath.
    pub fn raw(&self) -> &KMutex {
        &self.raw
    }

    /// Whether the current thread holds it.
    pub fn held(&self) -> bool {
        self.raw.held()
    }

    /// The data, through exclusive access to the whole mutex.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    #[inline]
    pub(super) fn open(&self) -> spin::mutex::SpinMutexGuard<'_, T> {
        match self.data.try_lock() {
            Some(g) => g,
            None => panic!("{:?}: the data of a held mutex is in use elsewhere", self.raw),
        }
    }

    fn guard(&self) -> MutexGuard<'_, T> {
        MutexGuard { mutex: self, data: Some(self.open()), _not_send: PhantomData }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.data.as_ref().expect("guard without its data")
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.data.as_mut().expect("guard without its data")
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // Close the data before the mutex lets the next owner in.
        self.data = None;
        self.mutex.raw.exit();
    }
}
