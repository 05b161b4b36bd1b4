//! Turnstiles: where threads block on a mutex or a reader-writer lock, and the
//! priority inheritance and deadlock detection that go with it.
//!
//! # Theory
//!
//! A lock that has waiters has a turnstile: the queue of the threads blocked on it,
//! highest priority first, and the
//! thread that owns the lock, if one does (a mutex's owner, a write-locked rwlock's
//! writer; a read-held rwlock has none). Turnstiles exist only while threads wait:
//! they are found by the lock's address in one table, under one `DispLock`, the
//! *turnstile lock*. That lock is taken only on the slow paths (a lock that is busy,
//! or an exit with waiters); a lock word changes its `WAITERS` flag and is handed on
//! only under it (see `lockword`).
//!
//! * **Queue order.** By priority, first come first served within one; the one
//!   exception is that a reader queues behind every writer already waiting for the
//!   same rwlock (even one of lower priority), so that writers are not starved by
//!   readers that keep arriving (see `rwlock`).
//! * **Blocking.** A thread that must wait has marked the lock word under the
//!   turnstile lock. It then walks the chain of owners: the lock's owner, the lock
//!   that owner is blocked on, that lock's owner, and so on. If the chain comes back
//!   to itself, blocking would close a cycle that nothing can ever break: it panics
//!   with the cycle (deadlock detection). Otherwise it queues itself, sets its state
//!   to sleeping, and lends its priority along the same chain.
//! * **Priority inheritance.** Every owner in the chain whose priority is below the
//!   blocker's inherits the blocker's (`disp::change_epri`); an owner that is itself
//!   blocked moves up its own turnstile's queue, and the walk goes on to the owner
//!   of that lock. The walk stops at the first owner already running at least as
//!   high, since everything beyond it has that priority already.
//! * **Hand-off.** The owner that leaves a lock with waiters takes the first waiter
//!   off the queue (or, for a rwlock, the readers at its head), makes it the owner
//!   in the lock word, and makes it runnable. Its own inherited priority is then
//!   recomputed from the turnstiles of the locks it still owns (the highest
//!   priority waiting on any of them), and dropped if none has waiters. The new
//!   owner likewise inherits from the waiters still queued behind it.
//!
//! Inherited priorities only ever rise while a thread blocks: a blocked thread can
//! leave its turnstile only by being handed the lock, so the waiters a priority
//! came from stay until their owner releases.
//!
//! The lock order is: turnstile lock, then the dispatcher's queue locks
//! (`change_epri`, `setrun`). The blocked thread is linked through `t_link`, which a
//! thread uses for at most one queue at a time. What a thread blocks on, and
//! whether it spins, is in its `KThread` (`sync::tstate::ThreadTs`).

use alloc::vec::Vec;
use core::sync::atomic::Ordering::{Relaxed, SeqCst};

#[cfg(debug_assertions)]
use arch::Machine;

use crate::disp::{self, Prev};
use crate::displock::{DispLock, DispLockGuard};
pub use crate::sync::tstate::WaitKind;
use crate::sync::STATS;
use crate::thread::{curthread, KThread, ThreadState};
#[cfg(debug_assertions)]
use crate::M;

/// Whether `t` spins for an adaptive lock (`t_spinning`).
#[inline(always)]
pub(crate) fn is_spinning(t: &KThread) -> bool {
    t.ts_state().t_spinning.load(SeqCst)
}

/// The current thread `me` begins, or ends, a spin for an adaptive lock.
#[inline(always)]
pub(crate) fn set_spinning(me: &KThread, on: bool) {
    debug_check!(me.is_curthread(), "{me:?}: spinning set by another thread");
    me.ts_state().t_spinning.store(on, SeqCst);
}

fn kind_of(t: &KThread) -> WaitKind {
    WaitKind::from_u8(t.ts_state().t_ts_kind.load(Relaxed))
}

/// The turnstile of one lock that has waiters.
struct Turnstile {
    /// The lock: the address of its lock word.
    sobj: usize,
    /// The thread that holds it and inherits from the waiters, if one does.
    owner: Option<&'static KThread>,
    /// The waiters, highest priority first, linked through their `t_link`.
    head: Option<&'static KThread>,
    nwaiters: usize,
}

