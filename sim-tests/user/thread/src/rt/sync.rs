//! Synchronization objects for threads (S8, S9): mutexes, condition variables,
//! counting semaphores and reader-writer locks, each made with the behaviour it
//! has when busy — spin, block or adaptive ([`SyncKind`]) — and [`LwpLock`], the
//! LWP mutex for LWPs that run no threads.
//!
//! # Theory
//!
//! An object is its words: a lock word (`lockword`), a type word that says it was
//! made and not destroyed (a zeroed object, or a destroyed one, gets `EINVAL`),
//! and its kind. Taking a free one and leaving one nobody waits for is one
//! compare-and-swap, in user code. A busy one:
//!
//! * **spins** while its owner runs on another LWP that is on a CPU (schedctl's
//!   `sc_state`) — an adaptive object only then, a spin object always, giving its
//!   LWP away when the owner's is off its CPU, and its turn to the other threads
//!   of its LWP when the owner is not running at all;
//! * **blocks** otherwise (a blocking object at once): under the pool's lock
//!   (`sched::Held`) the thread marks the word, queues itself on the object's sleep
//!   queue (`sleepq`), and waits: an unbound thread switches to another thread of
//!   its LWP, a bound one parks its LWP. The owner's exit, under that lock, hands
//!   the object to the first waiter (a rwlock: to the first writer, or to the
//!   readers ahead of it), which wakes up owning it.
//!
//! So contention between threads of one LWP costs a user-level switch, and between
//! LWPs either spinning or an LWP asleep in the kernel, parked. A condition
//! variable is a sequence number: a waiter notes it, leaves the mutex, and sleeps
//! unless it moved (checked again under the lock after counting itself a waiter,
//! while the signaller moves it before looking for waiters: one of the two sees
//! the other). A signaller that holds the mutex does not wake the waiter to have
//! it block on that mutex at once: it moves it to the mutex's queue ("wait
//! morphing"), and the mutex is handed to it when the signaller leaves it. A
//! semaphore's units are taken only by a compare-and-swap from a positive count;
//! `post` takes one on behalf of the first sleeper and hands it over, so the count
//! never admits more than it holds.
//!
//! The owner of a mutex or a rwlock's writer is known, so misuse gets an error:
//! `EDEADLK` for taking it again, `EPERM` for leaving one held by another thread
//! (readers are not named: a read-held rwlock cannot tell its readers apart).

use core::sync::atomic::Ordering::{Acquire, Relaxed, SeqCst};
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8};

use lwp_abi::{Errno, LwpMutex, SC_ONPROC, SC_STATE};

use super::sched::{self, hold, Held, Sleep, Switch};
use super::sleepq::{self, COND, MUTEX, READER, SEMA, WRITER};
use super::stats::{bump, STATS};
use super::sys::{current, word, Counter, LockWord, Native};
use super::thread::Thread;
use crate::lockword::{self as lw, Marked, Word};
use crate::lwpmutex::{self, err, Error, SyncKind, Took};

const MUTEX_MAGIC: u32 = 0x4d58_5448; // "MXTH"
const COND_MAGIC: u32 = 0x4356_5448; // "CVTH"
const SEMA_MAGIC: u32 = 0x534d_5448; // "SMTH"
const RWLOCK_MAGIC: u32 = 0x5257_5448; // "RWTH"
const DEAD: u32 = 0xdead_0b1e;

/// The kind and type words every object has.
#[repr(C)]
struct Header {
    magic: AtomicU32,
    kind: AtomicU8,
}

impl Header {
    const fn new(magic: u32, kind: SyncKind) -> Header {
        Header { magic: AtomicU32::new(magic), kind: AtomicU8::new(kind as u8) }
    }

    /// `EINVAL` unless the object was made as a `magic` and not destroyed.
    #[inline(always)]
    fn check(&self, magic: u32) -> Result<(), Error> {
        if self.magic.load(Relaxed) != magic {
            return Err(err(Errno::EINVAL));
        }
        Ok(())
    }

