//! The dispatcher: which thread runs next on each CPU, and the switch to it.
//!
//! # Theory
//!
//! Each CPU has a dispatch queue: one FIFO list of runnable threads per global
//! priority (`class::NPRI` of them) and a bitmap of the non-empty lists, so that
//! finding the best runnable thread is a scan of three words whatever the number of
//! threads (O(1) in the number of runnable threads). The classes (`class`) decide
//! how a thread's priority moves; the dispatcher only compares priorities.
//!
//! * **Where a thread waits.** [`setrun`] puts a thread on the queue of its bound
//!   CPU, else of the CPU it last ran on (its cache is warm there) if that CPU runs
//!   something of lower priority, else of the CPU running the lowest priority.
//! * **Preemption.** If the thread outranks what that CPU runs, the CPU's `runrun`
//!   is set; a remote CPU is poked (a cross-call), and the local one preempts at once
//!   if the caller is a thread, or on the way out of the interrupt otherwise. The
//!   clock charges each tick to the running thread's class; when its quantum is used
//!   up it goes to the back of its (new) priority's queue. A thread preempted before
//!   its quantum ran out goes back to the *front*.
//! * **Idle CPUs** run their idle thread, which takes any thread queued on its CPU
//!   and otherwise steals the best unbound thread queued on another CPU. A thread
//!   whose quantum expired with nothing queued on its own CPU likewise gives way to
//!   a thread stolen from a CPU where two or more wait, so queue lengths even out.
//! * **Starvation.** Once a second the TS threads that have waited on a queue too
//!   long are boosted (`class::starved`).
//!
//! A switch is made with interrupts off and in two halves. [`swtch`] picks the next
//! thread, notes in the CPU what must become of the current one, and calls the
//! machine's switch. The *incoming* thread carries the note out in [`switch_done`],
//! right after the switch (or first thing, if it is new): the outgoing thread is
//! requeued, reaped, or simply marked off the CPU (`t_oncpu`) if it went to sleep.
//! Whoever wants to make a thread runnable waits until it is off its CPU, so no CPU
//! ever picks up a thread whose registers are still being saved, and no thread is
//! ever on two CPUs or two queues at once. The one exception is the common case of
//! a yield or a preemption on a CPU whose queue nobody else takes from (a machine of
//! one CPU, or a thread bound there): the outgoing thread goes back on the queue
//! under the same lock hold that picks its successor, and is off its CPU before
//! that CPU can pick it again.

use core::sync::atomic::Ordering;

use arch::Machine;

use crate::class::{self, NPRI};
use crate::cpu::{cpu, cpu_by_id, cpus, Cpu};
use crate::thread::{self, curthread, KThread, ThreadState};
use crate::M;
use crate::{clock, schedctl};

/// Why the current thread gives up its CPU, and so what becomes of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prev {
    /// It yields: it goes on if nothing of its priority or higher waits; else it
    /// goes to the back of its queue.
    Yield,
    /// Its quantum is used up: like `Yield`.
    Expired,
    /// A higher-priority thread wants its CPU: it goes back to the front of its queue.
    Preempted,
    /// It must leave this CPU (it was bound elsewhere): always switches, then requeued.
    Migrate,
    /// It sleeps or stops: it is on some other queue already.
    Block,
    /// It exited: reap it.
    Reap,
}

impl Prev {
    /// Whether the thread is put back on a dispatch queue, and at the front.
    fn requeue(self) -> Option<bool> {
        match self {
            Prev::Yield | Prev::Expired | Prev::Migrate => Some(false),
            Prev::Preempted => Some(true),
            Prev::Block | Prev::Reap => None,
        }
    }
}

