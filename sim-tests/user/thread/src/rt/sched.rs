//! The pool: the LWPs that run unbound threads (M:N, S4), its run queue, and how a
//! thread waits and is woken, yields, starts and exits — all without entering the
//! kernel (S18), but for parking an LWP that has nothing to run, unparking one
//! when a thread becomes runnable, and making LWPs.
//!
//! # Theory
//!
//! * **One lock** ([`POOL`], an adaptive LWP mutex held with `sc_nopreempt` set)
//!   guards the run queue, the list of idle LWPs, the free thread structures,
//!   every thread's life (zombie, joiner, detached), and the sleep queues of the
//!   synchronization objects (`sleepq`), whose slow paths run under it
//!   ([`Held`]): so a wait is queued and committed, and a wakeup given, in one
//!   hold each (old Solaris libthread had one such `_schedlock`). It is held
//!   *across every switch*: the thread that switches away takes it, and the thread
//!   that runs next on that LWP leaves it. So no other LWP can take a thread off
//!   the run queue, or wake a blocked one, before its registers are saved; nor
//!   take the structure and stack of a detached thread that exited, which it
//!   gives back before its last switch (`exit_unbound`), before that switch is
//!   complete. The thread that runs next learns from the switch which LWP it runs
//!   on (the lock is left as that LWP's).
//! * **An LWP runs threads from the run queue** until there are none; then it
//!   switches to its *idle thread*, which registers the LWP as idle and parks it
//!   (`_lwp_park`). Whoever makes a thread runnable takes an idle LWP, if there is
//!   one, and unparks it; the permit makes an unpark before the park count.
//! * **An unbound thread runs until it waits, yields or exits**: no time slice at
//!   user level (its LWP is time-sliced by the kernel). Waiting is the protocol of
//!   `wait`: the thread queues itself (`WAITING`) and commits to switch away
//!   (`BLOCKED`) under the pool's lock, and a waker that takes it off its queue and
//!   finds it `BLOCKED` puts it on the run queue. A bound thread queues itself and
//!   parks its own LWP once the lock is left; its waker finds it `WAITING`, marks
//!   it `WOKEN` and unparks it — an unpark that may come before the park, which
//!   the permit keeps. Unparks are given once the lock is left, or, when the
//!   leaving thread parks itself, in the same call (`_lwp_park(unpark)`).
//! * **A thread that blocks in the kernel blocks its LWP only**; the other LWPs run
//!   the rest. Should every pool LWP be asleep in the kernel while threads are
//!   runnable, the kernel unparks the pool's *watchdog* (an LWP of its own that
//!   said `SC_WAITING`: Solaris' SIGWAITING), which adds an LWP to the pool; a
//!   thread made runnable while the kernel counts no pool LWP awake unparks the
//!   watchdog itself (the kernel's count is in the schedctl page).
//!
//! The switch spills every register window the switching thread has live, and
//! the thread switched to fills them back one return at a time: the paths that
//! block are inlined down to the switch, so that a switch costs the windows of the
//! caller and of the library function it called, not a chain of helpers. A slow
//! path kept out of line returns the sleep it decided to its inlined caller,
//! which makes it in the caller's own window: a mutex's returns an unbound
//! thread's switch ([`Switch`]), a condition variable's that or a bound thread's
//! park, with the unpark the hold leaves ([`Sleep`]). So in a steady run of
//! hand-offs between unbound threads no window is spilled or filled by a trap at
//! all, and the kernel switch of a bound thread's wait on a condition variable
//! spills and fills the caller's window only.

use core::sync::atomic::{AtomicU32, Ordering};

use lwp_abi::{sc_shared_addr, Errno, SC_POOL, SC_POOL_AWAKE, SC_WAITING};
use lwp_user::{lwp_create, lwp_exit, lwp_park, lwp_unpark, lwp_wait, schedctl};

use super::sleepq::{self, SleepQ, NSLEEPQ};
use super::stats::{bump, STATS};
use super::switch;
use super::sys::{self, current, kernel_lwp_self, word, Locked};
use super::thread::{
    map_stack, next_id, set_current, stack_top, Kind, Life, Lwp, StartFn, Thread, ThreadId,
    MAX_LWPS, NKEYS, THREADS,
};
use crate::lwpmutex::{err, Error};
use crate::queue::Fifo;
use crate::wait::{self, Wake};

/// The pool's LWPs: `LWPS[..nlwps]` made (see `Pool`).
pub(crate) static LWPS: [Lwp; MAX_LWPS] = [const { Lwp::new() }; MAX_LWPS];

