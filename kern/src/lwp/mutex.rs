//! LWP mutexes (S8, S9 for LWPs): mutexes whose lock word is in user memory and
//! whose owner is an LWP, taken and left by user code with one compare-and-swap
//! when they are free, and through `lwp_mutex_timedlock`/`lwp_mutex_unlock` when
//! they are busy (Solaris' calls of those names). The thread library builds its
//! own locks on them, and whether to spin before sleeping here is user code's
//! choice (S9), helped by `schedctl`.
//!
//! # Theory
//!
//! The word is 0 (free) or the owner's LWP id with `LWP_MUTEX_WAITERS` when LWPs
//! sleep for it (`lwp_abi::schedctl`). A busy mutex's waiters sleep on the sleep
//! queue of a channel made of the process and the word's address ([`chan`]: no two
//! processes share one, nor the kernel's own channels), in arrival order.
//!
//! * **Taking it** (in `lwp_mutex_timedlock`, under the sleep queue's lock, as the
//!   sleep's condition): a compare-and-swap of 0 to the caller's id; failing that,
//!   one that sets `WAITERS` on the held word, and the caller sleeps.
//! * **Leaving it with waiters** (the owner's own fast compare-and-swap fails on
//!   `WAITERS`): `lwp_mutex_unlock` takes the first sleeper off the queue and, under
//!   the same lock, *hands the mutex over*: the word becomes that LWP's id, with
//!   `WAITERS` if others still sleep, in one compare-and-swap. The sleeper's
//!   condition then finds itself the owner. So no wakeup is lost (the word is
//!   marked and the sleeper queued under one lock hold, and the hand-off looks at
//!   the queue under it), and no LWP that just arrived can take the mutex from
//!   under the one woken.
//!
//! Everything user code hands in is checked: the object must be 4-aligned
//! (`EINVAL`), readable and writable user memory (`EFAULT`), and carry
//! `LWP_MUTEX_MAGIC` (`EINVAL`: uninitialized, destroyed, or no mutex at all); only
//! the owner may unlock
//! (`EPERM`), and an owner that locks again gets `EDEADLK`. User code may scribble
//! on the word at any time: the kernel then returns errors, never trusts it.
//! A wait is a stop point, like a park.

use core::cell::Cell;

use lwp_abi::{LWP_MUTEX_MAGIC, LWP_MUTEX_MAGIC_OFFSET, LWP_MUTEX_WAITERS};

use super::current;
use super::event::{interrupt_requested, wakeable};
use super::stop::wait_interrupted;
use crate::errno::Errno;
use crate::proc::Proc;
use crate::sleepq::{self, SObj};
use crate::syscall::uaccess::copyin;
use crate::thread::KThread;
use crate::{clock, M};
use arch::Machine;

/// The sleep-queue channel of the LWP mutex at user address `lp` of `p`: the top
/// bit (never set in a kernel address, on either machine), the pid (below 2^20),
/// and the address (below 2^43).
fn chan(p: &Proc, lp: u64) -> usize {
    (1 << 63 | u64::from(p.pid().0) << 43 | lp) as usize
}

/// The pid and the user address the sleep-queue channel of an LWP mutex names (see
/// `chan`), for the debugger.
pub fn chan_names(chan: usize) -> (u32, u64) {
    let c = chan as u64;
    ((c >> 43 & 0xf_ffff) as u32, c & ((1 << 43) - 1))
}

/// Checks that `lp` is an initialized LWP mutex the caller can reach and write;
/// returns its lock word.
fn check(lp: u64) -> Result<u32, Errno> {
    if !lp.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    let w = word(lp)?;
    let mut magic = [0u8; 4];
    copyin(lp.checked_add(LWP_MUTEX_MAGIC_OFFSET).ok_or(Errno::EFAULT)?, &mut magic)?;
    if u32::from_be_bytes(magic) != LWP_MUTEX_MAGIC {
        return Err(Errno::EINVAL);
    }
    Ok(w)
}

fn cas(lp: u64, old: u32, new: u32) -> Result<u32, Errno> {
    M::user_cas32(lp, old, new).map_err(|_| Errno::EFAULT)
}

/// The lock word as it is now.
fn word(lp: u64) -> Result<u32, Errno> {
    // A compare-and-swap that changes nothing reads it atomically, and checks
    // that it is writable too.
    cas(lp, 0, 0)
}