    /// The kind: read where it decides something (a slow path), not on every call.
    #[inline(always)]
    fn kind(&self) -> SyncKind {
        match self.kind.load(Relaxed) {
            1 => SyncKind::Spin,
            2 => SyncKind::Block,
            _ => SyncKind::Adaptive,
        }
    }

    /// [`Header::check`], then the kind.
    #[inline(always)]
    fn checked_kind(&self, magic: u32) -> Result<SyncKind, Error> {
        self.check(magic)?;
        Ok(self.kind())
    }

    /// Destroys a `magic` object, unless it is `busy` (`EBUSY`): every call on it
    /// gets `EINVAL` from now on.
    fn destroy(&self, magic: u32, busy: impl FnOnce() -> bool) -> Result<(), Error> {
        self.check(magic)?;
        if busy() {
            return Err(err(Errno::EBUSY));
        }
        self.magic.store(DEAD, Relaxed);
        Ok(())
    }
}

/// What a thread does about a busy object whose owner (or holder) is `owner`.
enum Busy {
    /// Spin a moment and look again.
    Spin,
    /// The owner's LWP waits for a CPU: give it this one.
    YieldLwp,
    /// The owner is not running: let the other threads of this LWP run.
    YieldThread,
    /// Sleep on the object's queue.
    Block,
}

#[inline(always)]
fn busy(kind: SyncKind, owner: u64) -> Busy {
    if kind == SyncKind::Block {
        return Busy::Block;
    }
    busy_waiting(kind, owner)
}

/// [`busy`] for a kind that may wait busily. Out of line: a blocking object's
/// slow path would load what this needs before its loop.
#[inline(never)]
fn busy_waiting(kind: SyncKind, owner: u64) -> Busy {
    let me = current();
    let sc = Thread::from_addr(owner).map_or(0, Thread::sc);
    let elsewhere = sc != 0 && sc != me.sc();
    let on_cpu = elsewhere && word(sc + SC_STATE).load(Acquire) == SC_ONPROC;
    match kind {
        _ if on_cpu => Busy::Spin,
        SyncKind::Adaptive => Busy::Block,
        _ if elsewhere || me.is_bound() => Busy::YieldLwp,
        _ => Busy::YieldThread,
    }
}

/// Waits a moment as `b` says (not `Block`); counted as a spin.
fn spin(b: Busy) {
    bump(&STATS.spins);
    match b {
        Busy::YieldLwp => {
            let _ = lwp_user::yield_now();
        }
        Busy::YieldThread => sched::yield_now(),
        _ => core::hint::spin_loop(),
    }
}

/// Queues `me` on the sleep queue of `addr` as waiting there as `how`, and waits
/// until woken; the lock is left meanwhile.
#[inline(always)]
fn sleep(me: &'static Thread, h: Held, addr: u64, how: u8) {
    if let Some(s) = block(me, h, addr, how) {
        s.finish(me);
    }
}

/// [`sleep`] but for the sleep itself, which it returns for the caller to make
/// (`Held::block`).
#[inline(always)]
fn block(me: &'static Thread, mut h: Held, addr: u64, how: u8) -> Option<Sleep> {
    sleepq::enqueue(h.queue(addr), me, addr, how);
    bump(&STATS.blocks);
    h.block()
}

// ---------------------------------------------------------------- mutex

/// A mutex (Solaris' `mutex_t`). Its owner is a thread, which may hold it across
/// waits of its own and across LWPs.
#[repr(C)]
pub struct Mutex {
    word: LockWord,
    h: Header,
}

impl Mutex {
    /// A free mutex of `kind`.
    pub const fn new(kind: SyncKind) -> Mutex {
        Mutex { word: LockWord::new(0), h: Header::new(MUTEX_MAGIC, kind) }
    }

    fn addr(&self) -> u64 {
        self as *const Mutex as u64
    }