/// The watchdog's LWP id.
static WATCHDOG: AtomicU32 = AtomicU32::new(0);

/// A per-thread data key: made, and its destructor.
type Key = (bool, Option<fn(u64)>);

/// What the pool's lock guards.
pub(crate) struct Pool {
    runq: Fifo<Thread>,
    /// The ids of the pool LWPs parked with nothing to run.
    idle: [u32; MAX_LWPS],
    nidle: usize,
    /// Pool LWPs made (or being made): `LWPS[..nlwps]`.
    nlwps: usize,
    /// Of them, those made that have not yet started running threads.
    starting: usize,
    /// Free thread structures, each with the stack it had (`thread`), the most
    /// recently freed first.
    free: Fifo<Thread>,
    /// Exited bound threads whose LWP is still to be reaped.
    unreaped: Fifo<Thread>,
    /// Threads alive that are not idle threads nor the watchdog.
    live: usize,
    /// Per-thread data keys: made, and their destructors.
    keys: [Key; NKEYS],
    /// The synchronization objects' sleep queues.
    sleepq: [SleepQ; NSLEEPQ],
}

pub(crate) static POOL: Locked<Pool> = Locked::new(Pool {
    runq: Fifo::new(),
    idle: [0; MAX_LWPS],
    nidle: 0,
    nlwps: 0,
    starting: 0,
    free: Fifo::new(),
    unreaped: Fifo::new(),
    live: 0,
    keys: [(false, None); NKEYS],
    sleepq: [const { Fifo::new() }; NSLEEPQ],
});

impl Pool {
    /// A free structure, made a thread of `kind`.
    #[inline(always)]
    fn take_thread(
        &mut self,
        kind: Kind,
        start: Option<StartFn>,
        arg: u64,
    ) -> Option<&'static Thread> {
        let t = self.free.pop()?;
        t.init(kind, next_id(t), start, arg);
        if matches!(kind, Kind::Unbound | Kind::Bound) {
            self.live += 1;
        }
        Some(t)
    }

    /// Gives back a thread just taken (`take_thread`) that could not be started.
    fn give_back(&mut self, t: &'static Thread) {
        if matches!(t.kind(), Kind::Unbound | Kind::Bound) {
            self.live -= 1;
        }
        self.free_thread(t);
    }

    /// Gives `t` back, with its stack.
    #[inline(always)]
    fn free_thread(&mut self, t: &'static Thread) {
        t.life.set(Life::Free);
        self.free.push_front(t);
    }

    /// An idle LWP to run what was just made runnable, if there is one.
    #[inline(always)]
    fn take_idle(&mut self) -> Option<u32> {
        if self.nidle == 0 {
            return None;
        }
        self.nidle -= 1;
        Some(self.idle[self.nidle])
    }

    fn forget_idle(&mut self, id: u32) {
        if let Some(i) = self.idle[..self.nidle].iter().position(|&x| x == id) {
            self.nidle -= 1;
            self.idle[i] = self.idle[self.nidle];
        }
    }

    /// Puts the blocked or new `t` on the run queue; the idle LWP to unpark for
    /// it, if any.
    #[inline(always)]
    fn runnable(&mut self, t: &'static Thread) -> Option<u32> {
        wait::State::store(&t.wstate, wait::RUNNING);
        self.runq.push(t);
        self.take_idle()
    }

    /// What `lwp` runs next: a runnable thread, or its idle thread.
    #[inline(always)]
    fn pick(&mut self, lwp: &'static Lwp) -> &'static Thread {
        match self.runq.pop() {
            Some(t) => t,
            None => idle_thread(lwp),
        }
    }
}

/// The pool's data, while the calling LWP holds its lock.
///
/// # Safety
///
/// The calling LWP took [`POOL`] with `acquire` (or was switched to by a thread
/// that held it), and no other reference to the data is live.
#[allow(clippy::mut_from_ref)]
#[inline(always)]
unsafe fn pool() -> &'static mut Pool {
    // SAFETY: the caller's promise.
    unsafe { POOL.raw() }
}

