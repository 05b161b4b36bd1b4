//! Callouts: functions the clock calls after a number of ticks (`timeout`), and the
//! timeouts of timed sleeps.
//!
//! # Theory
//!
//! A [`Callout`] is a structure its owner keeps: every thread has one for its timed
//! sleeps (`t_callout`), and a subsystem that wants a function called later keeps
//! its own (a `static`). Arming one links it into the callout table; so arming
//! allocates nothing and cannot fail, and the number of pending callouts is bounded
//! by the callouts that exist — a loop of interrupted sleeps re-arms the same one.
//! A callout is armed at most once at a time: arming it again moves it.
//!
//! The table is a wheel of [`NBUCKET`] lists, a callout in the list of its expiry
//! tick modulo `NBUCKET` (Solaris' callout table hashes by expiration too), each
//! list doubly linked through the callouts themselves: arming and cancelling are a
//! few pointer writes. At each tick CPU 0 runs the list of that tick, taking the
//! callouts that are due; one due later (after a whole turn of the wheel or more)
//! stays for a later turn. Expiry ticks saturate: a callout for "never" is armed at
//! `u64::MAX` and simply never comes due.
//!
//! A due callout is unlinked under the table lock and its action run with the lock
//! dropped, so an action may arm callouts, this one included. Its owner may cancel
//! or re-arm it meanwhile; a thread's sleep timeout carries the number of the sleep
//! it ends, so a late one cannot end a later sleep (`sleepq`).

use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use arch::cell::StaticRef;

use crate::clock;
use crate::displock::DispLock;

