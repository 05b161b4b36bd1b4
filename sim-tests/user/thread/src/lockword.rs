//! The lock-word protocols of the library's mutexes, reader-writer locks and
//! semaphores: every atomic step on a lock word, and nothing else, generic over
//! the word so that `loom` model-checks the same functions the library calls
//! (`loom_tests`), as the kernel's `sync::lockword` is checked.
//!
//! # Theory
//!
//! A word is 64 bits. A thread is named by the address of its thread structure,
//! which is 8-aligned and not 0, so its low three bits are free for flags.
//!
//! * **Mutex.** 0 is free; `owner | flags` is held. Taking a free one is one
//!   compare-and-swap of 0 to the caller; leaving one nobody waits for is one
//!   compare-and-swap back to 0. `WAITERS` says threads wait (or are about to) on
//!   the mutex's sleep queue: the owner's fast exit fails on it, and the exit
//!   takes the queue's lock and *hands the mutex over*: the word becomes the
//!   first waiter (with `WAITERS` if more wait), or 0, in one compare-and-swap. A
//!   waiter sets `WAITERS` only under the queue's lock and only on a held word,
//!   and only the owner clears it, under that lock: a waiter that has queued
//!   itself is always seen by the exit, and a thread that arrives meanwhile finds
//!   the word held and cannot take the mutex from under the one handed it.
//! * **Reader-writer lock.** Bit 0 (`WRITER`) set: write-held, the rest is the
//!   owner; clear: the number of readers times 8. `WAITERS` as for the mutex;
//!   `WRITE_WANTED` says a writer waits, and keeps new readers out (writers are
//!   not starved). The writer's exit and the last reader's exit of a lock with
//!   waiters hand it on under the queue's lock ([`rw_grant`]): to the first
//!   waiter if it is a writer, else to the readers ahead of the first writer,
//!   all at once.
//! * **Semaphore.** The count. A unit is taken only by a compare-and-swap from a
//!   positive count ([`sema_try_p`]): it never admits more than it holds. The
//!   waiters are counted apart; see `sync`'s semaphore for the hand-over.
//!
//! Acquisitions use `Acquire`, releases `Release`, so that a critical section's
//! accesses stay inside it.

use core::sync::atomic::Ordering::{self, AcqRel, Acquire, Relaxed, Release, SeqCst};

#[cfg(not(loom))]
use core::sync::atomic::fence;
#[cfg(loom)]
use loom::sync::atomic::fence;

/// Threads wait (or are about to) on the lock's sleep queue.
pub const WAITERS: u64 = 2;
/// A reader-writer lock has a writer waiting: new readers wait too.
pub const WRITE_WANTED: u64 = 4;
/// A reader-writer lock is write-held: the rest of the word is its owner.
pub const WRITER: u64 = 1;
/// The flag bits.
const FLAGS: u64 = WRITER | WAITERS | WRITE_WANTED;
/// One reader in a reader-writer lock's word.
pub const READER: u64 = 8;

/// An atomic 64-bit word: `core`'s, or loom's under the model checker.
pub trait Word {
    fn load(&self, o: Ordering) -> u64;
    fn store(&self, v: u64, o: Ordering);
    fn compare_exchange(&self, cur: u64, new: u64, s: Ordering, f: Ordering) -> Result<u64, u64>;
    fn fetch_add(&self, v: u64, o: Ordering) -> u64;
}

macro_rules! word_impl {
    ($t:ty) => {
        impl Word for $t {
            #[inline(always)]
            fn load(&self, o: Ordering) -> u64 {
                <$t>::load(self, o)
            }
            #[inline(always)]
            fn store(&self, v: u64, o: Ordering) {
                <$t>::store(self, v, o)
            }
            #[inline(always)]
            fn compare_exchange(
                &self,
                cur: u64,
                new: u64,
                s: Ordering,
                f: Ordering,
            ) -> Result<u64, u64> {
                <$t>::compare_exchange(self, cur, new, s, f)
            }
            #[inline(always)]
            fn fetch_add(&self, v: u64, o: Ordering) -> u64 {
                <$t>::fetch_add(self, v, o)
            }
        }
    };
}

word_impl!(core::sync::atomic::AtomicU64);
#[cfg(loom)]
word_impl!(loom::sync::atomic::AtomicU64);

/// The owner named by a mutex word (0: free).
#[inline(always)]
pub fn owner(w: u64) -> u64 {
    w & !FLAGS
}

// ---------------------------------------------------------------- mutex

/// Takes a free mutex for `me`; on failure returns what the word held.
#[inline(always)]
pub fn mutex_try_lock<W: Word>(w: &W, me: u64) -> Result<(), u64> {
    w.compare_exchange(0, me, Acquire, Relaxed).map(|_| ())
}