/// `calls::init`: the main thread, LWP 1 in the pool, the free tables, the
/// watchdog.
pub(crate) fn init() {
    let main = &THREADS[0];
    let lwp = &LWPS[0];
    set_current(main);
    main.init(Kind::Unbound, 1, None, 0);
    lwp.id.store(kernel_lwp_self(), Ordering::Relaxed);
    main.set_lwp(Some(lwp));
    let sc = schedctl(SC_POOL).unwrap_or_else(|_| sys::broken("schedctl refused"));
    lwp.sc.store(sc, Ordering::Relaxed);
    let (idle, watchdog) = {
        let mut g = POOL.lock();
        for t in &THREADS[1..] {
            g.free.push(t);
        }
        g.live = 1;
        g.nlwps = 1;
        let idle =
            g.take_thread(Kind::Idle, None, 0).unwrap_or_else(|| sys::broken("no idle thread"));
        let watchdog =
            g.take_thread(Kind::Watchdog, None, 0).unwrap_or_else(|| sys::broken("no watchdog"));
        (idle, watchdog)
    };
    // One LWP so far: nobody else can look at the idle thread before it is ready.
    let stack = |t| map_stack(t).unwrap_or_else(|_| sys::broken("no memory for the first stacks"));
    switch::prepare(idle, stack(idle));
    lwp.idle.set(Some(idle));
    // SAFETY: the watchdog's stack is its own for the program's life.
    let made = unsafe { lwp_create(watchdog_start, stack(watchdog), watchdog.addr(), 0) };
    let wid = made.unwrap_or_else(|_| sys::broken("no LWP for the watchdog"));
    WATCHDOG.store(wid, Ordering::Relaxed);
}

/// `calls::create` of an unbound thread: made and queued under one hold of the
/// pool's lock.
pub(crate) fn create_unbound(
    f: fn(u64) -> u64,
    arg: u64,
    detached: bool,
) -> Result<ThreadId, Error> {
    let me = current();
    let lwp = my_lwp(me);
    POOL.acquire_on(lwp);
    // SAFETY: held just now.
    let p = unsafe { pool() };
    let Some(t) = p.take_thread(Kind::Unbound, Some(f), arg) else {
        POOL.release_on(lwp);
        return create_unbound_reaped(f, arg, detached);
    };
    t.detached.set(detached);
    let (p, top) = match stack_top(t) {
        Some(top) => (p, top),
        None => {
            // A structure that never carried a thread: its stack is mapped
            // without the lock.
            POOL.release_on(lwp);
            let top = map_stack(t).inspect_err(|_| POOL.lock().give_back(t))?;
            POOL.acquire_on(lwp);
            // SAFETY: held again just now.
            (unsafe { pool() }, top)
        }
    };
    switch::prepare(t, top);
    p.runq.push(t);
    let idle = p.take_idle();
    POOL.release_on(lwp);
    if idle.is_some() || me.is_bound() {
        kick(idle);
    }
    Ok(t.id())
}

/// `create_unbound` with no structure free: the detached bound threads' LWPs are
/// reaped first, then it tries once more.
#[cold]
fn create_unbound_reaped(f: fn(u64) -> u64, arg: u64, detached: bool) -> Result<ThreadId, Error> {
    if !reap_unreaped() {
        return Err(err(Errno::EAGAIN));
    }
    create_unbound(f, arg, detached)
}

/// `calls::create` of a bound thread: it gets its LWP at once.
pub(crate) fn create_bound(f: fn(u64) -> u64, arg: u64, detached: bool) -> Result<ThreadId, Error> {
    let take = || POOL.lock().take_thread(Kind::Bound, Some(f), arg);
    let t = match take() {
        Some(t) => t,
        None if reap_unreaped() => take().ok_or(err(Errno::EAGAIN))?,
        None => return Err(err(Errno::EAGAIN)),
    };
    t.detached.set(detached);
    let top = map_stack(t).inspect_err(|_| POOL.lock().give_back(t))?;
    // SAFETY: the stack is the thread's alone until its LWP is reaped.
    if unsafe { lwp_create(bound_start, top, t.addr(), 0) }.is_err() {
        POOL.lock().give_back(t);
        return Err(err(Errno::EAGAIN));
    }
    Ok(t.id())
}

/// Reaps the LWPs of exited detached bound threads, so that their structures
/// (with their stacks) are free again (a joinable one's LWP is its joiner's to
/// reap: only the joiner may free its structure). Whether it freed any.
fn reap_unreaped() -> bool {
    let mut any = false;
    loop {
        // (Bound first: a `while let` would hold the lock through the body.)
        let next = POOL.lock().unreaped.take_first(|t| t.detached.get());
        let Some(t) = next else { return any };
        // The LWP has exited or is about to: the wait is short.
        let _ = lwp_wait(t.own.id());
        POOL.lock().free_thread(t);
        any = true;
    }
}