    /// The mutex at `addr`, which a condition variable's waiter recorded from the
    /// `&Mutex` it passed to `Cond::wait`, where it still is (it is queued).
    fn at(addr: u64) -> Option<&'static Mutex> {
        // SAFETY: the waiter that recorded it has not returned from `wait`, whose
        // `&Mutex` argument keeps the mutex alive; the reference is used under
        // the pool's lock only, while the waiter stays queued.
        (addr != 0).then(|| unsafe { &*(addr as *const Mutex) })
    }

    /// Whether the calling thread holds it.
    pub fn held(&self) -> bool {
        lw::owner(self.word.load(Relaxed)) == current().addr()
    }

    /// Takes the mutex, waiting as its kind says. `EDEADLK` if the caller holds it.
    /// Inlined: a blocked unbound thread's switch is made in the caller's window.
    #[inline(always)]
    pub fn lock(&self) -> Result<(), Error> {
        self.h.check(MUTEX_MAGIC)?;
        let me = current();
        match lw::mutex_try_lock(&self.word, me.addr()) {
            Ok(()) => Ok(()),
            Err(w) if lw::owner(w) == me.addr() => Err(err(Errno::EDEADLK)),
            Err(_) => {
                if let Some(s) = self.lock_slow(me) {
                    s.finish(me);
                }
                Ok(())
            }
        }
    }

    /// Waits for the mutex and takes it, but for the switch away of an unbound
    /// thread that blocks, which it returns for `lock` to make (`Held::block`). A
    /// bound thread parks here: a sleep returned would be passed in memory, and
    /// the unbound hand-off would pay for it.
    #[cold]
    #[inline(never)]
    fn lock_slow(&self, me: &'static Thread) -> Option<Switch> {
        let kind = self.h.kind();
        loop {
            let w = self.word.load(Relaxed);
            if w == 0 {
                if lw::mutex_try_lock(&self.word, me.addr()).is_ok() {
                    return None;
                }
                continue;
            }
            match busy(kind, lw::owner(w)) {
                Busy::Block => {}
                b => {
                    spin(b);
                    continue;
                }
            }
            let h = hold();
            if lw::mutex_mark(&self.word) == Marked::Free {
                h.release();
                continue;
            }
            // Handed over when woken.
            return match block(me, h, self.addr(), MUTEX) {
                Some(Sleep::Switch(s)) => Some(s),
                Some(park) => {
                    park.finish(me);
                    None
                }
                None => None,
            };
        }
    }

    /// Takes the mutex if it is free: false if busy. `EDEADLK` if the caller holds it.
    pub fn try_lock(&self) -> Result<bool, Error> {
        self.h.check(MUTEX_MAGIC)?;
        let me = current().addr();
        match lw::mutex_try_lock(&self.word, me) {
            Ok(()) => Ok(true),
            Err(w) if lw::owner(w) == me => Err(err(Errno::EDEADLK)),
            Err(_) => Ok(false),
        }
    }

    /// Leaves the mutex, handing it to the first waiter. `EPERM` if the caller does
    /// not hold it.
    #[inline]
    pub fn unlock(&self) -> Result<(), Error> {
        self.h.check(MUTEX_MAGIC)?;
        let me = current().addr();
        match lw::mutex_unlock_fast(&self.word, me) {
            Ok(()) => Ok(()),
            Err(w) if lw::owner(w) != me => Err(err(Errno::EPERM)),
            Err(_) => self.unlock_slow(me),
        }
    }

    /// Leaves the mutex with waiters. (Its unpark is given here: returned to
    /// `unlock`, with the error, it would be passed in memory.)
    #[cold]
    #[inline(never)]
    fn unlock_slow(&self, me: u64) -> Result<(), Error> {
        let mut h = hold();
        let r = self.unlock_held(&mut h, me);
        h.release();
        r
    }

    /// Leaves the mutex, `me`'s, whose fast exit failed, under the pool's lock.
    #[inline(always)]
    fn unlock_held(&self, h: &mut Held, me: u64) -> Result<(), Error> {
        let addr = self.addr();
        let q = h.queue(addr);
        if lw::owner(self.word.load(Relaxed)) != me {
            return Err(err(Errno::EPERM));
        }
        let next = sleepq::take(q, addr);
        let more = sleepq::waiting(q, addr).next().is_some();
        if lw::mutex_handoff(&self.word, me, next.map_or(0, Thread::addr), more).is_err() {
            return Err(err(Errno::EPERM));
        }
        if let Some(t) = next {
            bump(&STATS.handoffs);
            h.wake(t);
        }
        Ok(())
    }

    /// Leaves the mutex under the pool's lock (its fast path first).
    fn unlock_in(&self, h: &mut Held) -> Result<(), Error> {
        self.h.check(MUTEX_MAGIC)?;
        let me = current().addr();
        match lw::mutex_unlock_fast(&self.word, me) {
            Ok(()) => Ok(()),
            Err(w) if lw::owner(w) != me => Err(err(Errno::EPERM)),
            Err(_) => self.unlock_held(h, me),
        }
    }

    /// Destroys the free mutex: it refuses every call from now on (`EINVAL`).
    /// `EBUSY` if it is held.
    pub fn destroy(&self) -> Result<(), Error> {
        // Made busy for ever, in one step: no thread can take it meanwhile.
        self.h.destroy(MUTEX_MAGIC, || {
            self.word.compare_exchange(0, DEAD.into(), Acquire, Relaxed).is_err()
        })
    }
}