impl Turnstile {
    /// Queues `t` after every waiter of its priority or higher; a reader also after
    /// every writer already waiting (so that readers cannot starve writers).
    fn insert(&mut self, t: &'static KThread) {
        assert!(!t.link().mark_queued(), "{t:?} is already on a queue");
        let pri = t.pri();
        let writers = if kind_of(t) == WaitKind::Reader {
            self.iter().filter(|w| kind_of(w) == WaitKind::Writer).count()
        } else {
            0
        };
        let (mut prev, mut cur): (Option<&'static KThread>, _) = (None, self.head);
        let mut passed_writers = 0;
        while let Some(c) = cur {
            if c.pri() < pri && passed_writers == writers {
                break;
            }
            passed_writers += usize::from(kind_of(c) == WaitKind::Writer);
            prev = Some(c);
            cur = c.link().next();
        }
        t.link().set_next(cur);
        match prev {
            None => self.head = Some(t),
            Some(p) => p.link().set_next(Some(t)),
        }
        self.nwaiters += 1;
    }

    /// Unlinks `t`; false if it was not queued here.
    fn remove(&mut self, t: &'static KThread) -> bool {
        let (mut prev, mut cur): (Option<&'static KThread>, _) = (None, self.head);
        while let Some(c) = cur {
            if core::ptr::eq(c, t) {
                let next = t.link().next();
                match prev {
                    None => self.head = next,
                    Some(p) => p.link().set_next(next),
                }
                t.link().set_next(None);
                t.link().set_queued(false, SeqCst);
                self.nwaiters -= 1;
                return true;
            }
            prev = Some(c);
            cur = c.link().next();
        }
        false
    }

    fn iter(&self) -> impl Iterator<Item = &'static KThread> {
        core::iter::successors(self.head, |t| t.link().next())
    }
}

/// Every turnstile in use.
pub(crate) struct Table {
    ts: Vec<Turnstile>,
}

static TURNSTILES: DispLock<Table> = DispLock::new(Table { ts: Vec::new() });

/// The turnstile lock, held.
pub(crate) type Locked = DispLockGuard<'static, Table>;

/// Takes the turnstile lock (interrupts off while it is held), with room in the
/// table for one more turnstile: the most a blocking thread adds. The table grows
/// between two holds of the lock, never under it (nothing is allocated under a
/// `DispLock`); a growth the heap cannot satisfy is the kernel's own failure.
pub(crate) fn lock() -> Locked {
    loop {
        let tbl = TURNSTILES.lock();
        if tbl.ts.len() < tbl.ts.capacity() {
            return tbl;
        }
        let want = (tbl.ts.capacity() * 2).max(16);
        drop(tbl);
        let mut bigger = Vec::with_capacity(want);
        let mut tbl = TURNSTILES.lock();
        if tbl.ts.capacity() < want {
            bigger.append(&mut tbl.ts);
            bigger = core::mem::replace(&mut tbl.ts, bigger);
        }
        drop(tbl);
        drop(bigger);
    }
}

/// Chains longer than this are taken for corruption.
const MAX_CHAIN: usize = 100_000;

impl Table {
    fn idx(&self, sobj: usize) -> Option<usize> {
        self.ts.iter().position(|t| t.sobj == sobj)
    }

    fn get(&self, sobj: usize) -> Option<&Turnstile> {
        self.ts.iter().find(|t| t.sobj == sobj)
    }

    /// The first waiter on `sobj`, and what it waits for.
    pub(crate) fn first(&self, sobj: usize) -> Option<(&'static KThread, WaitKind)> {
        let t = self.get(sobj)?.head?;
        Some((t, kind_of(t)))
    }

    /// How many threads wait on `sobj`.
    pub(crate) fn nwaiters(&self, sobj: usize) -> usize {
        self.get(sobj).map_or(0, |t| t.nwaiters)
    }

    /// How many readers wait at the head of `sobj`'s queue, before its first writer.
    pub(crate) fn leading_readers(&self, sobj: usize) -> usize {
        self.get(sobj)
            .map_or(0, |ts| ts.iter().take_while(|t| kind_of(t) == WaitKind::Reader).count())
    }

    /// Takes the first waiter off `sobj`'s queue (it is not runnable yet: see `wake`).
    pub(crate) fn pop(&mut self, sobj: usize) -> Option<&'static KThread> {
        let ts = self.ts.iter_mut().find(|t| t.sobj == sobj)?;
        let t = ts.head?;
        ts.remove(t);
        Some(t)
    }