/// What a sleep timeout ends: a thread asleep on a sleep queue (`sleepq` makes every
/// `KThread` one). A trait, so that the callout table sits below the threads that
/// carry their own callouts (`t_callout`) and the sleep queues that arm them.
pub trait Sleeper: Sync {
    /// Ends sleep number `gen` of the sleeper, if it still goes on (from the clock
    /// interrupt, with the table's lock dropped).
    fn timed_out(&'static self, gen: u64);
    /// The sleeper itself, for the debugger to name it.
    fn as_any(&'static self) -> &'static dyn Any;
}

/// Lists of the wheel: a power of two.
pub const NBUCKET: usize = 256;

/// What an armed callout does when it comes due.
#[derive(Clone, Copy)]
enum Action {
    /// Nothing: not armed.
    Idle,
    /// Call `func(arg)`.
    Call(fn(usize), usize),
    /// End sleep number `.1` of the sleeper, if it still goes on.
    Wake(&'static dyn Sleeper, u64),
}

/// A callout (Solaris' `callout_t`): see the module comment. All its fields are
/// changed under the table lock.
pub struct Callout {
    c_next: StaticRef<Callout>,
    c_prev: StaticRef<Callout>,
    /// The tick it is due at; 0 while not armed.
    c_expire: AtomicU64,
    c_action: spin::Mutex<Action>,
}

impl Callout {
    /// A callout that is not armed.
    pub const fn new() -> Callout {
        Callout {
            c_next: StaticRef::none(),
            c_prev: StaticRef::none(),
            c_expire: AtomicU64::new(0),
            c_action: spin::Mutex::new(Action::Idle),
        }
    }

    /// Arms the callout to call `func(arg)` from the clock interrupt in `ticks` ticks
    /// (at least one); if it was armed, it is moved.
    pub fn timeout(&'static self, func: fn(usize), arg: usize, ticks: u64) {
        arm(self, Action::Call(func, arg), ticks);
    }

    /// Disarms the callout; true if it was armed (and had not started to run).
    pub fn untimeout(&'static self) -> bool {
        let mut tbl = TABLE.lock();
        tbl.unlink(self)
    }

    /// Whether the callout is armed.
    pub fn is_armed(&self) -> bool {
        self.c_expire.load(Ordering::Relaxed) != 0
    }
}

impl Default for Callout {
    fn default() -> Self {
        Self::new()
    }
}

/// The wheel (see the module comment), under its lock.
struct Table {
    buckets: [Option<&'static Callout>; NBUCKET],
    /// The last tick whose list has run.
    done: u64,
    /// Callouts armed.
    pending: usize,
}

static TABLE: DispLock<Table> =
    DispLock::new(Table { buckets: [None; NBUCKET], done: 0, pending: 0 });

fn bucket(expire: u64) -> usize {
    (expire % NBUCKET as u64) as usize
}

impl Table {
    fn link(&mut self, c: &'static Callout, expire: u64) {
        let b = bucket(expire);
        c.c_expire.store(expire, Ordering::Relaxed);
        c.c_prev.set(None);
        c.c_next.set(self.buckets[b]);
        if let Some(next) = self.buckets[b] {
            next.c_prev.set(Some(c));
        }
        self.buckets[b] = Some(c);
        self.pending += 1;
    }

    /// Takes `c` out of its list; false if it was not armed.
    fn unlink(&mut self, c: &'static Callout) -> bool {
        let expire = c.c_expire.swap(0, Ordering::Relaxed);
        if expire == 0 {
            return false;
        }
        let (prev, next) = (c.c_prev.take(), c.c_next.take());
        match prev {
            Some(p) => p.c_next.set(next),
            None => self.buckets[bucket(expire)] = next,
        }
        if let Some(n) = next {
            n.c_prev.set(prev);
        }
        self.pending -= 1;
        true
    }

    /// Takes the first callout of `tick`'s list that is due by `tick`.
    fn take_due(&mut self, tick: u64) -> Option<Action> {
        let mut cur = self.buckets[bucket(tick)];
        while let Some(c) = cur {
            if c.c_expire.load(Ordering::Relaxed) <= tick {
                self.unlink(c);
                return Some(core::mem::replace(&mut *c.c_action.lock(), Action::Idle));
            }
            cur = c.c_next.get();
        }
        None
    }
}

fn arm(c: &'static Callout, action: Action, ticks: u64) {
    let mut tbl = TABLE.lock();
    tbl.unlink(c);
    // Never in a list that has run already for this tick: it would wait a whole turn.
    let expire = clock::lbolt().saturating_add(ticks.max(1)).max(tbl.done + 1);
    *c.c_action.lock() = action;
    tbl.link(c, expire);
}

/// Arms `c`, the sleeper's own callout, to end its sleep number `gen` in `ticks`
/// ticks.
pub(crate) fn timeout_wake(c: &'static Callout, s: &'static dyn Sleeper, gen: u64, ticks: u64) {
    arm(c, Action::Wake(s, gen), ticks);
}

/// Disarms a sleep timeout, if it is still armed.
pub(crate) fn untimeout_wake(c: &'static Callout) {
    if c.is_armed() {
        c.untimeout();
    }
}

/// What an armed callout will do, as the debugger shows it.
#[derive(Clone, Copy)]
pub enum CalloutDo {
    /// Call the function at this address with this argument.
    Call(usize, usize),
    /// End a timed sleep of this sleeper (a thread).
    Wake(&'static dyn Sleeper),
    /// Its action's lock was held (by code a debugger stopped).
    Unknown,
}

/// One armed callout: its address, the tick it is due at, what it will do.
#[derive(Clone, Copy)]
pub struct CalloutView {
    /// The address of the [`Callout`] structure itself.
    pub addr: usize,
    /// The clock tick (`lbolt` value) it is due at.
    pub expire: u64,
    /// What it will do when it runs.
    pub what: CalloutDo,
}

/// Every armed callout, into `out` (as many as its spare capacity takes: nothing
/// is allocated under the table lock), wheel list by list; returns the last tick
/// whose list has run, and how many are armed. `None` if the table's lock is
/// held. For the debugger.
pub(crate) fn peek_armed(out: &mut Vec<CalloutView>) -> Option<(u64, usize)> {
    let tbl = crate::displock::peek(&TABLE)?;
    let lists = tbl.buckets.iter().filter_map(|b| *b);
    let armed = lists.flat_map(|c| core::iter::successors(Some(c), |c| c.c_next.get()));
    for c in armed.take(out.capacity() - out.len()) {
        let what = match c.c_action.try_lock().map(|a| *a) {
            Some(Action::Call(f, arg)) => CalloutDo::Call(f as usize, arg),
            Some(Action::Wake(t, _)) => CalloutDo::Wake(t),
            Some(Action::Idle) | None => CalloutDo::Unknown,
        };
        let addr = c as *const Callout as usize;
        out.push(CalloutView { addr, expire: c.c_expire.load(Ordering::Relaxed), what });
    }
    Some((tbl.done, tbl.pending))
}

/// Callouts armed and not yet run.
pub fn pending() -> usize {
    TABLE.lock().pending
}

/// Runs every callout due by tick `now` (from the clock interrupt, on CPU 0).
pub(crate) fn run(now: u64) {
    loop {
        let next = {
            let mut tbl = TABLE.lock();
            if tbl.done >= now {
                return;
            }
            let tick = tbl.done + 1;
            let due = tbl.take_due(tick);
            if due.is_none() {
                tbl.done = tick;
            }
            due
        };
        match next {
            Some(Action::Call(f, arg)) => f(arg),
            Some(Action::Wake(s, gen)) => s.timed_out(gen),
            Some(Action::Idle) | None => {}
        }
    }
}