// ---------------------------------------------------------------- condition variable

/// A condition variable (Solaris' `cond_t`).
#[repr(C)]
pub struct Cond {
    seq: Counter,
    waiters: Counter,
    h: Header,
}

impl Cond {
    /// A condition variable whose waiters do as `kind` says: spin (watch the
    /// sequence number, giving way to other threads), block, or adaptive (watch it
    /// while the mutex's owner — the likely signaller — runs on a CPU, else block).
    pub const fn new(kind: SyncKind) -> Cond {
        Cond { seq: Counter::new(0), waiters: Counter::new(0), h: Header::new(COND_MAGIC, kind) }
    }

    fn addr(&self) -> u64 {
        self as *const Cond as u64
    }

    /// Leaves `m` (held by the caller), waits until signalled, and takes `m` again.
    /// As everywhere, a woken waiter checks its condition again: a wait may end
    /// early. `EPERM` if the caller does not hold `m`. Inlined: the sleep is made
    /// in the caller's window.
    #[inline(always)]
    pub fn wait(&self, m: &Mutex) -> Result<(), Error> {
        let me = current();
        if let Some(s) = self.wait_slow(m, me)? {
            s.finish(me);
        }
        // Moved to the mutex's queue by a signaller that held it: handed it.
        if m.held() {
            return Ok(());
        }
        m.lock()
    }

    /// Leaves `m` and waits, but for the sleep, which it returns for `wait` to
    /// make; none if the caller is to take `m` again at once.
    #[inline(never)]
    fn wait_slow(&self, m: &Mutex, me: &'static Thread) -> Result<Option<Sleep>, Error> {
        let kind = self.h.checked_kind(COND_MAGIC)?;
        m.h.check(MUTEX_MAGIC)?;
        if !m.held() {
            return Err(err(Errno::EPERM));
        }
        if kind == SyncKind::Block {
            // Queued before the mutex is left: one hold of the pool's lock.
            let mut h = hold();
            self.waiters.add(1);
            self.queue(&mut h, me, m);
            if let Err(e) = m.unlock_in(&mut h) {
                h.release();
                return Err(e);
            }
            return Ok(h.block());
        }
        let seen = self.seq.load();
        let moved = || self.seq.load() != seen;
        m.unlock()?;
        loop {
            if moved() {
                return Ok(None);
            }
            match (kind, busy(kind, lw::owner(m.word.load(Relaxed)))) {
                (SyncKind::Spin, Busy::Block) => spin(Busy::YieldThread),
                (_, Busy::Block) => break,
                (_, b) => spin(b),
            }
        }
        let mut h = hold();
        // Counted before the last look: a signaller moves the number before it
        // looks for waiters, so one of the two sees the other.
        self.waiters.add(1);
        if moved() {
            self.waiters.add(u64::MAX);
            h.release();
            return Ok(None);
        }
        self.queue(&mut h, me, m);
        Ok(h.block())
    }

