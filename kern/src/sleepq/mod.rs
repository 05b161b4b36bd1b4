//! Sleep queues: threads waiting for an event, keyed by wait channel (S6).
//!
//! # Theory
//!
//! A wait channel is any nonzero number naming what is waited for, by convention the
//! address of the object. Sleepers hang on one of a fixed set of queues, chosen by
//! hashing the channel, in arrival order; a wakeup takes the first (or every) sleeper
//! of its channel from the queue and makes it runnable.
//!
//! The classic lost-wakeup race is closed by evaluating the caller's condition with
//! the sleep queue locked: a waker changes the state first and then calls wakeup,
//! which takes the same lock, so either the sleeper saw the new state, or it was
//! already on the queue when the wakeup looked. A sleeper is queued *before* its CPU
//! switches away; a waker that finds it still on its CPU waits in `disp::setrun`
//! until the switch is complete.
//!
//! A timed sleep arms the thread's own callout, which ends it unless a wakeup comes
//! first; a sleep that ends early disarms it, and the thread's sleep generation keeps
//! a callout already running from ending a later sleep. Deadlines saturate: a
//! sleep of `u64::MAX` ticks is a sleep without end.
//!
//! A sleeper also records what kind of object its channel names ([`SObj`]: a
//! condition variable, a semaphore, an LWP or process event, its own delay), so
//! that a debugger can say what it waits for (Solaris keeps `t_sobj_ops`).

use core::any::Any;
use core::sync::atomic::Ordering;

use arch::order::Ordered;
use arch::Machine;

use crate::callout;
use crate::disp::{self, Prev};
use crate::displock::DispLock;
use crate::thread::{curthread, KThread, ThreadState};
use crate::{class, clock, M};

pub(crate) mod tstate;

const NSLEEPQ: usize = 64;

/// What a sleeping thread's wait channel is the address of (`t_sobj`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SObj {
    /// Not said: a caller of [`sleep`] or [`sleep_timed`].
    Other = 0,
    /// A condition variable (`sync::CondVar`).
    Cv = 1,
    /// A semaphore (`sync::Sema`).
    Sema = 2,
    /// An event of an LWP's process (`lwp::Event`): an LWP exited or stopped, a
    /// child exited.
    Event = 3,
    /// Nothing: the thread itself, sleeping for a time ([`delay`]).
    Delay = 4,
    /// Its LWP's park permit (`lwp::park`: `_lwp_park`).
    Park = 5,
    /// An LWP mutex in user memory (`lwp::mutex`): the channel names the process
    /// and the address.
    LwpMutex = 6,
}

impl SObj {
    /// What `t` sleeps on, as it recorded it.
    pub fn of(t: &KThread) -> SObj {
        match t.sleep_state().t_sobj.load(Ordering::Relaxed) {
            1 => SObj::Cv,
            2 => SObj::Sema,
            3 => SObj::Event,
            4 => SObj::Delay,
            5 => SObj::Park,
            6 => SObj::LwpMutex,
            _ => SObj::Other,
        }
    }
}

/// A FIFO of threads through their `t_link` (a thread is on one queue at a time:
/// `t_queued`; see `thread::QueueLink`): a sleep queue, and the swapper's queue
/// (`swap`). Under its owner's lock.
pub(crate) struct ThreadFifo {
    head: Option<&'static KThread>,
    tail: Option<&'static KThread>,
}

impl ThreadFifo {
    pub(crate) const fn new() -> ThreadFifo {
        ThreadFifo { head: None, tail: None }
    }

    /// Puts `t` at the back. Panics if it is on a queue already.
    pub(crate) fn push(&mut self, t: &'static KThread) {
        assert!(!t.link().mark_queued(), "{t:?} is already on a queue");
        t.link().set_next(None);
        match self.tail {
            Some(last) => last.link().set_next(Some(t)),
            None => self.head = Some(t),
        }
        self.tail = Some(t);
    }

    /// Takes the first thread that `want` accepts off the queue.
    pub(crate) fn take(&mut self, want: impl Fn(&KThread) -> bool) -> Option<&'static KThread> {
        let (mut prev, mut cur): (Option<&'static KThread>, _) = (None, self.head);
        while let Some(t) = cur {
            if want(t) {
                let next = t.link().next();
                match prev {
                    None => self.head = next,
                    Some(p) => p.link().set_next(next),
                }
                if next.is_none() {
                    self.tail = prev;
                }
                t.link().set_next(None);
                t.link().set_queued(false, Ordering::Relaxed);
                return Some(t);
            }
            prev = Some(t);
            cur = t.link().next();
        }
        None
    }

    /// The threads on the queue, first to last.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &'static KThread> {
        core::iter::successors(self.head, |t| t.link().next())
    }
}

/// One sleep queue.
type SleepQ = ThreadFifo;

