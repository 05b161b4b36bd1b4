//! The lock-word protocols of the mutex and the reader-writer lock: every atomic
//! step on a lock word, and nothing else, so that `loom` can model-check them
//! (`kern-unit`, `sim-tests/kern-unit/src/lockword.rs`).
//!
//! # Theory
//!
//! A lock is one word (`arch::cell::TaggedRef`), holding either the owning thread
//! or a number, and two flag bits:
//!
//! * **Mutex.** `Num(0, 0)` is free; `Ref(owner, flags)` is held. Entering is one
//!   compare-and-swap of free to `Ref(me, 0)`; leaving is one compare-and-swap of
//!   `Ref(me, 0)` back to free. The flag `WAITERS` says threads are (or are about to
//!   be) blocked on the lock's turnstile: it makes the owner's fast exit fail, so the
//!   owner goes to the slow path, which takes the turnstile lock and *hands the lock
//!   over*: the word becomes `Ref(next, WAITERS if others still wait)` in one store,
//!   or free if nobody waits. A waiter sets `WAITERS` only under the turnstile lock
//!   and only while the lock is held (compare-and-swap from the held value), and the
//!   owner clears it only under that lock, so a waiter that has set it and queued
//!   itself is always seen by the exit: no wakeup is lost.
//! * **Reader-writer lock.** `Num(n, flags)` is held by `n` readers (free when `n`
//!   is 0); `Ref(writer, flags)` is write-locked. `WAITERS` is as for the mutex;
//!   `WRITE_WANTED` says a writer waits, and keeps new readers out, so that a stream
//!   of readers cannot starve writers. A reader enters by incrementing a count whose
//!   flags are clear; the last reader of a lock with flags, and a writer with
//!   `WAITERS`, leave through the slow path, which hands the lock on (to a writer,
//!   or to readers together) in one store. A downgrade turns `Ref(me)` into
//!   `Num(1)`; an upgrade succeeds only from `Num(1, 0)`: the only reader, and no
//!   writer waiting.
//!
//! The functions marked "under the turnstile lock" must be called with it held;
//! the others are the lock-free fast paths. Acquisitions use `Acquire`, releases
//! `Release`, so that a critical section's accesses stay inside it.

use core::sync::atomic::Ordering::{self, AcqRel, Acquire, Relaxed, Release};

pub use arch::cell::Tagged;

/// Threads wait (or are about to) on the lock's turnstile.
pub const WAITERS: usize = 1;
/// A reader-writer lock has a writer waiting: new readers block.
pub const WRITE_WANTED: usize = 2;
/// A free lock.
pub const fn free<T>() -> Tagged<T> {
    Tagged::Num(0, 0)
}

/// An atomic lock word holding a [`Tagged`]: `arch::cell::TaggedRef` in the kernel,
/// an index-encoded loom atomic under the model checker.
pub trait Word {
    /// What a held word refers to: the owning (or writing) thread.
    type Owner: Sync + 'static;
    /// The word's value: an owner or a reader count, with its flag bits.
    fn load(&self, o: Ordering) -> Tagged<Self::Owner>;
    /// Sets the word to `v`, unconditionally.
    fn store(&self, v: Tagged<Self::Owner>, o: Ordering);
    /// Replaces `cur` by `new` if the word holds `cur` (orderings `s` on success,
    /// `f` on failure); returns what it held, `Err` if that was not `cur`.
    fn compare_exchange(
        &self,
        cur: Tagged<Self::Owner>,
        new: Tagged<Self::Owner>,
        s: Ordering,
        f: Ordering,
    ) -> Result<Tagged<Self::Owner>, Tagged<Self::Owner>>;
}

impl<T: Sync + 'static> Word for arch::cell::TaggedRef<T> {
    type Owner = T;
    #[inline(always)]
    fn load(&self, o: Ordering) -> Tagged<T> {
        arch::cell::TaggedRef::load(self, o)
    }
    #[inline(always)]
    fn store(&self, v: Tagged<T>, o: Ordering) {
        arch::cell::TaggedRef::store(self, v, o)
    }
    #[inline(always)]
    fn compare_exchange(
        &self,
        cur: Tagged<T>,
        new: Tagged<T>,
        s: Ordering,
        f: Ordering,
    ) -> Result<Tagged<T>, Tagged<T>> {
        arch::cell::TaggedRef::compare_exchange(self, cur, new, s, f)
    }
}

fn same<T>(a: &'static T, b: &'static T) -> bool {
    core::ptr::eq(a, b)
}

// ---------------------------------------------------------------- mutex

/// Takes a free mutex for `me`; on failure returns what the word held.
#[inline(always)]
pub fn mutex_try_enter<W: Word>(w: &W, me: &'static W::Owner) -> Result<(), Tagged<W::Owner>> {
    w.compare_exchange(free(), Tagged::Ref(me, 0), Acquire, Relaxed).map(|_| ())
}

