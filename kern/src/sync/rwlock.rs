//! Reader-writer locks (S8): many readers or one writer, waiting when busy as
//! the kind chosen at initialization says (S9).
//!
//! # Theory
//!
//! The lock is one word (see `lockword`): a count of readers, or the writer that
//! holds it, and two flags, `WAITERS` (threads block on its turnstile) and
//! `WRITE_WANTED` (a writer is among them). Entering to read is incrementing a
//! count whose flags are clear; entering to write is taking a free word; leaving is
//! the reverse. Anything else goes through the turnstile lock.
//!
//! * **Writers are not starved.** A writer that has to wait sets `WRITE_WANTED`,
//!   and from then on readers that arrive block too, even though the lock is only
//!   read-held, and they queue behind the waiting writers whatever their priority:
//!   the readers inside drain out and the last one hands the lock to the writer.
//!   (A stream of readers, or of higher-priority readers, could otherwise keep the
//!   writer out forever.)
//! * **Hand-off.** The waiters queue by priority on the turnstile. The thread that
//!   frees the lock (the writer, or the last reader) gives it to the first waiter:
//!   to that writer alone, or to that reader together with every reader queued
//!   before the next writer, all at once (the word becomes their count). The flags
//!   stay set while anyone waits.
//! * **Downgrade** turns the writer into a reader, and lets in the readers queued
//!   before the first waiting writer with it. **Upgrade** is only tried: it
//!   succeeds if the caller is the only reader and no writer waits, since two
//!   readers that both wait to upgrade would wait for each other forever.
//! * **Priority inheritance** goes to the writer that holds the lock. Readers are
//!   not tracked (a count has no names), so a read-held lock lends nobody its
//!   waiters' priority, and a deadlock through read holds is not detected: the
//!   same trade Solaris makes.
//!
//! # Kinds (S9)
//!
//! * **Block** (`MutexKind::Block`, what [`KRwLock::new`] makes, as Solaris'
//!   `rw_init` does): a busy lock puts the thread on its turnstile at once, as
//!   described above.
//! * **Adaptive**: a thread that finds the lock write-held by a writer running on
//!   a CPU spins until the word changes, as for an adaptive mutex (and, as there,
//!   not behind a writer that itself spins for an adaptive lock, so that spinners
//!   cannot wait for each other forever). A lock held by readers makes it block at
//!   once: the readers are a count, not names, so nothing says whether they run.
//!   (Spinning for a bounded time on readers would guess; blocking is the rule the
//!   word can check.) Having marked the word under the turnstile lock, a thread
//!   whose writer runs again gives up and spins again; the flags it leaves make the
//!   writer's exit take the slow path, which frees the lock if nobody is queued.
//! * **Spin**: waiters busy-wait for the word, with the interrupt level they came
//!   with, and never touch the turnstile, so the word of a spin lock never has
//!   flags and every exit is the fast one. Holding is the caller's business, unlike
//!   a spin mutex: the fast paths, shared by every kind, leave interrupts alone (a
//!   read hold has no place in the lock to keep the interrupt state it found, and
//!   keeping it elsewhere would cost the blocking kinds' fast paths a test). A waiter
//!   may spin with interrupts off, and an interrupt handler may take the lock, only
//!   if every holder holds it with interrupts off (or on another CPU): otherwise the
//!   handler may spin forever on the thread it interrupted. Likewise a holder that
//!   may be preempted by a higher-priority thread spinning for the lock on its CPU
//!   should hold it with interrupts off. Nothing keeps new readers out while a
//!   writer spins (`WRITE_WANTED` belongs to the turnstile): a spin rwlock suits
//!   short read sections.

use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::Ordering::Relaxed;

use arch::cell::{Tagged, TaggedRef};
use arch::Machine;

use super::lockword::{self as lw, Marked};
use super::mutex::MutexKind;
use super::turnstile::{self, Table, WaitKind};
use super::STATS;
use crate::disp;
use crate::thread::{curthread, KThread};
use crate::M;