/// A thread was made runnable: unparks idle LWP `idle`; with none, and no pool
/// LWP awake in the kernel's count, the watchdog.
fn kick(idle: Option<u32>) {
    match idle {
        Some(id) => {
            bump(&STATS.unparks);
            let _ = lwp_unpark(id);
        }
        None => {
            if word(sc_shared_addr(0) + SC_POOL_AWAKE).load(Ordering::Acquire) == 0 {
                let _ = lwp_unpark(WATCHDOG.load(Ordering::Relaxed));
            }
        }
    }
}

/// A bound thread or the watchdog starts on its LWP: it gets its schedctl slot.
pub(crate) fn lwp_started(t: &'static Thread, flags: u64) {
    t.own.id.store(kernel_lwp_self(), Ordering::Relaxed);
    t.set_lwp(Some(&t.own));
    let sc = schedctl(flags).unwrap_or_else(|_| sys::broken("schedctl refused"));
    t.own.sc.store(sc, Ordering::Relaxed);
}

/// A switch from the calling thread to `next` on `lwp`, decided under the pool's
/// lock, which stays held across it.
#[must_use]
pub(crate) struct Switch {
    next: &'static Thread,
    lwp: &'static Lwp,
}

impl Switch {
    #[inline(always)]
    fn new(me: &'static Thread, next: &'static Thread, lwp: &'static Lwp) -> Switch {
        next.set_lwp(Some(lwp));
        // Not running any more, for adaptive waiters: its registers go to its stack now.
        me.set_lwp(None);
        // Under the pool's lock: exact.
        bump(&STATS.switches);
        Switch { next, lwp }
    }

    /// Makes the switch from `me`, the calling thread; returns when something
    /// switches back to it, the lock held again (by its LWP then), with the LWP
    /// that runs it from then on.
    #[inline(always)]
    fn make(self, me: &'static Thread) -> &'static Lwp {
        switch::switch(self.lwp, me, self.next)
    }

    /// Makes the switch from a thread that exits: nothing continues it again.
    #[inline(always)]
    fn exit(self) -> ! {
        switch::resume(self.lwp, self.next)
    }

    /// Makes the switch from `me`, and leaves the lock once `me` runs again.
    #[inline(always)]
    pub(crate) fn finish(self, me: &'static Thread) {
        let lwp = self.make(me);
        POOL.release_on(lwp);
    }
}

/// How a thread that committed to wait, under the pool's lock, goes to sleep
/// until woken: made by the thread itself. A blocking path that is not inlined
/// into its caller returns it, for the caller to make in its own window
/// (`Held::block`): a switch, at user level or in the kernel, spills every
/// register window older than the one it is made in, each filled again by a trap
/// as the thread returns into it.
#[must_use]
pub(crate) enum Sleep {
    /// An unbound thread switches to another thread of its LWP.
    Switch(Switch),
    /// A bound thread parks its LWP until woken, giving the hold's last unpark
    /// with its first park (one system call); the lock is left already.
    Park(Unpark),
}

impl Sleep {
    /// Sleeps as `me`, the calling thread, until woken; the lock is not held on
    /// return.
    #[inline(always)]
    pub(crate) fn finish(self, me: &'static Thread) {
        match self {
            Sleep::Switch(s) => s.finish(me),
            Sleep::Park(mut unpark) => {
                while wait::still_waiting(&me.wstate) {
                    unpark.park();
                }
                unpark.give();
            }
        }
    }
}

/// An LWP to unpark (0: none), left by a hold of the pool's lock for its caller
/// to give in its own window ([`Held::leave`]): the LWP woken may run at once,
/// and the switch to it spills the windows of the calling chain (see [`Sleep`]).
#[must_use]
pub(crate) struct Unpark(u32);

impl Unpark {
    /// Unparks it, if any.
    #[inline(always)]
    pub(crate) fn give(self) {
        if self.0 != 0 {
            let _ = lwp_unpark(self.0);
        }
    }