/// Leaves a mutex `me` holds with nobody waiting; on failure (waiters, or not
/// `me`'s) returns what the word held.
#[inline(always)]
pub fn mutex_unlock_fast<W: Word>(w: &W, me: u64) -> Result<(), u64> {
    w.compare_exchange(me, 0, Release, Relaxed).map(|_| ())
}

/// What a waiter found under the queue's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    /// The lock is free now (a mutex) or was taken by the caller (a rwlock): no wait.
    Free,
    /// Marked: the caller queues itself and waits; the write owner, if one is known.
    Wait(u64),
}

/// Under the queue's lock: sets `WAITERS` on the held mutex and returns its owner,
/// or says it is free (try to take it again).
#[inline(always)]
pub fn mutex_mark<W: Word>(w: &W) -> Marked {
    let mut v = w.load(Relaxed);
    loop {
        if v == 0 {
            return Marked::Free;
        }
        if v & WAITERS != 0 {
            return Marked::Wait(owner(v));
        }
        match w.compare_exchange(v, v | WAITERS, Relaxed, Relaxed) {
            Ok(_) => return Marked::Wait(owner(v)),
            Err(now) => v = now,
        }
    }
}

/// Under the queue's lock, by `me`, whose fast exit failed: hands the mutex to
/// `next` (0: none, the mutex is freed), keeping `WAITERS` if `more` still wait.
/// `Err` with the word if `me` does not hold it.
#[inline(always)]
pub fn mutex_handoff<W: Word>(w: &W, me: u64, next: u64, more: bool) -> Result<(), u64> {
    let new = if next == 0 { 0 } else { next | if more { WAITERS } else { 0 } };
    let mut v = w.load(Relaxed);
    loop {
        if owner(v) != me {
            return Err(v);
        }
        // Only WAITERS may appear meanwhile, set by a waiter that then queues
        // itself behind the lock the caller holds.
        match w.compare_exchange(v, new, AcqRel, Relaxed) {
            Ok(_) => return Ok(()),
            Err(now) => v = now,
        }
    }
}

// ---------------------------------------------------------------- rwlock

/// The number of readers of a word that is not write-held.
#[inline(always)]
pub fn readers(w: u64) -> u64 {
    if w & WRITER != 0 {
        0
    } else {
        w / READER
    }
}

/// The write owner of a rwlock word, if write-held.
#[inline(always)]
pub fn writer(w: u64) -> Option<u64> {
    (w & WRITER != 0).then_some(owner(w))
}

/// Enters for reading if no writer holds or wants the lock (no flags at all);
/// on failure returns what the word held.
#[inline(always)]
pub fn rw_try_read<W: Word>(w: &W) -> Result<(), u64> {
    let mut v = w.load(Relaxed);
    loop {
        if v & FLAGS != 0 {
            return Err(v);
        }
        match w.compare_exchange(v, v + READER, Acquire, Relaxed) {
            Ok(_) => return Ok(()),
            Err(now) => v = now,
        }
    }
}

/// Enters a free lock for writing; on failure returns what the word held.
#[inline(always)]
pub fn rw_try_write<W: Word>(w: &W, me: u64) -> Result<(), u64> {
    w.compare_exchange(0, me | WRITER, Acquire, Relaxed).map(|_| ())
}

/// Leaves a read hold unless it is the last one on a lock with waiters: `Err`
/// with the word then (the slow path hands the lock on).
#[inline(always)]
pub fn rw_exit_read_fast<W: Word>(w: &W) -> Result<(), u64> {
    let mut v = w.load(Relaxed);
    loop {
        if v & WRITER != 0 || readers(v) == 0 || (readers(v) == 1 && v & FLAGS != 0) {
            return Err(v);
        }
        match w.compare_exchange(v, v - READER, Release, Relaxed) {
            Ok(_) => return Ok(()),
            Err(now) => v = now,
        }
    }
}

/// Leaves `me`'s write hold with nobody waiting; `Err` with the word otherwise.
#[inline(always)]
pub fn rw_exit_write_fast<W: Word>(w: &W, me: u64) -> Result<(), u64> {
    w.compare_exchange(me | WRITER, 0, Release, Relaxed).map(|_| ())
}

/// A writer that spins for a read-held lock (rather than queue behind it) wants
/// it: `WRITE_WANTED` keeps new readers out while those inside drain, and the last
/// one's exit, which then takes the slow path, clears it as it frees the lock.
pub fn rw_want_write<W: Word>(w: &W) {
    let mut v = w.load(Relaxed);
    while v & (WRITER | WRITE_WANTED) == 0 && readers(v) != 0 {
        match w.compare_exchange(v, v | WRITE_WANTED, Relaxed, Relaxed) {
            Ok(_) => return,
            Err(now) => v = now,
        }
    }
}