/// How a reader-writer lock is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RwMode {
    /// Shared, with other readers (`RW_READER`).
    Read,
    /// Exclusive (`RW_WRITER`).
    Write,
}

/// A kernel reader-writer lock (Solaris' `krwlock_t`), with no data attached.
/// [`RwLock`] wraps one around data.
pub struct KRwLock {
    word: TaggedRef<KThread>,
    kind: MutexKind,
}

impl KRwLock {
    /// A free blocking lock: no readers, no writer (`rw_init`).
    pub const fn new() -> KRwLock {
        KRwLock::with_kind(MutexKind::Block)
    }

    /// A free lock of `kind`.
    pub const fn with_kind(kind: MutexKind) -> KRwLock {
        KRwLock { word: TaggedRef::new_num(0, 0), kind }
    }

    /// What it does when busy: block, adaptive or spin (fixed at creation).
    pub fn kind(&self) -> MutexKind {
        self.kind
    }

    /// The lock word's address: the lock's name on its turnstile and in reports.
    pub fn addr(&self) -> usize {
        &self.word as *const TaggedRef<KThread> as usize
    }

    /// The writer holding it, if any.
    pub fn writer(&self) -> Option<&'static KThread> {
        self.word.load(Relaxed).as_ref()
    }

    /// How many readers hold it.
    pub fn readers(&self) -> usize {
        match self.word.load(Relaxed) {
            Tagged::Num(n, _) => n,
            Tagged::Ref(..) => 0,
        }
    }

    /// Whether the current thread holds it for writing.
    pub fn write_held(&self) -> bool {
        self.writer().is_some_and(|w| core::ptr::eq(w, curthread()))
    }

    /// Whether some thread holds it for reading (readers are not named).
    pub fn read_held(&self) -> bool {
        self.readers() > 0
    }

    /// Enters the lock, waiting until it can as its kind says.
    #[inline]
    pub fn enter(&self, mode: RwMode) {
        match mode {
            RwMode::Read => {
                if lw::rw_try_read(&self.word).is_err() {
                    self.enter_slow(curthread(), WaitKind::Reader);
                }
            }
            RwMode::Write => {
                let me = curthread();
                if lw::rw_try_write(&self.word, me).is_err() {
                    self.enter_slow(me, WaitKind::Writer);
                }
            }
        }
    }

    /// Enters the lock if it can without waiting. A reader is refused while a
    /// writer waits.
    #[must_use = "the caller holds the lock only if this is true"]
    pub fn try_enter(&self, mode: RwMode) -> bool {
        let me = curthread();
        let r = self.try_word(me, mode);
        if let Err(v) = r {
            self.check_not_mine(me, v);
        }
        r.is_ok()
    }

    fn try_word(&self, me: &'static KThread, mode: RwMode) -> Result<(), Tagged<KThread>> {
        match mode {
            RwMode::Read => lw::rw_try_read(&self.word),
            RwMode::Write => lw::rw_try_write(&self.word, me),
        }
    }

    /// A busy spin lock: busy-waits, with the caller's interrupt level, until the
    /// word lets `mode` in, and takes it.
    fn spin_wait(&self, me: &'static KThread, mode: RwMode) {
        STATS.rw_spin_waits.fetch_add(1, Relaxed);
        loop {
            let v = self.word.load(Relaxed);
            self.check_not_mine(me, v);
            let free = matches!(
                (mode, v),
                (RwMode::Read, Tagged::Num(..)) | (RwMode::Write, Tagged::Num(0, _))
            );
            if free && self.try_word(me, mode).is_ok() {
                return;
            }
            M::relax();
        }
    }

    /// Spins while the lock is write-held by a writer running on a CPU that is not
    /// itself spinning (an adaptive lock); returns once it is not.
    fn adaptive_spin(&self, me: &'static KThread) {
        let mut spun = false;
        while let Tagged::Ref(w, _) = self.word.load(Relaxed) {
            if core::ptr::eq(w, me) || !disp::is_running(w) || turnstile::is_spinning(w) {
                break;
            }
            if !spun {
                spun = true;
                STATS.rw_adaptive_spins.fetch_add(1, Relaxed);
                turnstile::set_spinning(me, true);
            }
            M::relax();
        }
        if spun {
            turnstile::set_spinning(me, false);
        }
    }

    /// Leaves the lock (a write hold if the caller is the writer, else a read hold).
    #[inline]
    pub fn exit(&self) {
        let me = curthread();
        let v = self.word.load(Relaxed);
        match v {
            Tagged::Ref(..) => {
                if let Err(v) = lw::rw_exit_write_fast(&self.word, me) {
                    match v.as_ref() {
                        Some(w) if core::ptr::eq(w, me) => self.exit_slow(me, false, 0),
                        Some(w) => panic!(
                            "rw_exit by a non-owner: {me:?} exits rwlock {:#x}, \
                             write-held by {w:?}",
                            self.addr()
                        ),
                        // A writer's word can only change hands through its own exit.
                        None => panic!(
                            "rw_exit: {me:?} exits rwlock {:#x}, write-held by someone else",
                            self.addr()
                        ),
                    }
                }
            }
            Tagged::Num(0, _) => {
                panic!("rw_exit of a free rwlock: {me:?} exits rwlock {:#x}", self.addr())
            }
            Tagged::Num(..) => {
                if lw::rw_exit_read_fast(&self.word, v).is_err() {
                    self.exit_slow(me, true, 0);
                }
            }
        }
    }

    /// Turns the caller's write hold into a read hold, letting the readers queued
    /// before the first waiting writer in with it.
    pub fn downgrade(&self) {
        let me = curthread();
        if lw::rw_downgrade_fast(&self.word, me).is_err() {
            let v = self.word.load(Relaxed);
            if !lw::is_writer(v, me) {
                panic!("rw_downgrade by a non-writer: {me:?} on rwlock {:#x} ({v:?})", self.addr());
            }
            self.exit_slow(me, false, 1);
        }
    }

    /// Turns the caller's read hold into a write hold if it is the only reader and
    /// no writer waits; false (still reading) otherwise.
    #[must_use = "the caller writes only if this is true; otherwise it still reads"]
    pub fn try_upgrade(&self) -> bool {
        lw::rw_try_upgrade(&self.word, curthread())
    }

    #[cold]
    #[track_caller]
    fn check_not_mine(&self, me: &'static KThread, v: Tagged<KThread>) {
        if lw::is_writer(v, me) {
            panic!(
                "recursive rw_enter: {me:?} already holds rwlock {:#x} for writing",
                self.addr()
            );
        }
    }

    /// The lock is busy: spin for it (spin), or spin while its writer runs
    /// (adaptive), then take it under the turnstile lock or block until handed it.
    #[cold]
    #[inline(never)]
    fn enter_slow(&self, me: &'static KThread, kind: WaitKind) {
        self.check_not_mine(me, self.word.load(Relaxed));
        let mode = if kind == WaitKind::Writer { RwMode::Write } else { RwMode::Read };
        if self.kind == MutexKind::Spin {
            return self.spin_wait(me, mode);
        }
        let adaptive = self.kind == MutexKind::Adaptive;
        loop {
            if adaptive {
                self.adaptive_spin(me);
                if self.try_word(me, mode).is_ok() {
                    return;
                }
            }
            if self.block(me, kind, adaptive) {
                return;
            }
        }
    }

    /// Under the turnstile lock, takes the lock or marks it and blocks until handed
    /// it (true); false if (adaptive) its writer runs again: spin again.
    fn block(&self, me: &'static KThread, kind: WaitKind, adaptive: bool) -> bool {
        if !M::intr_enabled() {
            panic!("{me:?} would block on rwlock {:#x} with interrupts disabled", self.addr());
        }
        let was = M::intr_disable();
        let tbl = turnstile::lock();
        let marked = match kind {
            WaitKind::Writer => lw::rw_mark_writer(&self.word, me),
            _ => lw::rw_mark_reader(&self.word),
        };
        match marked {
            Marked::Entered => drop(tbl),
            Marked::Wait(Some(o))
                if adaptive
                    && !core::ptr::eq(o, me)
                    && disp::is_running(o)
                    && !turnstile::is_spinning(o) =>
            {
                drop(tbl);
                M::intr_restore(was);
                return false;
            }
            Marked::Wait(owner) => {
                if owner.is_some_and(|o| core::ptr::eq(o, me)) {
                    drop(tbl);
                    panic!(
                        "recursive rw_enter: {me:?} already holds rwlock {:#x} for writing",
                        self.addr()
                    );
                }
                match kind {
                    WaitKind::Writer => STATS.rw_write_blocks.fetch_add(1, Relaxed),
                    _ => STATS.rw_read_blocks.fetch_add(1, Relaxed),
                };
                turnstile::block(tbl, self.addr(), owner, kind);
            }
        }
        M::intr_restore(was);
        true
    }

    /// Leaves with waiters to hand the lock to: `reader` is leaving a read hold
    /// (and may not be the last), else the writer leaves, keeping `keep` read
    /// holds (1: a downgrade).
    #[cold]
    #[inline(never)]
    fn exit_slow(&self, me: &'static KThread, reader: bool, keep: usize) {
        let was = M::intr_disable();
        {
            let mut tbl = turnstile::lock();
            if !reader || lw::rw_exit_read_slow(&self.word) {
                let from = self.word.load(Relaxed);
                self.handoff(&mut tbl, me, from, keep);
            }
        }
        M::intr_restore(was);
        disp::kpreempt();
    }

    /// Under the turnstile lock: gives the lock, held as `from` by `me`, to the
    /// first waiter (a writer), or to the readers at the head of the queue plus
    /// `keep` read holds of `me`'s, or frees it.
    fn handoff(&self, tbl: &mut Table, me: &'static KThread, from: Tagged<KThread>, keep: usize) {
        let sobj = self.addr();
        let first_writer = match tbl.first(sobj) {
            Some((w, WaitKind::Writer)) => Some(w),
            _ => None,
        };
        let to = lw::rw_grant(first_writer, tbl.leading_readers(sobj), tbl.nwaiters(sobj), keep);
        lw::rw_handoff(&self.word, from, to);
        match to {
            Tagged::Ref(w, _) => {
                tbl.pop(sobj);
                tbl.set_owner(sobj, Some(w));
                STATS.handoffs.fetch_add(1, Relaxed);
                tbl.inherit(w);
                tbl.wake(w);
            }
            Tagged::Num(n, _) => {
                for _ in keep..n {
                    let r = tbl.pop(sobj).expect("a queued reader");
                    STATS.handoffs.fetch_add(1, Relaxed);
                    tbl.wake(r);
                }
                tbl.set_owner(sobj, None);
            }
        }
        tbl.undo_inheritance(me);
    }
}