    /// Parks the calling LWP, unparking this one first in the same call; it is
    /// given then.
    #[inline(always)]
    fn park(&mut self) {
        let _ = lwp_park(None, core::mem::replace(&mut self.0, 0));
    }
}

/// Switches from `me` to `next` on `lwp`, the pool's lock held (see [`Switch`]).
#[inline(always)]
fn switch_to(me: &'static Thread, next: &'static Thread, lwp: &'static Lwp) -> &'static Lwp {
    Switch::new(me, next, lwp).make(me)
}

/// The pool LWP the calling unbound thread runs on.
#[inline(always)]
fn my_lwp(me: &Thread) -> &'static Lwp {
    me.lwp().unwrap_or_else(|| sys::broken("a running thread on no LWP"))
}

/// Lets another runnable thread run (S18: at user level). A bound thread yields
/// its LWP. Inlined: the switch then spills and fills the caller's window only.
#[inline(always)]
pub fn yield_now() {
    let me = current();
    if me.is_bound() {
        let _ = lwp_user::yield_now();
        return;
    }
    let lwp = my_lwp(me);
    POOL.acquire_on(lwp);
    // SAFETY: held just now.
    let p = unsafe { pool() };
    let lwp = match p.runq.swap_front(me) {
        Some(next) => switch_to(me, next, lwp),
        None => lwp,
    };
    POOL.release_on(lwp);
}

/// The pool's lock, held by the calling thread's LWP: the synchronization
/// objects' slow paths and the thread calls that wait run under it. What it wakes
/// is unparked once the lock is left ([`Held::release`], [`Held::leave`],
/// [`Held::block`]).
pub(crate) struct Held {
    /// The holder, and the LWP it runs on.
    me: &'static Thread,
    lwp: &'static Lwp,
    /// LWPs to unpark once the lock is left, first to last; 0 is none (no LWP
    /// has id 0). Found by a scan, not a count: an array indexed by a variable
    /// would keep the whole `Held` in memory, not in registers.
    unpark: [u32; 4],
    /// A bound holder made an unbound thread runnable and no LWP was idle to run
    /// it: see that the pool has an LWP awake (an unbound holder's LWP is one).
    kick: bool,
}

/// Takes the pool's lock.
#[inline(always)]
pub(crate) fn hold() -> Held {
    let me = current();
    let lwp = my_lwp(me);
    POOL.acquire_on(lwp);
    Held::on(me, lwp)
}

impl Held {
    /// The hold that `me`'s LWP `lwp` has already: one that was kept
    /// ([`Held::keep`]), or the one a switch back to `me` left it.
    #[inline(always)]
    fn on(me: &'static Thread, lwp: &'static Lwp) -> Held {
        Held { me, lwp, unpark: [0; 4], kick: false }
    }

    /// Lets go of this handle with the lock still held, to be taken up again on
    /// the same LWP with [`Held::on`]: for a hold that goes on in another
    /// function. It has no wakeups to give.
    #[inline(always)]
    fn keep(self) {
        debug_assert!(!self.pending(), "a kept hold with wakeups to give");
    }

    /// The pool's data.
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    fn pool(&self) -> &'static mut Pool {
        // SAFETY: the lock is held while `self` lives, and the pool's data is
        // reached through one reference at a time.
        unsafe { pool() }
    }

    /// The sleep queue of the object at `addr`.
    #[inline(always)]
    pub(crate) fn queue(&mut self, addr: u64) -> &mut SleepQ {
        &mut self.pool().sleepq[sleepq::bucket(addr)]
    }

    /// Wakes `t`, which the caller took off what it waited on.
    #[inline(always)]
    pub(crate) fn wake(&mut self, t: &'static Thread) {
        match wait::wake(&t.wstate) {
            Wake::Told if t.is_bound() => self.unpark_later(t.lwp_id()),
            Wake::Told => {}
            Wake::Requeue => match self.pool().runnable(t) {
                Some(id) => {
                    bump(&STATS.unparks);
                    self.unpark_later(id);
                }
                None if self.me.is_bound() => self.kick = true,
                None => {}
            },
        }
    }

    #[inline(always)]
    fn unpark_later(&mut self, id: u32) {
        match self.unpark.iter_mut().find(|slot| **slot == 0) {
            Some(slot) => *slot = id,
            None => {
                let _ = lwp_unpark(id);
            }
        }
    }

    /// Whether there are wakeups to give.
    #[inline(always)]
    fn pending(&self) -> bool {
        self.unpark[0] != 0 || self.kick
    }

    /// Gives the wakeups but for the last unpark, which it returns.
    #[inline(always)]
    fn give_but_last(&self) -> Unpark {
        if self.unpark[1] == 0 && !self.kick {
            return Unpark(self.unpark[0]);
        }
        // The list as values: a reference, or an array (passed by one), would
        // keep the whole `Held` in memory.
        let [a, b, c, d] = self.unpark;
        wakeups(a, b, c, d, self.kick)
    }

    /// Leaves the lock, then gives the wakeups.
    #[inline(always)]
    pub(crate) fn release(self) {
        self.leave().give();
    }

    /// Leaves the lock and gives the wakeups but for the last unpark, which it
    /// returns for the caller to give in its own window.
    #[inline(always)]
    pub(crate) fn leave(self) -> Unpark {
        POOL.release_on(self.lwp);
        self.give_but_last()
    }