/// Takes the first sleeper of `q` that `want` accepts: it sleeps no more.
fn unsleep(q: &mut SleepQ, want: impl Fn(&KThread) -> bool) -> Option<&'static KThread> {
    let t = q.take(want)?;
    t.sleep_state().t_wchan.store_release(0);
    Some(t)
}

static SLEEPQ: [DispLock<SleepQ>; NSLEEPQ] = [const { DispLock::new(SleepQ::new()) }; NSLEEPQ];

fn bucket(chan: usize) -> &'static DispLock<SleepQ> {
    &SLEEPQ[((chan >> 3) ^ (chan >> 11)) % NSLEEPQ]
}

/// Sleeps on `chan` until `cond()` holds (checked first, and after every wakeup).
pub fn sleep(chan: usize, cond: impl Fn() -> bool) {
    sleep_on(chan, SObj::Other, cond);
}

/// Like [`sleep`], for at most `ticks` clock ticks: true if `cond()` came to hold,
/// false if the time ran out first.
pub fn sleep_timed(chan: usize, cond: impl Fn() -> bool, ticks: u64) -> bool {
    sleep_timed_on(chan, SObj::Other, cond, ticks)
}

/// [`sleep`] on a channel that is the address of an object of kind `sobj`.
pub fn sleep_on(chan: usize, sobj: SObj, cond: impl Fn() -> bool) {
    sleep_until(chan, sobj, cond, None);
}

/// [`sleep_timed`] on a channel that is the address of an object of kind `sobj`.
pub fn sleep_timed_on(chan: usize, sobj: SObj, cond: impl Fn() -> bool, ticks: u64) -> bool {
    sleep_until(chan, sobj, cond, Some(clock::lbolt().saturating_add(ticks)))
}

/// What a sleep of an LWP of a thread library's pool tells its process (S4: the
/// library learns when every LWP of its pool is blocked): `schedctl`'s two
/// halves, set at boot (`boot`), so that the sleep queues, below LWPs and
/// processes, need not name them.
pub(crate) struct PoolWatch {
    /// The current thread is about to sleep: true if it was counted asleep.
    pub(crate) asleep: fn(&KThread) -> bool,
    /// The current thread, counted asleep, is awake again.
    pub(crate) awake: fn(&KThread),
}

static POOL_WATCH: spin::Once<PoolWatch> = spin::Once::new();

/// Sets what a pool LWP's sleeps tell its process (see [`PoolWatch`]).
pub(crate) fn set_pool_watch(w: PoolWatch) {
    POOL_WATCH.call_once(|| w);
}

/// The end of a sleep for which `counted` says the thread was counted asleep.
#[inline(always)]
fn awake(t: &KThread, counted: Option<&PoolWatch>) {
    if let Some(w) = counted {
        (w.awake)(t);
    }
}

/// Sleeps on `chan`, an object of kind `sobj`, until `cond()` holds (checked first,
/// and after every wakeup): true; or until the clock reaches `deadline` if given
/// (`lbolt`): false. What every sleep above is. Inlined into each caller, with the
/// switch: an LWP that parks (`lwp::park`) then blocks one register window nearer
/// its trap, one window fewer to spill at the switch and to fill on the way back.
#[inline(always)]
pub(crate) fn sleep_until(
    chan: usize,
    sobj: SObj,
    cond: impl Fn() -> bool,
    deadline: Option<u64>,
) -> bool {
    assert!(chan != 0, "wait channel 0");
    // A thread that sleeps with interrupts off holds a spin lock (or runs in an
    // interrupt): the CPU would deadlock on the next thread that wants that lock.
    debug_assert!(M::intr_enabled(), "sleep with interrupts off");
    let t = curthread();
    loop {
        // A pool LWP of a thread library that blocks here may leave its pool without
        // an LWP to run on (`schedctl`), which may take its process's lock: before
        // the thread is on the queue. Once it is, whoever wakes it may hold that
        // lock while it waits for this thread to be off its CPU (`disp::setrun`).
        let watch = if t.sc().counts_asleep() { POOL_WATCH.get() } else { None };
        let counted = watch.filter(|w| (w.asleep)(t));
        let was = M::intr_disable();
        {
            let mut q = bucket(chan).lock_intr_off();
            if cond() {
                drop(q);
                M::intr_restore(was);
                awake(t, counted);
                return true;
            }
            let left = deadline.map(|d| d.saturating_sub(clock::lbolt()));
            if left == Some(0) {
                drop(q);
                M::intr_restore(was);
                awake(t, counted);
                return false;
            }
            let s = t.sleep_state();
            // Only the thread itself counts its sleeps, under the bucket's lock.
            let gen = s.t_sleepgen.load(Ordering::Relaxed) + 1;
            s.t_sleepgen.store(gen, Ordering::Relaxed);
            s.t_sobj.store(sobj as u8, Ordering::Relaxed);
            s.t_wchan.store_release(chan);
            t.note_wait();
            t.set_state(ThreadState::Sleep);
            q.push(t);
            if let Some(ticks) = left {
                callout::timeout_wake(s.callout(), t, gen, ticks);
            }
        }
        disp::swtch(Prev::Block);
        awake(t, counted);
        if deadline.is_some() {
            callout::untimeout_wake(t.sleep_state().callout());
        }
        M::intr_restore(was);
    }
}