impl Default for KRwLock {
    fn default() -> Self {
        KRwLock::new()
    }
}

impl core::fmt::Debug for KRwLock {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "KRwLock({:?} {:#x}, {:?})", self.kind, self.addr(), self.word.load(Relaxed))
    }
}

/// Data behind a kernel reader-writer lock, with guards that leave the lock when
/// dropped. As for [`super::Mutex`], the data sits in a `spin` cell that is opened
/// only by holders of the lock and so is never contended.
pub struct RwLock<T> {
    raw: KRwLock,
    data: spin::rwlock::RwLock<T>,
}

/// A read hold; dropping it leaves the lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T> {
    lock: &'a RwLock<T>,
    data: Option<spin::rwlock::RwLockReadGuard<'a, T>>,
    _not_send: PhantomData<*const ()>,
}

/// A write hold; dropping it leaves the lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T> {
    lock: &'a RwLock<T>,
    data: Option<spin::rwlock::RwLockWriteGuard<'a, T>>,
    _not_send: PhantomData<*const ()>,
}

impl<T> RwLock<T> {
    /// `value` behind a free blocking kernel reader-writer lock.
    pub const fn new(value: T) -> RwLock<T> {
        RwLock::with_kind(MutexKind::Block, value)
    }

    /// `value` behind a free kernel reader-writer lock of `kind`.
    pub const fn with_kind(kind: MutexKind, value: T) -> RwLock<T> {
        RwLock { raw: KRwLock::with_kind(kind), data: spin::rwlock::RwLock::new(value) }
    }