/// Releases a mutex that `me` holds with nobody waiting; on failure (waiters, or
/// not `me`'s) returns what the word held.
#[inline(always)]
pub fn mutex_exit_fast<W: Word>(w: &W, me: &'static W::Owner) -> Result<(), Tagged<W::Owner>> {
    w.compare_exchange(Tagged::Ref(me, 0), free(), Release, Relaxed).map(|_| ())
}

/// Under the turnstile lock: announces a waiter by setting `WAITERS` on the held
/// mutex; returns its owner, or `None` if the mutex was free (try to take it again).
pub fn mutex_mark_waiters<W: Word>(w: &W) -> Option<&'static W::Owner> {
    let mut v = w.load(Relaxed);
    loop {
        match v {
            Tagged::Ref(o, f) if f & WAITERS != 0 => return Some(o),
            Tagged::Ref(o, f) => {
                match w.compare_exchange(v, Tagged::Ref(o, f | WAITERS), Relaxed, Relaxed) {
                    Ok(_) => return Some(o),
                    Err(now) => v = now,
                }
            }
            Tagged::Num(..) => return None,
        }
    }
}

/// Under the turnstile lock, by the owner `me` whose fast exit failed: hands the
/// mutex to `next` (keeping `WAITERS` if `more` threads still wait), or frees it.
pub fn mutex_handoff<W: Word>(
    w: &W,
    me: &'static W::Owner,
    next: Option<&'static W::Owner>,
    more: bool,
) {
    let new = match next {
        Some(n) => Tagged::Ref(n, if more { WAITERS } else { 0 }),
        None => free(),
    };
    // Nobody else changes a held word with WAITERS set: a compare-and-swap both
    // checks that and releases.
    let was = w.compare_exchange(Tagged::Ref(me, WAITERS), new, AcqRel, Relaxed);
    assert!(
        was.is_ok(),
        "mutex hand-off: the lock word changed under the turnstile lock ({:?})",
        was
    );
}

// ---------------------------------------------------------------- rwlock

/// Enters for reading if no writer holds or wants the lock (no flags at all);
/// on failure returns what the word held.
#[inline(always)]
pub fn rw_try_read<W: Word>(w: &W) -> Result<(), Tagged<W::Owner>> {
    let mut v = w.load(Relaxed);
    loop {
        match v {
            Tagged::Num(n, 0) => {
                match w.compare_exchange(v, Tagged::Num(n + 1, 0), Acquire, Relaxed) {
                    Ok(_) => return Ok(()),
                    Err(now) => v = now,
                }
            }
            _ => return Err(v),
        }
    }
}

/// Enters for writing a free lock; on failure returns what the word held.
#[inline(always)]
pub fn rw_try_write<W: Word>(w: &W, me: &'static W::Owner) -> Result<(), Tagged<W::Owner>> {
    w.compare_exchange(free(), Tagged::Ref(me, 0), Acquire, Relaxed).map(|_| ())
}

/// Leaves a read hold unless it is the last one on a lock with waiters (then the
/// slow path must hand the lock on): `Err` with what the word held. `seen` is the
/// word as the caller last read it.
#[inline(always)]
pub fn rw_exit_read_fast<W: Word>(w: &W, seen: Tagged<W::Owner>) -> Result<(), Tagged<W::Owner>> {
    let mut v = seen;
    loop {
        match v {
            Tagged::Num(n, f) if n > 1 || (n == 1 && f == 0) => {
                match w.compare_exchange(v, Tagged::Num(n - 1, f), Release, Relaxed) {
                    Ok(_) => return Ok(()),
                    Err(now) => v = now,
                }
            }
            _ => return Err(v),
        }
    }
}

/// Leaves a write hold with nobody waiting; `Err` with what the word held.
#[inline(always)]
pub fn rw_exit_write_fast<W: Word>(w: &W, me: &'static W::Owner) -> Result<(), Tagged<W::Owner>> {
    w.compare_exchange(Tagged::Ref(me, 0), free(), Release, Relaxed).map(|_| ())
}

/// Turns `me`'s write hold into a read hold when nobody waits; `Err` otherwise.
#[inline(always)]
pub fn rw_downgrade_fast<W: Word>(w: &W, me: &'static W::Owner) -> Result<(), Tagged<W::Owner>> {
    w.compare_exchange(Tagged::Ref(me, 0), Tagged::Num(1, 0), Release, Relaxed).map(|_| ())
}

/// Turns the only read hold into `me`'s write hold, if no writer waits.
#[inline(always)]
pub fn rw_try_upgrade<W: Word>(w: &W, me: &'static W::Owner) -> bool {
    w.compare_exchange(Tagged::Num(1, 0), Tagged::Ref(me, 0), Acquire, Relaxed).is_ok()
}