fn owner(w: u32) -> u32 {
    w & !LWP_MUTEX_WAITERS
}

/// What a try found.
enum Try {
    /// The caller owns the mutex: it took it free, or was handed it.
    Owner,
    /// Busy, marked `WAITERS`: the caller sleeps.
    Busy,
}

/// Takes the mutex for `me` if it is free or already `me`'s, else marks it.
fn take_or_mark(lp: u64, me: u32) -> Result<Try, Errno> {
    let mut w = cas(lp, 0, me)?;
    loop {
        if w == 0 {
            w = cas(lp, 0, me)?;
            if w == 0 {
                return Ok(Try::Owner);
            }
            continue;
        }
        if owner(w) == me {
            return Ok(Try::Owner);
        }
        if w & LWP_MUTEX_WAITERS != 0 {
            return Ok(Try::Busy);
        }
        match cas(lp, w, w | LWP_MUTEX_WAITERS)? {
            now if now == w => return Ok(Try::Busy),
            now => w = now,
        }
    }
}

/// `lwp_mutex_timedlock`: takes the LWP mutex at `lp` for the current LWP,
/// sleeping for at most `ticks` clock ticks if given.
///
/// Errors: `EINVAL`, `EFAULT` (see the module comment), `EDEADLK` if the caller
/// holds it, `ETIME` if the time ran out, `EINTR` if a signal it catches came
/// first; `EINVAL` in a kernel thread.
pub fn lwp_mutex_timedlock(lp: u64, ticks: Option<u64>) -> Result<(), Errno> {
    let (t, lwp, p) = current()?;
    let me = lwp.id().0;
    if owner(check(lp)?) == me {
        return Err(Errno::EDEADLK);
    }
    let chan = chan(p, lp);
    let deadline = ticks.map(|n| clock::lbolt().saturating_add(n).saturating_add(u64::from(n > 0)));
    let done: Cell<Option<Result<(), Errno>>> = Cell::new(None);
    let cond = || match take_or_mark(lp, me) {
        Ok(Try::Owner) => {
            done.set(Some(Ok(())));
            true
        }
        Ok(Try::Busy) => interrupt_requested(t),
        Err(e) => {
            done.set(Some(Err(e)));
            true
        }
    };
    loop {
        // An interruptible wait: a signal or a stop request wakes it.
        let woken = wakeable(t, || match deadline {
            None => {
                sleepq::sleep_on(chan, SObj::LwpMutex, cond);
                true
            }
            Some(d) => {
                let left = d.saturating_sub(clock::lbolt());
                sleepq::sleep_timed_on(chan, SObj::LwpMutex, cond, left)
            }
        });
        if let Some(r) = done.take() {
            return r;
        }
        // Asked to stop or exit: stop, then wait again; a signal it catches ends
        // the wait with EINTR.
        if interrupt_requested(t) {
            wait_interrupted()?;
            continue;
        }
        if !woken {
            return Err(Errno::ETIME);
        }
    }
}

/// `lwp_mutex_unlock`: the current LWP leaves the LWP mutex at `lp`, handing it to
/// the first LWP asleep for it.
///
/// Errors: `EPERM` if the caller does not hold it; `EINVAL`, `EFAULT` (see the
/// module comment); `EINVAL` in a kernel thread.
pub fn lwp_mutex_unlock(lp: u64) -> Result<(), Errno> {
    let (_, lwp, p) = current()?;
    let me = lwp.id().0;
    if owner(check(lp)?) != me {
        return Err(Errno::EPERM);
    }
    sleepq::wakeup_first(chan(p, lp), |next: Option<&'static KThread>, more| {
        let new = match next.and_then(|t| t.lwp()) {
            Some(l) if more => l.id().0 | LWP_MUTEX_WAITERS,
            Some(l) => l.id().0,
            None => 0,
        };
        // Only `WAITERS` may appear meanwhile (a waiter marking it); anything else
        // is user code's scribbling: refused, and the thread taken looks again.
        let mut w = word(lp)?;
        loop {
            if owner(w) != me {
                return Err(Errno::EPERM);
            }
            match cas(lp, w, new)? {
                now if now == w => return Ok(()),
                now => w = now,
            }
        }
    })
}