    /// The holder, which queued itself somewhere under this hold, is to wait until
    /// woken: the sleep, for the caller to make ([`Sleep`]); none if an unbound
    /// holder was woken already (the lock is left then).
    #[inline(always)]
    pub(crate) fn block(self) -> Option<Sleep> {
        let me = self.me;
        wait::prepare(&me.wstate);
        if me.is_bound() {
            return Some(Sleep::Park(self.leave()));
        }
        if self.pending() {
            // Given now: this thread may not run again for long.
            self.give_but_last().give();
        }
        // No waker can come while the lock is held: this commits.
        if wait::commit(&me.wstate) {
            let next = self.pool().pick(self.lwp);
            return Some(Sleep::Switch(Switch::new(me, next, self.lwp)));
        }
        POOL.release_on(self.lwp);
        None
    }
}

/// Unparks the LWPs `a` to `d` (up to the first 0) but the last, which it
/// returns; then, if `kick_pool`, sees that the pool has an LWP awake.
#[cold]
fn wakeups(a: u32, b: u32, c: u32, d: u32, kick_pool: bool) -> Unpark {
    let ids = [a, b, c, d];
    let n = ids.iter().take_while(|&&id| id != 0).count();
    let (last, rest) = match ids[..n].split_last() {
        Some((&l, r)) => (l, r),
        None => (0, &[][..]),
    };
    for &id in rest {
        let _ = lwp_unpark(id);
    }
    if kick_pool {
        kick(None);
    }
    Unpark(last)
}

/// An idle thread: runs what the run queue holds, else parks its LWP. Entered
/// with the pool's lock held.
fn idle_loop(me: &'static Thread) -> ! {
    let mut lwp = my_lwp(me);
    loop {
        // SAFETY: held: on entry, and again after each switch back or park.
        let p = unsafe { pool() };
        if let Some(t) = p.runq.pop() {
            lwp = switch_to(me, t, lwp);
            continue;
        }
        p.idle[p.nidle] = lwp.id();
        p.nidle += 1;
        POOL.release();
        let _ = lwp_park(None, 0);
        POOL.acquire();
        // SAFETY: held just now. (An unparker took it off the list already.)
        unsafe { pool() }.forget_idle(lwp.id());
    }
}

/// A new thread's life (from `lwpt_start`), on its own stack, with the pool's
/// lock held by the switch that started it on `lwp`: an idle thread's loop, or
/// an unbound thread's function and exit. Returns the thread that continues in
/// its place for good, the lock held, for `lwpt_start` to switch to in the
/// thread's oldest window, where it has no other window left to spill.
#[no_mangle]
extern "C" fn lwpt_thread_main(t: &'static Thread, lwp: &'static Lwp) -> &'static Thread {
    if t.kind() == Kind::Idle {
        idle_loop(t)
    }
    POOL.release_on(lwp);
    exit_as(t, run(t)).next
}

/// Runs a started thread's function: its exit value.
#[inline(always)]
fn run(t: &'static Thread) -> u64 {
    t.start.get().map_or(0, |f| f(t.arg.get()))
}

/// Ends the calling thread with `value` for its joiner. The last thread to end
/// ends the process (status 0).
pub fn exit(value: u64) -> ! {
    exit_as(current(), value).exit()
}

/// Ends `me`, the calling thread, with `value` ([`exit`]): a bound thread's LWP
/// exits here; an unbound thread's switch away for good is returned, for the
/// caller to make.
#[inline(always)]
fn exit_as(me: &'static Thread, value: u64) -> Switch {
    if me.tsd_set.get() {
        run_destructors(me);
    }
    me.value.set(value);
    if me.is_bound() {
        exit_bound(me);
        lwp_exit()
    }
    exit_unbound(me)
}

/// Gives each value the exiting thread set to its key's destructor, and clears
/// them all: the structure's next thread starts with none (a value a destructor
/// set for a key already done is dropped).
#[cold]
fn run_destructors(me: &Thread) {
    for (key, v) in me.tsd.iter().enumerate() {
        let value = v.replace(0);
        if value != 0 {
            if let Some(d) = key_destructor(key) {
                d(value);
            }
        }
    }
    for v in &me.tsd {
        v.set(0);
    }
    me.tsd_set.set(false);
}

/// Where a bound thread's LWP starts, on the thread's stack.
pub(crate) extern "C" fn bound_start(addr: u64) -> ! {
    let t =
        Thread::from_addr(addr).unwrap_or_else(|| sys::broken("a bound thread without a thread"));
    set_current(t);
    lwp_started(t, 0);
    exit_as(t, run(t)).exit()
}

