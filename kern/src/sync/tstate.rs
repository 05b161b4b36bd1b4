//! What each thread carries for the turnstiles (`KThread::t_ts`): the lock it is
//! blocked on and what for, and whether it spins for one. Kept by `sync`, resident
//! (S6); below the thread structure that holds it.

use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize};

/// What a blocked thread waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum WaitKind {
    /// A mutex.
    Mutex = 0,
    /// A reader-writer lock, to read.
    Reader = 1,
    /// A reader-writer lock, to write.
    Writer = 2,
}

impl WaitKind {
    pub(super) fn from_u8(v: u8) -> WaitKind {
        match v {
            0 => WaitKind::Mutex,
            1 => WaitKind::Reader,
            _ => WaitKind::Writer,
        }
    }

    /// What it is, in a few words (`mutex`, `rwlock (to read)` ...).
    pub fn what(self) -> &'static str {
        match self {
            WaitKind::Mutex => "mutex",
            WaitKind::Reader => "rwlock (to read)",
            WaitKind::Writer => "rwlock (to write)",
        }
    }
}

/// A thread's turnstile state, in its `KThread` (`t_ts`): resident (S6), as deadlock
/// detection and priority inheritance follow it from thread to thread.
pub(crate) struct ThreadTs {
    /// The lock (the address of its lock word) on whose turnstile the thread is
    /// blocked; 0 if none. Deadlock detection and priority inheritance follow it.
    /// *Under the turnstile lock* (or before the structure is handed out); read
    /// without it by `blocked_on`.
    pub(super) t_ts_sobj: AtomicUsize,
    /// What it waits there for ([`WaitKind`]). *Under the turnstile lock.*
    pub(super) t_ts_kind: AtomicU8,
    /// It is spinning for an adaptive mutex or rwlock: a thread that wants a lock
    /// it holds blocks rather than spin behind it. *Only by the thread itself*
    /// (`turnstile::set_spinning`); read by the others without a lock.
    pub(super) t_spinning: AtomicBool,
}

impl ThreadTs {
    /// Blocked on nothing, not spinning.
    pub(crate) const fn new() -> ThreadTs {
        ThreadTs {
            t_ts_sobj: AtomicUsize::new(0),
            t_ts_kind: AtomicU8::new(0),
            t_spinning: AtomicBool::new(false),
        }
    }

    /// Blocked on nothing, not spinning: the structure is handed out.
    #[inline]
    pub(crate) fn reset(&self) {
        self.t_ts_sobj.store(0, Relaxed);
        self.t_ts_kind.store(0, Relaxed);
        self.t_spinning.store(false, Relaxed);
    }
}