/// Under the queue's lock: a reader takes the lock if no writer holds or wants it,
/// else sets `WAITERS` and waits (for the writer that holds it, if one does).
pub fn rw_mark_reader<W: Word>(w: &W) -> Marked {
    let mut v = w.load(Relaxed);
    loop {
        let (new, res) = if v & (WRITER | WRITE_WANTED) == 0 {
            (v + READER, Marked::Free)
        } else {
            (v | WAITERS, Marked::Wait(writer(v).unwrap_or(0)))
        };
        match w.compare_exchange(v, new, Acquire, Relaxed) {
            Ok(_) => return res,
            Err(now) => v = now,
        }
    }
}

/// Under the queue's lock: a writer takes a free lock (keeping any flags for its
/// exit to see), else sets `WAITERS` and `WRITE_WANTED` and waits.
pub fn rw_mark_writer<W: Word>(w: &W, me: u64) -> Marked {
    let mut v = w.load(Relaxed);
    loop {
        let (new, res) = if v & WRITER == 0 && readers(v) == 0 {
            (me | WRITER | (v & FLAGS), Marked::Free)
        } else {
            (v | WAITERS | WRITE_WANTED, Marked::Wait(writer(v).unwrap_or(0)))
        };
        match w.compare_exchange(v, new, Acquire, Relaxed) {
            Ok(_) => return res,
            Err(now) => v = now,
        }
    }
}

/// Under the queue's lock, by a reader whose fast exit failed: leaves, and returns
/// true if it was the last reader, which must then hand the lock on with
/// [`rw_handoff`] (from one reader and its flags). `Err` if not read-held.
pub fn rw_exit_read_slow<W: Word>(w: &W) -> Result<bool, u64> {
    let mut v = w.load(Relaxed);
    loop {
        if v & WRITER != 0 || readers(v) == 0 {
            return Err(v);
        }
        if readers(v) == 1 {
            return Ok(true);
        }
        match w.compare_exchange(v, v - READER, Release, Relaxed) {
            Ok(_) => return Ok(false),
            Err(now) => v = now,
        }
    }
}

/// Under the queue's lock: the word held as `from` (the last reader's, or the
/// writer's, with whatever flags it has now) becomes `to`. `Err` with the word if
/// it is not held as `from` says (only flags may have changed, by waiters).
pub fn rw_handoff<W: Word>(w: &W, from: u64, to: u64) -> Result<(), u64> {
    let mut v = w.load(Relaxed);
    loop {
        if v & !(WAITERS | WRITE_WANTED) != from & !(WAITERS | WRITE_WANTED) {
            return Err(v);
        }
        match w.compare_exchange(v, to, AcqRel, Relaxed) {
            Ok(_) => return Ok(()),
            Err(now) => v = now,
        }
    }
}

/// The hand-off decision (under the queue's lock): the word a rwlock gets when its
/// writer or last reader leaves it, or its writer downgrades (`keep` = 1 read hold
/// stays). `first_writer` is the first waiter if it is a writer, `readers` the
/// readers queued before the first writer, `nwaiters` all waiters. A writer at the
/// head gets the lock alone (not on a downgrade); else the readers at the head get
/// it together. The flags stay while anyone stays queued (behind a writer, hence
/// `WRITE_WANTED`).
pub fn rw_grant(first_writer: Option<u64>, readers: u64, nwaiters: u64, keep: u64) -> u64 {
    match first_writer {
        Some(w) if keep == 0 => w | WRITER | if nwaiters > 1 { WAITERS } else { 0 },
        _ => {
            ((keep + readers) * READER)
                | if nwaiters > readers { WAITERS | WRITE_WANTED } else { 0 }
        }
    }
}

// ---------------------------------------------------------------- semaphore

/// Takes a unit if there is one.
#[inline(always)]
pub fn sema_try_p<W: Word>(w: &W) -> bool {
    let mut n = w.load(Relaxed);
    while n > 0 {
        match w.compare_exchange(n, n - 1, Acquire, Relaxed) {
            Ok(_) => return true,
            Err(now) => n = now,
        }
    }
    false
}

/// A waiter about to sleep (under the queue's lock): counts itself a waiter, and
/// takes a unit if there is one after all (then it is no waiter). `post` adds a
/// unit and then looks for waiters ([`sema_v`]): with a full fence between the
/// write and the read on each side, one of the two sees the other.
#[inline(always)]
pub fn sema_wait_or_count<W: Word>(count: &W, waiters: &W) -> bool {
    waiters.fetch_add(1, Relaxed);
    fence(SeqCst);
    if sema_try_p(count) {
        waiters.fetch_add(u64::MAX, Relaxed);
        return true;
    }
    false
}