/// A CPU's dispatch queue. Public so that it can be measured on its own (the
/// benchmarks fill one with thread structures that never run); the dispatcher's
/// queues are the CPUs' (`Cpu::cpu_disp`).
pub struct DispQ {
    /// Bit `p` set: the list of priority `p` is not empty.
    bitmap: [u64; NPRI.div_ceil(64)],
    head: [Option<&'static KThread>; NPRI],
    tail: [Option<&'static KThread>; NPRI],
    nrun: usize,
    /// The highest priority with a thread queued, -1 if none (Solaris'
    /// `disp_maxrunpri`): kept as threads come and go, the bitmap scanned only when
    /// the highest list empties.
    max: i16,
}

impl DispQ {
    /// An empty queue.
    pub const fn new() -> DispQ {
        DispQ {
            bitmap: [0; NPRI.div_ceil(64)],
            head: [None; NPRI],
            tail: [None; NPRI],
            nrun: 0,
            max: -1,
        }
    }

    /// The highest priority with a thread queued.
    #[inline(always)]
    fn maxpri(&self) -> Option<u8> {
        u8::try_from(self.max).ok()
    }

    /// The highest priority with a thread queued, from the bitmap.
    fn scan_maxpri(&self) -> i16 {
        self.bitmap
            .iter()
            .enumerate()
            .rev()
            .find(|(_, w)| **w != 0)
            .map_or(-1, |(i, &w)| (i * 64 + highest_bit(w)) as i16)
    }

    /// Queues `t` at its priority: at the back of that priority's list, or at the
    /// front if `front` (a preempted thread). Panics if `t` is on a queue already.
    #[inline]
    pub fn push(&mut self, t: &'static KThread, front: bool) {
        let pri = t.pri() as usize;
        // Queues change only under their locks, which order these flags too.
        assert!(!t.t_queued.load(Ordering::Relaxed), "{t:?} is already on a queue");
        t.t_queued.store(true, Ordering::Relaxed);
        t.t_qpri.store(pri as u8, Ordering::Relaxed);
        match (front, self.head[pri]) {
            (_, None) => {
                t.t_link.set(None);
                self.head[pri] = Some(t);
                self.tail[pri] = Some(t);
            }
            (true, Some(h)) => {
                t.t_link.set(Some(h));
                self.head[pri] = Some(t);
            }
            (false, Some(_)) => {
                t.t_link.set(None);
                self.tail[pri].expect("tail of a non-empty list").t_link.set(Some(t));
                self.tail[pri] = Some(t);
            }
        }
        self.bitmap[pri / 64] |= 1 << (pri % 64);
        self.max = self.max.max(pri as i16);
        self.nrun += 1;
    }

    /// Unlinks `t`, which follows `prev` (or heads the list) at priority `pri`.
    #[inline]
    fn unlink(&mut self, pri: usize, prev: Option<&'static KThread>, t: &'static KThread) {
        let next = t.t_link.get();
        match prev {
            None => self.head[pri] = next,
            Some(p) => p.t_link.set(next),
        }
        if next.is_none() {
            self.tail[pri] = prev;
        }
        if self.head[pri].is_none() {
            self.bitmap[pri / 64] &= !(1 << (pri % 64));
            if pri as i16 == self.max {
                self.max = self.scan_maxpri();
            }
        }
        t.t_link.set(None);
        t.t_queued.store(false, Ordering::Relaxed);
        self.nrun -= 1;
    }

    /// Takes the first thread, from the highest priority down, that `want` accepts.
    fn take(&mut self, want: impl Fn(&KThread) -> bool) -> Option<&'static KThread> {
        for pri in (0..NPRI).rev() {
            if self.bitmap[pri / 64] & (1 << (pri % 64)) == 0 {
                continue;
            }
            let (mut prev, mut cur) = (None, self.head[pri]);
            while let Some(t) = cur {
                if want(t) {
                    self.unlink(pri, prev, t);
                    return Some(t);
                }
                prev = Some(t);
                cur = t.t_link.get();
            }
        }
        None
    }

    /// Takes the first thread of the highest priority.
    pub fn take_best(&mut self) -> Option<&'static KThread> {
        self.maxpri().map(|p| self.take_first(p))
    }

    /// Takes the first thread of priority `pri`, which `maxpri` found non-empty.
    #[inline]
    fn take_first(&mut self, pri: u8) -> &'static KThread {
        let pri = usize::from(pri);
        let t = self.head[pri].expect("bitmap says non-empty");
        self.unlink(pri, None, t);
        t
    }

    /// How many threads are queued.
    pub fn len(&self) -> usize {
        self.nrun
    }

    /// Whether no thread is queued.
    pub fn is_empty(&self) -> bool {
        self.nrun == 0
    }

    /// The queued threads, highest priority first, in the order they will run.
    pub fn iter(&self) -> impl Iterator<Item = &'static KThread> + '_ {
        (0..NPRI).rev().flat_map(|p| core::iter::successors(self.head[p], |t| t.t_link.get()))
    }

    /// Removes `t` if it is queued here.
    fn remove(&mut self, t: &'static KThread) -> bool {
        let pri = usize::from(t.t_qpri.load(Ordering::Relaxed));
        let (mut prev, mut cur) = (None, self.head[pri]);
        while let Some(c) = cur {
            if core::ptr::eq(c, t) {
                self.unlink(pri, prev, t);
                return true;
            }
            prev = Some(c);
            cur = c.t_link.get();
        }
        false
    }
}