    /// The kernel lock underneath.
    pub fn raw(&self) -> &KRwLock {
        &self.raw
    }

    /// Enters the lock as a reader (`rw_enter(RW_READER)`), waiting as its kind
    /// says while it is write-held or a writer waits.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.raw.enter(RwMode::Read);
        self.read_guard()
    }

    /// Enters the lock as its only writer (`rw_enter(RW_WRITER)`), waiting as
    /// its kind says while anyone holds it.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.raw.enter(RwMode::Write);
        self.write_guard()
    }

    /// A read hold if one can be had without waiting (`rw_tryenter`); refused
    /// while a writer waits.
    #[must_use = "the lock is left as soon as the guard is dropped"]
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.raw.try_enter(RwMode::Read).then(|| self.read_guard())
    }

    /// A write hold if the lock is free now (`rw_tryenter`).
    #[must_use = "the lock is left as soon as the guard is dropped"]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.raw.try_enter(RwMode::Write).then(|| self.write_guard())
    }

    /// The data, without taking the lock: `&mut self` proves nobody else holds it.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    fn read_guard(&self) -> RwLockReadGuard<'_, T> {
        let data = match self.data.try_read() {
            Some(d) => d,
            None => panic!("{:?}: read-held, but its data is being written", self.raw),
        };
        RwLockReadGuard { lock: self, data: Some(data), _not_send: PhantomData }
    }

    fn write_guard(&self) -> RwLockWriteGuard<'_, T> {
        let data = match self.data.try_write() {
            Some(d) => d,
            None => panic!("{:?}: write-held, but its data is in use elsewhere", self.raw),
        };
        RwLockWriteGuard { lock: self, data: Some(data), _not_send: PhantomData }
    }
}