    /// Records who owns `sobj` now (a hand-off), and drops its turnstile if nobody
    /// waits any more.
    pub(crate) fn set_owner(&mut self, sobj: usize, owner: Option<&'static KThread>) {
        if let Some(i) = self.idx(sobj) {
            if self.ts[i].nwaiters == 0 {
                self.ts.swap_remove(i);
            } else {
                self.ts[i].owner = owner;
            }
        }
    }

    /// The priority `t` inherits from the waiters of the locks it owns, if any.
    pub(crate) fn inherited(&self, t: &KThread) -> Option<u8> {
        self.ts
            .iter()
            .filter(|ts| ts.owner.is_some_and(|o| core::ptr::eq(o, t)))
            .filter_map(|ts| ts.iter().map(|w| w.pri()).max())
            .max()
    }

    /// Makes a thread taken off a queue runnable: it has been handed its lock.
    pub(crate) fn wake(&mut self, t: &'static KThread) {
        t.ts_state().t_ts_sobj.store(0, Relaxed);
        disp::setrun(t);
    }

    /// After `t` gave a lock up: its inherited priority comes from the locks it
    /// still owns, or goes.
    pub(crate) fn undo_inheritance(&self, t: &'static KThread) {
        if t.inherited_pri().is_some() {
            let e = self.inherited(t);
            if e != t.inherited_pri() {
                disp::change_epri(t, e);
            }
        }
    }

    /// After a hand-off to `t`: it inherits from the waiters behind it.
    pub(crate) fn inherit(&self, t: &'static KThread) {
        let e = self.inherited(t);
        if e != t.inherited_pri() {
            disp::change_epri(t, e);
        }
    }

    /// The lock `t` is blocked on, and that lock's owner.
    fn blocker(&self, t: &KThread) -> Option<(usize, WaitKind, Option<&'static KThread>)> {
        let sobj = t.ts_state().t_ts_sobj.load(Relaxed);
        if sobj == 0 {
            return None;
        }
        let ts = self.get(sobj)?;
        Some((sobj, kind_of(t), ts.owner))
    }

    /// If `me` blocking on `sobj` (held by `owner`) would close a cycle of threads
    /// each waiting for a lock the next one holds, describes the cycle.
    fn find_cycle(
        &self,
        me: &'static KThread,
        sobj: usize,
        kind: WaitKind,
        owner: &'static KThread,
    ) -> Option<Cycle> {
        let mut cycle =
            Cycle { me, first: (sobj, kind, owner), links: [None; CYCLE_SHOWN], more: 0 };
        let mut t = owner;
        for n in 0..MAX_CHAIN {
            if core::ptr::eq(t, me) {
                return Some(cycle);
            }
            let (s, k, o) = self.blocker(t)?;
            let o = o?;
            match cycle.links.get_mut(n) {
                Some(link) => *link = Some((s, k, o)),
                None => cycle.more += 1,
            }
            t = o;
        }
        None
    }

    /// Lends priority `pri` along the chain of owners that starts at `to`.
    fn lend(&mut self, pri: u8, mut to: Option<&'static KThread>) {
        for _ in 0..MAX_CHAIN {
            let Some(t) = to else { return };
            if t.pri() >= pri {
                return;
            }
            disp::change_epri(t, Some(pri));
            STATS.pi_lends.fetch_add(1, Relaxed);
            let sobj = t.ts_state().t_ts_sobj.load(Relaxed);
            let Some(ts) = self.ts.iter_mut().find(|ts| ts.sobj == sobj && sobj != 0) else {
                return;
            };
            // Its priority rose: its place in its own queue moves up.
            if ts.remove(t) {
                ts.insert(t);
            }
            to = ts.owner;
        }
    }
}

/// Links of a deadlock cycle its report names (the rest are counted).
const CYCLE_SHOWN: usize = 8;