/// A pool LWP's idle thread.
fn idle_thread(lwp: &Lwp) -> &'static Thread {
    lwp.idle.get().unwrap_or_else(|| sys::broken("a pool LWP without an idle thread"))
}

/// Where a pool LWP made after the first starts: as its idle thread, on its stack.
extern "C" fn pool_lwp_start(k: u64) -> ! {
    let lwp = &LWPS[k as usize];
    let idle = idle_thread(lwp);
    set_current(idle);
    lwp.id.store(kernel_lwp_self(), Ordering::Relaxed);
    idle.set_lwp(Some(lwp));
    let sc = schedctl(SC_POOL).unwrap_or_else(|_| sys::broken("schedctl refused"));
    lwp.sc.store(sc, Ordering::Relaxed);
    POOL.acquire();
    // SAFETY: held just now.
    unsafe { pool() }.starting -= 1;
    idle_loop(idle)
}

/// Adds an LWP to the pool, unless it has [`MAX_LWPS`]. `EAGAIN` if it cannot.
fn grow() -> Result<(), Error> {
    let (k, idle) = {
        let mut g = POOL.lock();
        let k = g.nlwps;
        if k >= MAX_LWPS {
            return Err(err(Errno::EAGAIN));
        }
        let idle = g.take_thread(Kind::Idle, None, 0).ok_or(err(Errno::EAGAIN))?;
        LWPS[k].idle.set(Some(idle));
        g.nlwps += 1;
        g.starting += 1;
        (k, idle)
    };
    let made = map_stack(idle).and_then(|top| {
        // SAFETY: the idle thread's stack is the new LWP's until the program ends.
        unsafe { lwp_create(pool_lwp_start, top, k as u64, 0) }
            .map(drop)
            .map_err(|_| err(Errno::EAGAIN))
    });
    if made.is_err() {
        let mut g = POOL.lock();
        g.give_back(idle);
        g.nlwps -= 1;
        g.starting -= 1;
    }
    made
}

/// Makes the pool run on at least `n` LWPs (at most [`MAX_LWPS`]; it never
/// shrinks). `EAGAIN` if an LWP cannot be made.
pub fn set_concurrency(n: usize) -> Result<(), Error> {
    let n = n.clamp(1, MAX_LWPS);
    while POOL.lock().nlwps < n {
        grow()?;
    }
    Ok(())
}

/// The number of LWPs in the pool.
pub fn concurrency() -> usize {
    POOL.lock().nlwps
}

/// The watchdog: unparked by the kernel when every pool LWP is asleep in it (or by
/// a thread that found none awake), it adds an LWP if threads wait to run and no
/// LWP is idle to run them, nor about to start. (The kernel tells every time the
/// last awake pool LWP goes to sleep, also when a sleep is only taken up again:
/// an LWP still starting makes its notifications no news.)
extern "C" fn watchdog_start(addr: u64) -> ! {
    let me = Thread::from_addr(addr).unwrap_or_else(|| sys::broken("no watchdog thread"));
    set_current(me);
    lwp_started(me, SC_WAITING);
    loop {
        let _ = lwp_park(None, 0);
        let starved = {
            let g = POOL.lock();
            !g.runq.is_empty() && g.nidle == 0 && g.starting == 0
        };
        if starved && grow().is_ok() {
            bump(&STATS.lwps_added);
        }
    }
}

/// A bound thread exits (its LWP exits next): wakes its joiner, and leaves its
/// LWP to be reaped.
pub(crate) fn exit_bound(me: &'static Thread) {
    let mut h = hold();
    let p = h.pool();
    me.life.set(Life::Zombie);
    me.lwp_unreaped.set(true);
    p.unreaped.push(me);
    p.live -= 1;
    if p.live == 0 {
        lwp_user::exit(0)
    }
    if let Some(j) = me.joiner.take() {
        h.wake(j);
    }
    h.release();
}

/// An unbound thread exits: wakes its joiner, gives back its structure and stack
/// if detached, and decides the switch away for good, which the caller makes.
///
/// The stack is still in use until the switch is complete (the switch stores the
/// thread's windows on it), and yet a detached thread's is freed before: the
/// pool's lock is held from here until the thread that runs next on this LWP
/// leaves it, and structures are only ever taken under that lock, so nobody can
/// take this one before the switch away from it is complete.
#[inline(always)]
pub(crate) fn exit_unbound(me: &'static Thread) -> Switch {
    let mut h = hold();
    let p = h.pool();
    me.life.set(Life::Zombie);
    p.live -= 1;
    if p.live == 0 {
        lwp_user::exit(0)
    }
    if let Some(j) = me.joiner.take() {
        h.wake(j);
        if h.pending() {
            // Given now: after the switch, this thread is gone.
            h.give_but_last().give();
        }
    }
    let lwp = h.lwp;
    if me.detached.get() {
        p.free_thread(me);
    }
    let next = p.pick(lwp);
    Switch::new(me, next, lwp)
}

