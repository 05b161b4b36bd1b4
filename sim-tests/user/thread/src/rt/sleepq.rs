//! The sleep queues of the library's synchronization objects (Solaris libc's are
//! the same idea): threads waiting on an object are queued, in arrival order, on
//! one of a fixed set of queues chosen by hashing the object's address, so that an
//! object is only its words. The queues are the pool's, under its lock
//! (`sched::Held`); a thread on one records the object (`wchan`) and how it waits
//! there (`wkind`).

use super::thread::Thread;
use crate::queue::Fifo;

/// How a thread waits on an object.
pub(crate) const MUTEX: u8 = 0;
pub(crate) const READER: u8 = 1;
pub(crate) const WRITER: u8 = 2;
pub(crate) const COND: u8 = 3;
pub(crate) const SEMA: u8 = 4;

/// How many queues.
pub(crate) const NSLEEPQ: usize = 32;

/// A sleep queue: the threads waiting on the objects that hash to it.
pub(crate) type SleepQ = Fifo<Thread>;

/// The queue of the object at `addr`.
#[inline(always)]
pub(crate) fn bucket(addr: u64) -> usize {
    ((addr >> 3) ^ (addr >> 9)) as usize % NSLEEPQ
}

/// Queues `t` on `q` as waiting on `addr` as `kind`.
#[inline(always)]
pub(crate) fn enqueue(q: &mut SleepQ, t: &'static Thread, addr: u64, kind: u8) {
    t.wchan.set(addr);
    t.wkind.set(kind);
    q.push(t);
}

/// Takes the first thread waiting on `addr`.
#[inline(always)]
pub(crate) fn take(q: &mut SleepQ, addr: u64) -> Option<&'static Thread> {
    q.take_first(|t| t.wchan.get() == addr)
}

/// The threads waiting on `addr`, first to last.
#[inline(always)]
pub(crate) fn waiting(q: &SleepQ, addr: u64) -> impl Iterator<Item = &'static Thread> + '_ {
    q.iter().filter(move |t| t.wchan.get() == addr)
}