impl Default for DispQ {
    fn default() -> Self {
        Self::new()
    }
}

/// The number of the highest bit set in `w`, which is not 0: the byte by a binary
/// search in three steps, the bit in it from a table. SPARC V9 has no
/// count-leading-zeros instruction, and `leading_zeros` would be a call to a
/// library routine on every switch.
#[inline(always)]
fn highest_bit(mut w: u64) -> usize {
    let mut n = 0;
    for shift in [32, 16, 8] {
        if w >> shift != 0 {
            w >>= shift;
            n += shift;
        }
    }
    n + usize::from(HIGHEST_BIT_OF_BYTE[w as usize])
}

/// `HIGHEST_BIT_OF_BYTE[b]`: the number of the highest bit set in `b` (0 for 0).
const HIGHEST_BIT_OF_BYTE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 2;
    while b < 256 {
        t[b] = t[b / 2] + 1;
        b += 1;
    }
    t
};

/// The priority `cpu_curpri` shows while a CPU idles: below every thread's.
const IDLE_PRI: i32 = -1;

/// The CPU a runnable thread should wait on (see the module comment).
fn choose_cpu(t: &KThread) -> &'static Cpu {
    if let Some(b) = t.bound_cpu() {
        return cpu_by_id(b);
    }
    if M::ncpus() == 1 {
        return cpu_by_id(0);
    }
    let pri = i32::from(t.pri());
    let last = cpu_by_id(t.cpu().min(M::ncpus() - 1));
    if last.curpri() < pri {
        return last;
    }
    let lowest = cpus()
        .iter()
        .min_by_key(|c| (c.curpri(), c.cpu_nrunnable.load(Ordering::Relaxed)))
        .unwrap_or(last);
    if lowest.curpri() < pri {
        lowest
    } else {
        last
    }
}

/// Makes `t` runnable (it must be neither running nor queued).
pub fn setrun(t: &'static KThread) {
    // Still being switched out on some CPU: it can be queued once it is off.
    while t.t_oncpu.load(Ordering::Acquire) {
        <arch::Relax as spin::RelaxStrategy>::relax();
    }
    enqueue(t, false);
}

/// Queues `t` on the CPU it should wait on, and asks that CPU to preempt if `t`
/// outranks what it runs.
fn enqueue(t: &'static KThread, front: bool) {
    let was = M::intr_disable();
    let c = choose_cpu(t);
    t.set_state(ThreadState::Run);
    t.t_disptime.store(clock::lbolt(), Ordering::Relaxed);
    {
        let mut q = c.cpu_disp.lock();
        q.push(t, front);
        c.cpu_nrunnable.store(q.nrun, Ordering::Relaxed);
    }
    let here = M::cpu_id() == c.cpu_id;
    if i32::from(t.pri()) > c.curpri() {
        c.cpu_runrun.store(true, Ordering::SeqCst);
        if !here {
            poke(c);
        }
    }
    M::intr_restore(was);
    if here && was {
        // A thread made a higher-priority thread runnable: it runs now. (In an
        // interrupt, the preemption happens on the way out of it.)
        kpreempt();
    }
}

/// Sends `c` a cross-call to look at its queue, unless one is on its way: it has
/// not yet reached `kpreempt`, which will see the `runrun` set before this call.
/// (Cross-calls must not pile up faster than a CPU takes them: on the simulation
/// machine each one is a signal frame on the interrupted thread's stack.)
fn poke(c: &Cpu) {
    if !c.cpu_poked.swap(true, Ordering::SeqCst) {
        M::poke_cpu(c.cpu_id);
    }
}