/// A cycle of threads each waiting for a lock the next one holds: what `block`
/// reports. Made under the turnstile lock without allocating, and formatted only
/// once the lock is dropped.
struct Cycle {
    me: &'static KThread,
    first: (usize, WaitKind, &'static KThread),
    links: [Option<(usize, WaitKind, &'static KThread)>; CYCLE_SHOWN],
    more: usize,
}

impl core::fmt::Display for Cycle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (sobj, kind, owner) = self.first;
        write!(
            f,
            "deadlock: {:?} would block on {} {sobj:#x} held by {owner:?}",
            self.me,
            kind.what()
        )?;
        for (s, k, o) in self.links.iter().flatten() {
            write!(f, ", which waits for {} {s:#x} held by {o:?}", k.what())?;
        }
        if self.more > 0 {
            write!(f, ", and {} more", self.more)?;
        }
        Ok(())
    }
}

/// Blocks the current thread on the turnstile of `sobj`, held by `owner` (if a
/// thread holds it). `tbl` is the turnstile lock, taken after interrupts were
/// disabled; the caller has marked the lock word. Panics if blocking would close a
/// cycle (deadlock). Returns once a hand-off has made the thread the lock's holder,
/// with the turnstile lock released and interrupts still disabled.
pub(crate) fn block(mut tbl: Locked, sobj: usize, owner: Option<&'static KThread>, kind: WaitKind) {
    debug_check!(!M::intr_enabled(), "blocking with interrupts on");
    let me = curthread();
    if let Some(o) = owner {
        if let Some(cycle) = tbl.find_cycle(me, sobj, kind, o) {
            drop(tbl);
            panic!("{cycle}");
        }
    }
    let i = match tbl.idx(sobj) {
        Some(i) => i,
        None => {
            tbl.ts.push(Turnstile { sobj, owner, head: None, nwaiters: 0 });
            tbl.ts.len() - 1
        }
    };
    let ts = &mut tbl.ts[i];
    ts.owner = owner;
    me.ts_state().t_ts_sobj.store(sobj, Relaxed);
    me.ts_state().t_ts_kind.store(kind as u8, Relaxed);
    ts.insert(me);
    me.set_state(ThreadState::Sleep);
    tbl.lend(me.pri(), owner);
    drop(tbl);
    disp::swtch(Prev::Block);
}

/// Waiters of one turnstile a [`TsView`] names (the rest are counted).
pub const TS_SHOWN: usize = 8;

/// One turnstile as the debugger shows it: the lock, its owner, and its first
/// waiters in queue order with what each waits for.
#[derive(Clone, Copy)]
pub struct TsView {
    /// The lock (the address of its lock word).
    pub sobj: usize,
    /// The thread holding the lock, which inherits the waiters' priority; `None`
    /// for a read-held rwlock (readers are not tracked).
    pub owner: Option<&'static KThread>,
    /// How many threads are blocked on it (all, not only those shown).
    pub nwaiters: usize,
    /// The first [`TS_SHOWN`] waiters in queue order (highest priority first),
    /// each with what it waits for (mutex, read or write).
    pub waiters: [Option<(&'static KThread, WaitKind)>; TS_SHOWN],
}

/// Every turnstile in use, into `out` (as many as its spare capacity takes:
/// nothing is allocated under the turnstile lock); false if the turnstile lock is
/// held (by code a debugger stopped). For the debugger.
pub(crate) fn peek_all(out: &mut Vec<TsView>) -> bool {
    let Some(tbl) = crate::displock::peek(&TURNSTILES) else { return false };
    for ts in tbl.ts.iter().take(out.capacity() - out.len()) {
        let mut waiters = [None; TS_SHOWN];
        for (slot, w) in waiters.iter_mut().zip(ts.iter()) {
            *slot = Some((w, kind_of(w)));
        }
        out.push(TsView { sobj: ts.sobj, owner: ts.owner, nwaiters: ts.nwaiters, waiters });
    }
    true
}

/// Turnstiles in use (the room [`peek_all`] needs); `None` if the lock is held.
pub(crate) fn peek_count() -> Option<usize> {
    crate::displock::peek(&TURNSTILES).map(|t| t.ts.len())
}

/// What `t` waits for on the turnstile it is blocked on, if it is.
pub fn blocked_kind(t: &KThread) -> Option<WaitKind> {
    blocked_on(t).map(|_| kind_of(t))
}

/// The lock (its address) whose turnstile `t` is blocked on, if any.
pub fn blocked_on(t: &KThread) -> Option<usize> {
    let s = t.ts_state().t_ts_sobj.load(Relaxed);
    (s != 0).then_some(s)
}

/// How many threads are blocked on the turnstile of the lock at `sobj`.
pub fn waiters(sobj: usize) -> usize {
    lock().nwaiters(sobj)
}