impl<'a, T> RwLockWriteGuard<'a, T> {
    /// Becomes a read hold, without letting a writer in between.
    pub fn downgrade(mut self) -> RwLockReadGuard<'a, T> {
        let data = self.data.take().expect("guard without its data").downgrade();
        // Readers let in by the downgrade find the data readable already.
        self.lock.raw.downgrade();
        RwLockReadGuard { lock: self.lock, data: Some(data), _not_send: PhantomData }
    }
}

impl<'a, T> RwLockReadGuard<'a, T> {
    /// Becomes a write hold if this is the only reader and no writer waits;
    /// otherwise gives the read hold back.
    pub fn try_upgrade(mut self) -> Result<RwLockWriteGuard<'a, T>, RwLockReadGuard<'a, T>> {
        if !self.lock.raw.try_upgrade() {
            return Err(self);
        }
        self.data = None;
        let lock = self.lock;
        // The guard is now empty: dropping it leaves nothing.
        drop(self);
        Ok(lock.write_guard())
    }
}

impl<T> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.data.as_ref().expect("guard without its data")
    }
}

impl<T> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.data.as_ref().expect("guard without its data")
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.data.as_mut().expect("guard without its data")
    }
}

impl<T> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        if self.data.take().is_some() {
            self.lock.raw.exit();
        }
    }
}

impl<T> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        if self.data.take().is_some() {
            self.lock.raw.exit();
        }
    }
}