/// `calls::join`: `me` waits for thread `id`, which would be on the structure
/// `t`, to exit, frees it, and returns its exit value. Inlined: an unbound joiner that
/// waits switches in the caller's window, and comes back holding the pool's
/// lock, under which it frees `t` (one hold from start to end).
#[inline(always)]
pub(crate) fn join(me: &'static Thread, t: &'static Thread, id: ThreadId) -> Result<u64, Error> {
    let lwp = match join_begin(me, t, id)? {
        Some(s) => s.make(me),
        None => my_lwp(me),
    };
    Ok(join_end(me, t, lwp))
}

/// [`join`] up to its wait: checks `t` under the pool's lock and, if it still
/// runs, makes `me` its joiner; a bound joiner waits here. Returns with the lock
/// held ([`Held::keep`]) and `t` a zombie, but for an unbound joiner's switch
/// away, which it returns for `join` to make (the lock is held across it).
#[inline(never)]
fn join_begin(
    me: &'static Thread,
    t: &'static Thread,
    id: ThreadId,
) -> Result<Option<Switch>, Error> {
    let h = hold();
    // Looked up without the lock: it may have been freed (and reused) since.
    if t.id() != id || t.life.get() == Life::Free {
        h.release();
        return Err(err(Errno::ESRCH));
    }
    if t.detached.get() || t.joiner.get().is_some() {
        h.release();
        return Err(err(Errno::EINVAL));
    }
    if t.life.get() == Life::Zombie {
        h.keep();
        return Ok(None);
    }
    t.joiner.set(Some(me));
    match h.block() {
        Some(Sleep::Switch(s)) => return Ok(Some(s)),
        Some(park) => park.finish(me),
        None => {}
    }
    hold().keep();
    Ok(None)
}

/// The end of [`join`], the pool's lock held by `lwp`, `me`'s: reaps the LWP of
/// `t` (a zombie) if it was a bound thread's, frees `t`, and leaves the lock;
/// `t`'s exit value.
#[inline(never)]
fn join_end(me: &'static Thread, t: &'static Thread, lwp: &'static Lwp) -> u64 {
    let h = Held::on(me, lwp);
    // A bound zombie's LWP may still be about.
    let h = if t.lwp_unreaped.get() {
        h.pool().unreaped.take_first(|x| core::ptr::eq(x, t));
        h.release();
        let _ = lwp_wait(t.own.id());
        hold()
    } else {
        h
    };
    let value = t.value();
    h.pool().free_thread(t);
    h.release();
    value
}

/// `calls::detach`.
pub(crate) fn detach(t: &'static Thread, id: ThreadId) -> Result<(), Error> {
    let h = hold();
    let r = if t.id() != id || t.life.get() == Life::Free {
        Err(err(Errno::ESRCH))
    } else if t.detached.get() || t.joiner.get().is_some() {
        Err(err(Errno::EINVAL))
    } else {
        t.detached.set(true);
        // An unbound zombie is done with its stack (it switched away for good);
        // a bound one's LWP is reaped with the others (`reap_unreaped`), which
        // frees it.
        if t.life.get() == Life::Zombie && !t.lwp_unreaped.get() {
            h.pool().free_thread(t);
        }
        Ok(())
    };
    h.release();
    r
}

/// `calls::key_create`.
pub(crate) fn key_create(destructor: Option<fn(u64)>) -> Result<usize, Error> {
    let mut g = POOL.lock();
    let k = g.keys.iter().position(|(made, _)| !made).ok_or(err(Errno::EAGAIN))?;
    g.keys[k] = (true, destructor);
    Ok(k)
}

/// Whether key `k` was made.
pub(crate) fn key_made(k: usize) -> bool {
    POOL.lock().keys.get(k).is_some_and(|(made, _)| *made)
}

/// Key `k`'s destructor. Out of line: `exit` calls it only for a value that is set,
/// and its lock would otherwise weigh on every exit.
#[inline(never)]
pub(crate) fn key_destructor(k: usize) -> Option<fn(u64)> {
    POOL.lock().keys.get(k).and_then(|(_, d)| *d)
}