/// Gives the CPU to a waiting thread of the same or a higher priority, if any.
/// Inlined, as `swtch` is: the `yield` system call's handler is then the only
/// kernel frame between its trap and `resume`.
#[inline(always)]
pub fn yield_now() {
    let was = M::intr_disable();
    swtch(Prev::Yield);
    M::intr_restore(was);
}

/// Preempts the current thread if its CPU was asked to (`cpu_runrun`): called on the
/// way out of every interrupt, and by a thread that made a better thread runnable.
pub fn kpreempt() {
    let was = M::intr_disable();
    let cpu = cpu();
    // A cross-call sent from now on finds the flag clear; one sent before it was
    // cleared finds `runrun` read below.
    cpu.cpu_poked.store(false, Ordering::SeqCst);
    // Interrupts are off: only another CPU's setrun may set `runrun` meanwhile, and
    // the switch below looks at the queue anyway.
    if cpu.cpu_runrun.load(Ordering::SeqCst) {
        cpu.cpu_runrun.store(false, Ordering::Relaxed);
        let expired = cpu.cpu_qexpired.load(Ordering::Relaxed);
        cpu.cpu_qexpired.store(false, Ordering::Relaxed);
        if swtch(if expired { Prev::Expired } else { Prev::Preempted }) {
            // Only this CPU writes its counters, with interrupts off.
            cpu.cpu_preempts.store(cpu.preempts() + 1, Ordering::Relaxed);
        }
    }
    M::intr_restore(was);
}

/// The clock's share of dispatching (interrupts off): charge the tick to the running
/// thread's class, and preempt it if its quantum is used up.
pub(crate) fn clock_tick() {
    let cpu = cpu();
    let t = curthread();
    if !cpu.is_idle(t) && class::tick(t) && !schedctl::defer_preemption(t) {
        cpu.cpu_qexpired.store(true, Ordering::Relaxed);
        cpu.cpu_runrun.store(true, Ordering::Relaxed);
    }
}

/// Boosts the TS threads that have waited on a queue too long (`ts_update`). They
/// are taken off one at a time (nothing is allocated under a queue's lock), and
/// requeued at their new priority, waiting from now: not starved any more.
pub(crate) fn ts_update() {
    let now = clock::lbolt();
    let waited = |t: &KThread| now.saturating_sub(t.t_disptime.load(Ordering::Relaxed));
    for c in cpus() {
        loop {
            let starved = {
                let mut q = c.cpu_disp.lock();
                let t = q.take(|t| class::starved(t, waited(t)).is_some());
                c.cpu_nrunnable.store(q.nrun, Ordering::Relaxed);
                t
            };
            let Some(t) = starved else { break };
            if let Some(pri) = class::starved(t, waited(t)) {
                t.set_pri_raw(pri);
            }
            enqueue(t, false);
        }
    }
}

/// Takes the best unbound thread waiting on another CPU that has at least `min`
/// threads waiting.
fn steal(me: &Cpu, min: usize) -> Option<&'static KThread> {
    let n = M::ncpus();
    (1..n).map(|k| cpu_by_id((me.cpu_id + k) % n)).find_map(|c| {
        if c.cpu_nrunnable.load(Ordering::Relaxed) < min.max(1) {
            return None;
        }
        let mut q = c.cpu_disp.lock();
        let t = q.take(|t| t.bound_cpu().is_none());
        c.cpu_nrunnable.store(q.nrun, Ordering::Relaxed);
        t
    })
}

