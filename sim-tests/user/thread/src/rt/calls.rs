//! The calls on threads (S4), Solaris' `thr_*`: create, join, detach, self,
//! per-thread data, the stack segment, and `init`, which makes the program a
//! threaded one. Each checks its arguments and hands the rest to the pool
//! (`sched`); `exit` is the pool's own (`sched::exit`), as a thread's end is a
//! switch away for good.

use core::cell::Cell;

use lwp_abi::{Errno, StackT};

use super::sched;
use super::sys::current;
use super::thread::{stack_top, Thread, ThreadId, MAX_THREADS, STACK_SIZE, THREADS};
use crate::lwpmutex::{err, Error};

/// `create` flags (Solaris' values): an LWP of its own for the thread's life.
pub const THR_BOUND: u32 = 0x01;
/// Never joined: freed as it exits.
pub const THR_DETACHED: u32 = 0x40;

/// Makes the program a threaded one: the calling code becomes the main thread, an
/// unbound thread, and its LWP the pool's first (then the watchdog's LWP is made).
/// Call it first thing in `main`, once.
pub fn init() {
    sched::init();
}

/// Creates a thread that runs `f(arg)`; `flags` is [`THR_BOUND`] and/or
/// [`THR_DETACHED`]. An unbound thread is put on the run queue and the creator
/// goes on (S18: no system call, unless an idle LWP is to be unparked to run it);
/// a bound one gets its LWP at once. Its id.
///
/// Errors: `EAGAIN` when every thread structure is taken (or the kernel
/// refuses the bound thread's LWP), `EINVAL` for unknown flags.
pub fn create(f: fn(u64) -> u64, arg: u64, flags: u32) -> Result<ThreadId, Error> {
    if flags & !(THR_BOUND | THR_DETACHED) != 0 {
        return Err(err(Errno::EINVAL));
    }
    let detached = flags & THR_DETACHED != 0;
    if flags & THR_BOUND != 0 {
        sched::create_bound(f, arg, detached)
    } else {
        sched::create_unbound(f, arg, detached)
    }
}

/// The calling thread's id.
pub fn self_id() -> ThreadId {
    current().id()
}

/// The structure thread `id` would be on (ids go up by the table's size:
/// `thread::next_id`), if `id` can be a thread's. Whether it is, the pool checks
/// under its lock.
#[inline(always)]
fn lookup(id: ThreadId) -> Option<&'static Thread> {
    let k = (id as usize).checked_sub(1)?;
    Some(&THREADS[k % MAX_THREADS])
}

/// Waits for thread `id` to exit, frees it, and returns its exit value. Inlined
/// (see `sched::join`).
///
/// Errors: `ESRCH` if there is no such thread (or it was joined already),
/// `EDEADLK` for the caller itself, `EINVAL` if it is detached or another thread
/// joins it already.
#[inline(always)]
pub fn join(id: ThreadId) -> Result<u64, Error> {
    let me = current();
    if id == me.id() {
        return Err(err(Errno::EDEADLK));
    }
    let t = lookup(id).ok_or(err(Errno::ESRCH))?;
    sched::join(me, t, id)
}

/// Makes thread `id` detached: nobody will join it, and it is freed as it exits
/// (at once if it has exited already).
///
/// Errors: `ESRCH` if there is no such thread, `EINVAL` if it is detached already
/// or being joined.
pub fn detach(id: ThreadId) -> Result<(), Error> {
    let t = lookup(id).ok_or(err(Errno::ESRCH))?;
    sched::detach(t, id)
}

// ---- Per-thread data -------------------------------------------------------------

/// A per-thread data key.
pub type Key = usize;

/// Makes a key; each thread's value for it starts at 0, and at the thread's exit
/// `destructor` gets its value if it is not 0. `EAGAIN` when all [`NKEYS`](super::NKEYS) are made.
pub fn key_create(destructor: Option<fn(u64)>) -> Result<Key, Error> {
    sched::key_create(destructor)
}

/// Sets the calling thread's value for `key`. `EINVAL` for a key never made.
pub fn set_specific(key: Key, value: u64) -> Result<(), Error> {
    if !sched::key_made(key) {
        return Err(err(Errno::EINVAL));
    }
    let me = current();
    me.tsd[key].set(value);
    me.tsd_set.set(true);
    Ok(())
}

/// The calling thread's value for `key` (0 if never set, or the key never made).
pub fn get_specific(key: Key) -> u64 {
    current().tsd.get(key).map_or(0, Cell::get)
}

/// Solaris' `thr_stksegment`: the calling thread's stack, as `ss_sp` its top
/// (where it begins, the highest address) and `ss_size` its size (the guard page
/// below it not counted). `EAGAIN` for the main thread, whose stack is the
/// process's, which the kernel grows.
pub fn stksegment() -> Result<StackT, Error> {
    let top = stack_top(current()).ok_or(err(Errno::EAGAIN))?;
    Ok(StackT { ss_sp: top, ss_size: STACK_SIZE as u64, ..StackT::default() })
}