    /// Queues `me`, counted a waiter already, as one that will take `m` again,
    /// under the pool's lock.
    fn queue(&self, h: &mut Held, me: &'static Thread, m: &Mutex) {
        me.wmutex.set(m.addr());
        sleepq::enqueue(h.queue(self.addr()), me, self.addr(), COND);
        bump(&STATS.blocks);
    }

    /// Wakes one waiter, if any.
    pub fn signal(&self) -> Result<(), Error> {
        self.wake(false)
    }

    /// Wakes every waiter.
    pub fn broadcast(&self) -> Result<(), Error> {
        self.wake(true)
    }

    fn wake(&self, all: bool) -> Result<(), Error> {
        self.h.check(COND_MAGIC)?;
        self.seq.add(1);
        if self.waiters.load() == 0 {
            return Ok(());
        }
        let (addr, me) = (self.addr(), current().addr());
        let mut h = hold();
        while let Some(t) = sleepq::take(h.queue(addr), addr) {
            self.waiters.add(u64::MAX);
            match Mutex::at(t.wmutex.get()) {
                // The caller holds the mutex it will want: it waits for that now.
                Some(m) if lw::owner(m.word.load(Relaxed)) == me => {
                    if lw::mutex_mark(&m.word) == Marked::Free {
                        h.wake(t);
                    } else {
                        sleepq::enqueue(h.queue(m.addr()), t, m.addr(), MUTEX);
                    }
                }
                _ => h.wake(t),
            }
            if !all {
                break;
            }
        }
        h.release();
        Ok(())
    }

    /// Destroys it: `EBUSY` while threads wait on it.
    pub fn destroy(&self) -> Result<(), Error> {
        self.h.destroy(COND_MAGIC, || self.waiters.load() != 0)
    }
}

// ---------------------------------------------------------------- semaphore

/// A counting semaphore (Solaris' `sema_t`).
#[repr(C)]
pub struct Sema {
    count: AtomicU64,
    waiters: AtomicU64,
    /// The thread that last took a unit: the likely poster, what an adaptive
    /// semaphore's waiters watch.
    holder: AtomicU64,
    h: Header,
}

impl Sema {
    /// A semaphore holding `count` units, whose waiters do as `kind` says.
    pub const fn new(count: u64, kind: SyncKind) -> Sema {
        Sema {
            count: AtomicU64::new(count),
            waiters: AtomicU64::new(0),
            holder: AtomicU64::new(0),
            h: Header::new(SEMA_MAGIC, kind),
        }
    }

    fn addr(&self) -> u64 {
        self as *const Sema as u64
    }

    /// Takes a unit, waiting until there is one.
    pub fn wait(&self) -> Result<(), Error> {
        let kind = self.h.checked_kind(SEMA_MAGIC)?;
        let me = current();
        loop {
            if lw::sema_try_p(&self.count) {
                self.holder.store(me.addr(), Relaxed);
                return Ok(());
            }
            match (kind, busy(kind, self.holder.load(Relaxed))) {
                (SyncKind::Spin, Busy::Block) => spin(Busy::YieldThread),
                (_, Busy::Block) => break,
                (_, b) => spin(b),
            }
        }
        let h = hold();
        if lw::sema_wait_or_count(&self.count, &self.waiters) {
            h.release();
        } else {
            // `post` takes the unit for us and hands it over.
            sleep(me, h, self.addr(), SEMA);
        }
        self.holder.store(me.addr(), Relaxed);
        Ok(())
    }

    /// Takes a unit if there is one: false if none.
    pub fn try_wait(&self) -> Result<bool, Error> {
        self.h.check(SEMA_MAGIC)?;
        let took = lw::sema_try_p(&self.count);
        if took {
            self.holder.store(current().addr(), Relaxed);
        }
        Ok(took)
    }