/// Switches from the current thread to the best runnable one (or to idle), leaving
/// the current one to `prev`. Interrupts must be off. Returns whether it switched;
/// when it did, it returns once the current thread is switched back in.
///
/// Inlined into its callers: the switch path from a trap to `resume` is then one
/// kernel frame, and `resume` has one register window fewer to spill and fill.
#[inline(always)]
pub(crate) fn swtch(prev: Prev) -> bool {
    let cpu = cpu();
    let cur = curthread();
    let idle = cpu.cpu_idle.get().expect("no idle thread on this CPU");
    let is_idle = core::ptr::eq(cur, idle);
    let must = is_idle || matches!(prev, Prev::Migrate | Prev::Block | Prev::Reap);
    // A thread that goes back on a queue goes back on this CPU's, under the lock
    // taken to pick its successor, when that is where `enqueue` would put it and no
    // other CPU can take it from there before the switch is complete: on a machine
    // of one CPU, or when it is bound here (nobody steals a bound thread).
    let requeue = if is_idle { None } else { prev.requeue() };
    let here = requeue.is_some() && (M::ncpus() == 1 || cur.bound_cpu() == Some(cpu.cpu_id));
    let (queued, requeued) = {
        let mut q = cpu.cpu_disp.lock_intr_off();
        let best = q.maxpri();
        let mine = cur.pri();
        let take = match best {
            None => false,
            Some(_) if must => true,
            Some(b) => match prev {
                Prev::Preempted => b > mine,
                _ => b >= mine,
            },
        };
        // Back on the queue first, then the successor taken: a list that the
        // successor leaves empty is then refilled before the highest priority is
        // looked for again.
        let requeued = match requeue {
            Some(front) if here && take => {
                cur.t_disptime.store(clock::lbolt(), Ordering::Relaxed);
                q.push(cur, front);
                true
            }
            _ => false,
        };
        let t = best.filter(|_| take).map(|b| q.take_first(b));
        cpu.cpu_nrunnable.store(q.nrun, Ordering::Relaxed);
        (t, requeued)
    };
    // With nothing better here: an idle or blocking CPU takes work from any other;
    // a thread whose quantum expired gives way to one queued where others wait too,
    // so that queue lengths even out.
    let stolen = || match prev {
        _ if must => steal(cpu, 1),
        Prev::Expired => steal(cpu, 2),
        _ => None,
    };
    let next = match queued.or_else(stolen) {
        Some(t) => t,
        None if is_idle || !must => {
            // It goes on running, perhaps at a priority its class just lowered (an
            // expired quantum): the CPU must show that one, for `enqueue` to preempt it.
            if !is_idle {
                cpu.cpu_curpri.store(i32::from(cur.pri()), Ordering::Relaxed);
            }
            return false;
        }
        None => idle,
    };
    if !is_idle {
        let after = match (prev, requeue) {
            (Prev::Reap, _) => After::Reap,
            (_, Some(false)) if !requeued => After::EnqueueBack,
            (_, Some(true)) if !requeued => After::EnqueueFront,
            _ => After::OffCpu,
        };
        cpu.cpu_prev_why.store(after as u8, Ordering::Relaxed);
        cpu.cpu_prev.set(Some(cur));
    }
    if requeue.is_some() {
        // (Queued already if `requeued`: nothing but this CPU looks at it before the
        // lock is taken again, and that happens after this.)
        cur.set_state(ThreadState::Run);
    }
    next.set_state(ThreadState::OnProc);
    next.t_oncpu.store(true, Ordering::Release);
    next.note_switched_in(cpu.cpu_id);
    cpu.set_running(next, if core::ptr::eq(next, idle) { IDLE_PRI } else { i32::from(next.pri()) });
    // Only this CPU writes its counters, with interrupts off: no atomic add.
    cpu.cpu_switches.store(cpu.switches() + 1, Ordering::Relaxed);
    schedctl::switching(cur, prev, next, cpu.cpu_id);
    M::switch(cur.context(), next.context(), next);
    switch_done();
    true
}

/// What the thread that a switch left becomes once the switch is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum After {
    /// Nothing more: it sleeps, stops, or is already back on its queue.
    OffCpu,
    /// It goes on the back of a dispatch queue.
    EnqueueBack,
    /// It goes on the front of a dispatch queue (it was preempted).
    EnqueueFront,
    /// It exited: reap it.
    Reap,
}

/// Completes the switch that brought the current thread in (see the module comment).
#[inline(always)]
pub(crate) fn switch_done() {
    let cpu = cpu();
    // Only this CPU touches its note, with interrupts off: no atomic swap.
    let Some(t) = cpu.cpu_prev.get() else { return };
    cpu.cpu_prev.set(None);
    let after = cpu.cpu_prev_why.load(Ordering::Relaxed);
    t.t_oncpu.store(false, Ordering::Release);
    match after {
        a if a == After::EnqueueBack as u8 => enqueue(t, false),
        a if a == After::EnqueueFront as u8 => enqueue(t, true),
        a if a == After::Reap as u8 => thread::reap(t),
        _ => {}
    }
}
/// Binds the current thread to `cpu` (or unbinds it with `None`) and moves it there.
pub fn thread_bind(target: Option<usize>) {
    let t = curthread();
    if let Some(c) = target {
        assert!(c < M::ncpus(), "no CPU {c}");
    }
    t.set_bound(target);
    let was = M::intr_disable();
    if target.is_some_and(|c| c != M::cpu_id()) {
        swtch(Prev::Migrate);
    }
    M::intr_restore(was);
}