/// Gives a unit back; true if a waiter may be queued (then the poster takes the
/// queue's lock and hands units over).
#[inline(always)]
pub fn sema_v<W: Word>(count: &W, waiters: &W) -> bool {
    count.fetch_add(1, Release);
    fence(SeqCst);
    waiters.load(Relaxed) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::AtomicU64;

    const A: u64 = 0x1000;
    const B: u64 = 0x2000;

    #[test]
    fn mutex_fast_paths_and_handoff() {
        let w = AtomicU64::new(0);
        assert_eq!(mutex_try_lock(&w, A), Ok(()));
        assert_eq!(mutex_try_lock(&w, B), Err(A));
        assert_eq!(mutex_unlock_fast(&w, B), Err(A), "a non-owner's exit fails");
        assert_eq!(mutex_mark(&w), Marked::Wait(A));
        assert_eq!(w.load(Relaxed), A | WAITERS);
        assert_eq!(mutex_unlock_fast(&w, A), Err(A | WAITERS), "waiters: the slow path");
        assert_eq!(mutex_handoff(&w, B, 0, false), Err(A | WAITERS), "only the owner hands over");
        assert_eq!(mutex_handoff(&w, A, B, true), Ok(()));
        assert_eq!(w.load(Relaxed), B | WAITERS);
        assert_eq!(mutex_handoff(&w, B, 0, false), Ok(()));
        assert_eq!(w.load(Relaxed), 0);
        assert_eq!(mutex_mark(&w), Marked::Free);
    }

    #[test]
    fn rwlock_readers_writers_and_grant() {
        let w = AtomicU64::new(0);
        assert_eq!(rw_try_read(&w), Ok(()));
        assert_eq!(rw_try_read(&w), Ok(()));
        assert_eq!(readers(w.load(Relaxed)), 2);
        assert!(rw_try_write(&w, A).is_err());
        // A writer waits: new readers are kept out.
        assert_eq!(rw_mark_writer(&w, A), Marked::Wait(0));
        assert!(rw_try_read(&w).is_err());
        assert_eq!(rw_mark_reader(&w), Marked::Wait(0));
        assert_eq!(rw_exit_read_fast(&w), Ok(()), "not the last reader");
        assert!(rw_exit_read_fast(&w).is_err(), "the last reader of a lock with waiters");
        assert_eq!(rw_exit_read_slow(&w), Ok(true));
        // The writer queued first gets it alone; the reader behind stays queued.
        let to = rw_grant(Some(A), 0, 2, 0);
        assert_eq!(rw_handoff(&w, READER, to), Ok(()));
        assert_eq!(writer(w.load(Relaxed)), Some(A));
        assert_eq!(w.load(Relaxed) & WAITERS, WAITERS);
        assert!(rw_exit_write_fast(&w, A).is_err());
        // The writer leaves: the reader gets it, and the flags go.
        let to = rw_grant(None, 1, 1, 0);
        assert_eq!(rw_handoff(&w, A | WRITER, to), Ok(()));
        assert_eq!(w.load(Relaxed), READER);
        assert_eq!(rw_handoff(&w, A | WRITER, 0), Err(READER), "not the writer's any more");
        // A spinning writer keeps new readers out; the last reader's slow exit frees it.
        rw_want_write(&w);
        assert!(rw_try_read(&w).is_err() && rw_exit_read_fast(&w).is_err());
        assert_eq!(rw_exit_read_slow(&w), Ok(true));
        assert_eq!(rw_handoff(&w, READER, rw_grant(None, 0, 0, 0)), Ok(()));
        assert_eq!(rw_try_write(&w, A), Ok(()));
        // A downgrade keeps the writer as a reader, with the leading readers.
        assert_eq!(rw_grant(Some(B), 2, 3, 1), (3 * READER) | WAITERS | WRITE_WANTED);
    }

    #[test]
    fn semaphore_never_goes_below_zero() {
        let (w, waiters) = (AtomicU64::new(2), AtomicU64::new(0));
        assert!(sema_try_p(&w) && sema_try_p(&w));
        assert!(!sema_try_p(&w));
        assert_eq!(w.load(Relaxed), 0);
        assert!(!sema_wait_or_count(&w, &waiters), "no unit: a waiter");
        assert!(sema_v(&w, &waiters), "a waiter to hand the unit to");
        waiters.store(0, Relaxed);
        assert!(sema_wait_or_count(&w, &waiters), "the unit, and no waiter counted");
        assert_eq!(waiters.load(Relaxed), 0);
        assert!(!sema_v(&w, &waiters));
    }
}