    /// Gives a unit back, handing it to the first waiter if any.
    pub fn post(&self) -> Result<(), Error> {
        self.h.check(SEMA_MAGIC)?;
        if !lw::sema_v(&self.count, &self.waiters) {
            return Ok(());
        }
        let addr = self.addr();
        let mut h = hold();
        while sleepq::waiting(h.queue(addr), addr).next().is_some() && lw::sema_try_p(&self.count) {
            if let Some(t) = sleepq::take(h.queue(addr), addr) {
                self.waiters.fetch_sub(1, SeqCst);
                bump(&STATS.handoffs);
                h.wake(t);
            }
        }
        h.release();
        Ok(())
    }

    /// The units it holds now.
    pub fn count(&self) -> u64 {
        self.count.load(SeqCst)
    }

    /// Destroys it: `EBUSY` while threads wait on it.
    pub fn destroy(&self) -> Result<(), Error> {
        self.h.destroy(SEMA_MAGIC, || self.waiters.load(SeqCst) != 0)
    }
}

// ---------------------------------------------------------------- rwlock

/// A reader-writer lock (Solaris' `rwlock_t`): many readers or one writer; a
/// waiting writer — queued, or spinning — keeps new readers out, so writers are
/// not starved.
#[repr(C)]
pub struct RwLock {
    word: LockWord,
    h: Header,
}

impl RwLock {
    /// A free reader-writer lock of `kind` (adaptive: spin while the writer that
    /// holds it runs on a CPU; a read-held lock's readers are not known, and its
    /// waiters block).
    pub const fn new(kind: SyncKind) -> RwLock {
        RwLock { word: LockWord::new(0), h: Header::new(RWLOCK_MAGIC, kind) }
    }

    fn addr(&self) -> u64 {
        self as *const RwLock as u64
    }

    /// The number of readers holding it now.
    pub fn readers(&self) -> u64 {
        lw::readers(self.word.load(Relaxed))
    }

    /// Takes it for reading. `EDEADLK` if the caller holds it for writing.
    pub fn read(&self) -> Result<(), Error> {
        self.h.check(RWLOCK_MAGIC)?;
        match lw::rw_try_read(&self.word) {
            Ok(()) => Ok(()),
            Err(w) => self.enter_slow(w, false),
        }
    }

    /// Takes it for writing. `EDEADLK` if the caller holds it for writing.
    pub fn write(&self) -> Result<(), Error> {
        self.h.check(RWLOCK_MAGIC)?;
        match lw::rw_try_write(&self.word, current().addr()) {
            Ok(()) => Ok(()),
            Err(w) => self.enter_slow(w, true),
        }
    }

    #[cold]
    #[inline(never)]
    fn enter_slow(&self, mut w: u64, writer: bool) -> Result<(), Error> {
        let kind = self.h.kind();
        let me = current();
        loop {
            if lw::writer(w) == Some(me.addr()) {
                return Err(err(Errno::EDEADLK));
            }
            let entered = if writer {
                lw::rw_try_write(&self.word, me.addr())
            } else {
                lw::rw_try_read(&self.word)
            };
            if entered.is_ok() {
                return Ok(());
            }
            match busy(kind, lw::writer(w).unwrap_or(0)) {
                Busy::Block => {}
                b => {
                    if writer {
                        lw::rw_want_write(&self.word);
                    }
                    spin(b);
                    w = self.word.load(Relaxed);
                    continue;
                }
            }
            let h = hold();
            let marked = if writer {
                lw::rw_mark_writer(&self.word, me.addr())
            } else {
                lw::rw_mark_reader(&self.word)
            };
            if marked == Marked::Free {
                h.release();
                return Ok(());
            }
            // Handed over when woken.
            sleep(me, h, self.addr(), if writer { WRITER } else { READER });
            return Ok(());
        }
    }