/// Sleeps for `ticks` clock ticks (Solaris' `delay`).
pub fn delay(ticks: u64) {
    let me = curthread() as *const KThread as usize;
    sleep_timed_on(me, SObj::Delay, || false, ticks);
}

/// Wakes the first thread sleeping on `chan`; true if there was one.
pub fn wakeup_one(chan: usize) -> bool {
    let t = unsleep(&mut bucket(chan).lock(), |t| t.sleep_state().chan() == chan);
    t.map(wake).is_some()
}

/// Takes the first thread sleeping on `chan` off its queue and calls
/// `decide(it, more)` under the queue's lock, where `more` says whether others
/// still sleep on `chan`: what `decide` does is seen by every sleeper's condition
/// as done before the wakeup (a lock handed over to the thread taken). Then wakes
/// that thread. Returns what `decide` returned.
pub fn wakeup_first<R>(chan: usize, decide: impl FnOnce(Option<&'static KThread>, bool) -> R) -> R {
    let (t, r) = {
        let mut q = bucket(chan).lock();
        let t = unsleep(&mut q, |t| t.sleep_state().chan() == chan);
        let mut more = false;
        let mut cur = q.head;
        while let Some(s) = cur {
            more |= s.sleep_state().chan() == chan;
            cur = s.link().next();
        }
        (t, decide(t, more))
    };
    if let Some(t) = t {
        wake(t);
    }
    r
}

/// Wakes every thread sleeping on `chan`; returns how many.
pub fn wakeup(chan: usize) -> usize {
    // Only those asleep now: a woken thread may preempt this one and sleep on `chan`
    // again before the loop ends, and must not be woken again (that would never end).
    // The queue is FIFO, so the first `n` sleepers of `chan` are the ones counted.
    let n = sleepers(chan);
    (0..n).take_while(|_| wakeup_one(chan)).count()
}

/// Wakes `t` if it sleeps (on whatever channel); true if it did. For a signal, a
/// stop or an exit that an interruptible sleep must see: the sleeper's condition
/// says whether it was for it, and a sleeper whose condition still does not hold
/// only sleeps again. (If `t` is between sleeps, its next condition check sees
/// what the caller changed before calling.)
pub fn wakeup_thread(t: &'static KThread) -> bool {
    let chan = t.sleep_state().chan();
    if chan == 0 {
        return false;
    }
    let taken = unsleep(&mut bucket(chan).lock(), |s| {
        core::ptr::eq(s, t) && s.sleep_state().chan() == chan
    });
    taken.map(wake).is_some()
}

/// Makes a thread taken off its sleep queue runnable. Inlined: every call frame
/// between a wakeup and the dispatch queue is a register window, and a system
/// call that wakes an LWP is already several deep.
#[inline(always)]
fn wake(t: &'static KThread) {
    class::wakeup(t);
    disp::setrun(t);
}

/// A thread's timed sleeps end through its own callout.
impl callout::Sleeper for KThread {
    fn timed_out(&'static self, gen: u64) {
        timed_out(self, gen);
    }

    fn as_any(&'static self) -> &'static dyn Any {
        self
    }
}

/// A timed sleep's callout: ends sleep number `gen` of `t` if it still goes on.
fn timed_out(t: &'static KThread, gen: u64) {
    let chan = t.sleep_state().chan();
    if chan == 0 {
        return;
    }
    let taken = unsleep(&mut bucket(chan).lock(), |s| {
        core::ptr::eq(s, t)
            && s.sleep_state().t_sleepgen.load(Ordering::SeqCst) == gen
            && s.sleep_state().chan() == chan
    });
    if let Some(t) = taken {
        wake(t);
    }
}

/// Runs `f` if `t` sleeps on a sleep queue — queued, off every CPU — under that
/// queue's lock: a wakeup cannot take it off meanwhile, and one that comes later
/// sees what `f` did (the swapper marking its LWP's `lwp` structure not loaded).
pub(crate) fn if_asleep<R>(t: &KThread, f: impl FnOnce() -> R) -> Option<R> {
    let chan = t.sleep_state().chan();
    if chan == 0 {
        return None;
    }
    let _q = bucket(chan).lock();
    let asleep = t.sleep_state().chan() == chan
        && t.link().is_queued(Ordering::SeqCst)
        && t.state() == ThreadState::Sleep
        && !disp::is_running(t);
    asleep.then(f)
}

/// How many threads sleep on `chan`.
pub fn sleepers(chan: usize) -> usize {
    bucket(chan).lock().iter().filter(|t| t.sleep_state().chan() == chan).count()
}