/// Gives `t` the inherited priority `epri` (or takes it away with `None`) —
/// priority inheritance (Solaris' `thread_change_epri`). A queued thread moves to the
/// list of its new priority; a running one changes what its CPU runs at, and that
/// CPU reschedules if a queued thread now outranks it.
pub fn change_epri(t: &'static KThread, epri: Option<u8>) {
    let was = M::intr_disable();
    t.set_epri_raw(epri);
    // Queued (perhaps just now, on another CPU, at the old priority): move it.
    if dispdeq(t) {
        enqueue(t, false);
    } else {
        let c = cpu_by_id(t.cpu());
        if c.cpu_thread.get().is_some_and(|r| core::ptr::eq(r, t)) && !c.is_idle(t) {
            c.cpu_curpri.store(i32::from(t.pri()), Ordering::Relaxed);
            let best = c.cpu_disp.lock().maxpri().map(i32::from);
            if best.is_some_and(|b| b > i32::from(t.pri())) {
                c.cpu_runrun.store(true, Ordering::SeqCst);
                if c.cpu_id != M::cpu_id() {
                    poke(c);
                }
            }
        }
    }
    M::intr_restore(was);
    if was {
        kpreempt();
    }
}

/// Takes `t` off whatever dispatch queue it waits on; true if it was queued.
pub(crate) fn dispdeq(t: &'static KThread) -> bool {
    cpus().iter().any(|c| {
        let mut q = c.cpu_disp.lock();
        let found = q.remove(t);
        c.cpu_nrunnable.store(q.nrun, Ordering::Relaxed);
        found
    })
}

/// A CPU's idle thread: run whatever becomes runnable here or can be stolen from
/// another CPU; otherwise wait for an interrupt.
pub fn idle(_: usize) -> ! {
    switch_done();
    loop {
        if !swtch(Prev::Yield) {
            M::idle_wait();
        }
    }
}

/// Sets up this CPU's dispatching: `boot` is the thread running now, `idle` the
/// thread to run when nothing else can (the boot thread itself, on CPUs that boot
/// only to run the kernel's threads).
pub(crate) fn cpu_init(boot: &'static KThread, idle: &'static KThread) {
    let cpu = cpu();
    cpu.cpu_idle.set(Some(idle));
    let pri = if core::ptr::eq(boot, idle) { IDLE_PRI } else { i32::from(boot.pri()) };
    cpu.set_running(boot, pri);
    boot.note_switched_in(cpu.cpu_id);
}

/// The next clock tick's share of the dispatcher on CPU 0: once a second, the sweep.
pub(crate) fn clock_second(lbolt: u64) {
    if lbolt.is_multiple_of(u64::from(clock::hz())) {
        ts_update();
    }
}

/// Whether any CPU runs `t` right now.
pub fn is_running(t: &KThread) -> bool {
    t.t_oncpu.load(Ordering::Acquire)
}