/// What a waiter found under the turnstile lock.
#[derive(Debug)]
pub enum Marked<T: 'static> {
    /// It got the lock after all.
    Entered,
    /// It must block; the writer that holds the lock, if one does.
    Wait(Option<&'static T>),
}

/// Under the turnstile lock: a reader takes the lock if no writer holds or wants
/// it, else sets `WAITERS` and must block.
pub fn rw_mark_reader<W: Word>(w: &W) -> Marked<W::Owner> {
    let mut v = w.load(Relaxed);
    loop {
        let (new, res) = match v {
            Tagged::Num(n, f) if f & WRITE_WANTED == 0 => (Tagged::Num(n + 1, f), Marked::Entered),
            Tagged::Num(n, f) => (Tagged::Num(n, f | WAITERS), Marked::Wait(None)),
            Tagged::Ref(o, f) => (Tagged::Ref(o, f | WAITERS), Marked::Wait(Some(o))),
        };
        match w.compare_exchange(v, new, Acquire, Relaxed) {
            Ok(_) => return res,
            Err(now) => v = now,
        }
    }
}

/// Under the turnstile lock: a writer takes a free lock, else sets `WAITERS` and
/// `WRITE_WANTED` (no new readers from now on) and must block.
pub fn rw_mark_writer<W: Word>(w: &W, me: &'static W::Owner) -> Marked<W::Owner> {
    let mut v = w.load(Relaxed);
    loop {
        let (new, res) = match v {
            // Free: with flags only if waiters were handed nothing, which the
            // hand-off never leaves; take it and keep them for our exit to see.
            Tagged::Num(0, f) => (Tagged::Ref(me, f), Marked::Entered),
            Tagged::Num(n, f) => (Tagged::Num(n, f | WAITERS | WRITE_WANTED), Marked::Wait(None)),
            Tagged::Ref(o, f) => {
                (Tagged::Ref(o, f | WAITERS | WRITE_WANTED), Marked::Wait(Some(o)))
            }
        };
        match w.compare_exchange(v, new, Acquire, Relaxed) {
            Ok(_) => return res,
            Err(now) => v = now,
        }
    }
}

/// Under the turnstile lock, by a reader whose fast exit failed: leaves, and returns
/// true if it was the last reader, which must then hand the lock on with
/// [`rw_handoff`] (from `Num(1, flags)`).
pub fn rw_exit_read_slow<W: Word>(w: &W) -> bool {
    let mut v = w.load(Relaxed);
    loop {
        match v {
            Tagged::Num(1, _) => return true,
            Tagged::Num(n, f) if n > 1 => {
                match w.compare_exchange(v, Tagged::Num(n - 1, f), Release, Relaxed) {
                    Ok(_) => return false,
                    Err(now) => v = now,
                }
            }
            _ => panic!("rwlock read exit: the lock is not read-held ({v:?})"),
        }
    }
}

/// Under the turnstile lock: replaces the holder's value `from` (the last reader's
/// `Num(1, _)` or the writer's `Ref(me, _)`) by `to`, what the hand-off decided.
pub fn rw_handoff<W: Word>(w: &W, from: Tagged<W::Owner>, to: Tagged<W::Owner>) {
    let was = w.compare_exchange(from, to, AcqRel, Relaxed);
    assert!(
        was.is_ok(),
        "rwlock hand-off: the lock word changed under the turnstile lock ({:?}, expected {:?})",
        was,
        from
    );
}

/// The hand-off decision (under the turnstile lock): the word a rwlock gets when
/// its writer or last reader leaves it, or its writer downgrades (`keep` = 1 read
/// hold stays). `first_writer` is the first waiter if it is a writer, `readers` the
/// readers queued before the first writer, `nwaiters` all waiters. A writer at the
/// head gets the lock alone (not on a downgrade); else the readers at the head get
/// it together. The flags stay while anyone stays queued (behind a writer, hence
/// `WRITE_WANTED`).
pub fn rw_grant<T>(
    first_writer: Option<&'static T>,
    readers: usize,
    nwaiters: usize,
    keep: usize,
) -> Tagged<T> {
    match first_writer {
        Some(w) if keep == 0 => Tagged::Ref(w, if nwaiters > 1 { WAITERS } else { 0 }),
        _ => {
            Tagged::Num(keep + readers, if nwaiters > readers { WAITERS | WRITE_WANTED } else { 0 })
        }
    }
}

/// Whether `v` is a write hold by `me`.
pub fn is_writer<T>(v: Tagged<T>, me: &'static T) -> bool {
    matches!(v, Tagged::Ref(o, _) if same(o, me))
}