    /// Leaves it: the caller's write hold, or one read hold. `EPERM` if it is not
    /// held at all, or write-held by another thread.
    pub fn unlock(&self) -> Result<(), Error> {
        self.h.check(RWLOCK_MAGIC)?;
        let me = current().addr();
        let w = self.word.load(Relaxed);
        match lw::writer(w) {
            Some(o) if o == me => match lw::rw_exit_write_fast(&self.word, me) {
                Ok(()) => Ok(()),
                Err(_) => self.exit_slow(me, false),
            },
            Some(_) => Err(err(Errno::EPERM)),
            None if lw::readers(w) == 0 => Err(err(Errno::EPERM)),
            None => match lw::rw_exit_read_fast(&self.word) {
                Ok(()) => Ok(()),
                Err(_) => self.exit_slow(me, true),
            },
        }
    }

    /// Leaves with waiters to hand the lock to (see `lockword::rw_grant`).
    #[cold]
    #[inline(never)]
    fn exit_slow(&self, me: u64, reader: bool) -> Result<(), Error> {
        let mut h = hold();
        let r = self.handoff(&mut h, me, reader);
        h.release();
        r
    }

    /// Under the pool's lock: leaves, and hands the lock to the first waiter (a
    /// writer), or to the readers ahead of the first writer.
    fn handoff(&self, h: &mut Held, me: u64, reader: bool) -> Result<(), Error> {
        let addr = self.addr();
        let from = if reader {
            match lw::rw_exit_read_slow(&self.word) {
                Ok(false) => return Ok(()),
                Ok(true) => lw::READER,
                Err(_) => return Err(err(Errno::EPERM)),
            }
        } else {
            me | lw::WRITER
        };
        let q = h.queue(addr);
        let first = sleepq::waiting(q, addr).next();
        let first_writer = first.filter(|t| t.wkind.get() == WRITER).map(Thread::addr);
        let readers = sleepq::waiting(q, addr).take_while(|t| t.wkind.get() == READER).count();
        let n = sleepq::waiting(q, addr).count() as u64;
        let to = lw::rw_grant(first_writer, readers as u64, n, 0);
        if lw::rw_handoff(&self.word, from, to).is_err() {
            return Err(err(Errno::EPERM));
        }
        let granted = if first_writer.is_some() { 1 } else { readers };
        for _ in 0..granted {
            if let Some(t) = sleepq::take(h.queue(addr), addr) {
                bump(&STATS.handoffs);
                h.wake(t);
            }
        }
        Ok(())
    }

    /// Destroys the free lock: `EBUSY` if it is held.
    pub fn destroy(&self) -> Result<(), Error> {
        self.h.destroy(RWLOCK_MAGIC, || self.word.load(Relaxed) != 0)
    }
}

// ---------------------------------------------------------------- LWP mutex

/// An LWP mutex (`lwpmutex`): owned by an LWP, not a thread — for programs that
/// run LWPs of their own without threads (S8, S9 for LWPs).
#[repr(C)]
pub struct LwpLock {
    m: LwpMutex,
    kind: SyncKind,
}

impl LwpLock {
    /// A free LWP mutex of `kind`.
    pub const fn new(kind: SyncKind) -> LwpLock {
        LwpLock { m: LwpMutex::new(), kind }
    }

    fn addr(&self) -> u64 {
        &self.m as *const LwpMutex as u64
    }

    /// Takes it for the calling LWP; what it took (spins, a sleep in the kernel).
    pub fn lock(&self) -> Result<Took, Error> {
        lwpmutex::lock::<Native>(self.addr(), self.kind)
    }

    /// Takes it if it is free.
    pub fn try_lock(&self) -> Result<bool, Error> {
        lwpmutex::try_lock::<Native>(self.addr())
    }

    /// Leaves it (`EPERM` if the calling LWP does not hold it).
    pub fn unlock(&self) -> Result<(), Error> {
        lwpmutex::unlock::<Native>(self.addr())
    }

    /// Destroys it (`EBUSY` if held).
    pub fn destroy(&self) -> Result<(), Error> {
        lwpmutex::destroy::<Native>(self.addr())
    }

    /// The raw LWP mutex, for the kernel's own calls on it.
    pub fn raw(&self) -> &LwpMutex {
        &self.m
    }
}

// Owners are recorded by address with flags in the low bits (`lockword`).
const _: () = assert!(core::mem::align_of::<Thread>() >= 8);