/// Checks that the thread is on at most one queue and one CPU: every queued thread
/// is `Run` and off every CPU, every running thread is on no queue. For tests.
pub fn check_invariants() -> Result<(), alloc::string::String> {
    for c in cpus() {
        let q = c.cpu_disp.lock();
        let mut n = 0;
        for pri in 0..NPRI {
            let mut cur = q.head[pri];
            while let Some(t) = cur {
                n += 1;
                if usize::from(t.t_qpri.load(Ordering::Relaxed)) != pri
                    || t.state() != ThreadState::Run
                    || !t.t_queued.load(Ordering::Relaxed)
                {
                    return Err(alloc::format!(
                        "cpu {}: {t:?} at priority {pri} is queued wrongly",
                        c.cpu_id
                    ));
                }
                if let Some(b) = t.bound_cpu() {
                    if b != c.cpu_id {
                        return Err(alloc::format!(
                            "{t:?} bound to cpu {b} waits on cpu {}",
                            c.cpu_id
                        ));
                    }
                }
                cur = t.t_link.get();
            }
            if (q.bitmap[pri / 64] >> (pri % 64)) & 1 != u64::from(q.head[pri].is_some()) {
                return Err(alloc::format!("cpu {}: bitmap wrong at priority {pri}", c.cpu_id));
            }
        }
        if q.max != q.scan_maxpri() {
            return Err(alloc::format!(
                "cpu {}: highest priority {} recorded, {} queued",
                c.cpu_id,
                q.max,
                q.scan_maxpri()
            ));
        }
        if n != q.nrun {
            return Err(alloc::format!(
                "cpu {}: {n} threads queued, count says {}",
                c.cpu_id,
                q.nrun
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use alloc::boxed::Box;
    use alloc::vec::Vec;

    use super::*;
    use crate::class::SchedClass;

    /// Thread structures that are only queued, never run.
    fn threads(pris: &[u8]) -> Vec<&'static KThread> {
        pris.iter()
            .map(|&p| {
                let t: &'static KThread = Box::leak(Box::new(KThread::boot("q")));
                t.set_class(SchedClass::Ts, p);
                t
            })
            .collect()
    }

    fn drain(q: &mut DispQ) -> Vec<u8> {
        core::iter::from_fn(|| q.take_best()).map(|t| t.pri()).collect()
    }

    #[test]
    fn highest_priority_first_fifo_within_a_priority() {
        let ts = threads(&[10, 50, 10, 0, 50, 59]);
        let mut q = DispQ::new();
        for t in &ts {
            q.push(t, false);
        }
        assert_eq!(q.maxpri(), Some(59));
        let order: Vec<_> = core::iter::from_fn(|| q.take_best()).collect();
        let expect = [5, 1, 4, 0, 2, 3];
        for (got, want) in order.iter().zip(expect) {
            assert!(core::ptr::eq(*got, ts[want]), "wrong order");
        }
        assert_eq!(q.nrun, 0);
        assert_eq!(q.maxpri(), None);
        assert!(ts.iter().all(|t| !t.t_queued.load(Ordering::Relaxed)));
    }

    #[test]
    fn front_insertion_and_removal_keep_lists_and_bitmap_right() {
        let ts = threads(&[20, 20, 20, 40]);
        let mut q = DispQ::new();
        q.push(ts[0], false);
        q.push(ts[1], false);
        q.push(ts[2], true); // preempted: back to the front
        q.push(ts[3], false);
        assert!(q.remove(ts[0]), "the middle of a list");
        assert!(!q.remove(ts[0]), "removed twice");
        assert!(q.remove(ts[3]), "the only one of its priority");
        assert_eq!(q.maxpri(), Some(20), "bitmap bit of priority 40 cleared");
        let first = q.take_best().unwrap();
        assert!(core::ptr::eq(first, ts[2]));
        assert!(core::ptr::eq(q.take_best().unwrap(), ts[1]));
        assert_eq!(drain(&mut q), Vec::<u8>::new());
    }

    #[test]
    fn take_by_predicate_and_priority_changes_while_queued() {
        let ts = threads(&[5, 30, 30]);
        let mut q = DispQ::new();
        for t in &ts {
            q.push(t, false);
        }
        ts[1].set_bound(Some(3));
        let stolen = q.take(|t| t.bound_cpu().is_none()).unwrap();
        assert!(core::ptr::eq(stolen, ts[2]), "skips the bound thread, best first");
        // A priority that changes while queued: the thread is still found.
        ts[1].set_epri_raw(Some(55));
        assert!(q.remove(ts[1]));
        assert_eq!(drain(&mut q), alloc::vec![5]);
    }

    #[test]
    fn highest_bit_is_63_minus_leading_zeros() {
        let mut w = 1u64;
        for _ in 0..100_000 {
            assert_eq!(highest_bit(w), 63 - w.leading_zeros() as usize, "{w:#x}");
            w = w.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
            w >>= w % 64;
            w |= 1;
        }
        for b in 0..64 {
            assert_eq!(highest_bit(1 << b), b);
            assert_eq!(highest_bit(u64::MAX >> (63 - b)), b);
        }
    }

    #[test]
    #[should_panic(expected = "already on a queue")]
    fn a_thread_cannot_be_queued_twice() {
        let ts = threads(&[1]);
        let mut q = DispQ::new();
        q.push(ts[0], false);
        q.push(ts[0], false);
    }
}
