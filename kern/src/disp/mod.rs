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
//! under the same lock hold that picks its successor, and is marked off its CPU
//! before the switch: no other CPU can take it while the switch is half done.

use core::sync::atomic::Ordering;

use arch::Machine;

use crate::class;
use crate::clock;
use crate::cpu::{cpu, cpu_by_id, cpus, Cpu};
use crate::thread::{self, curthread, KThread, ThreadState};
use crate::M;
use lwp_abi::{SC_RUN, SC_SLEEP, SC_STOPPED};

pub(crate) mod tstate;

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

/// Where `setrun` sends a thread whose LWP's `lwp` structure is out: the
/// swapper's queue (`swap::swapin_request`, which says false if the structure
/// turned out to be in). Set at boot (`boot`), before any structure can go out:
/// the dispatcher sits below the swapper and does not name it.
static SWAPIN: spin::Once<fn(&'static KThread) -> bool> = spin::Once::new();

/// Sets where `setrun` sends a thread that is not loaded (see `SWAPIN`).
pub(crate) fn set_swapin(request: fn(&'static KThread) -> bool) {
    SWAPIN.call_once(|| request);
}

/// Makes `t` runnable (it must be neither running nor queued). A thread whose LWP's
/// `lwp` structure is swapped out is not queued here: it goes to the swapper, which
/// brings the structure back and then makes it runnable (S5).
pub fn setrun(t: &'static KThread) {
    // Still being switched out on some CPU: it can be queued once it is off.
    while t.disp_state().oncpu() {
        <arch::Relax as spin::RelaxStrategy>::relax();
    }
    if !t.loaded() && SWAPIN.get().is_some_and(|request| request(t)) {
        return;
    }
    enqueue(t, false);
}

/// Queues `t` on the CPU it should wait on, and asks that CPU to preempt if `t`
/// outranks what it runs.
fn enqueue(t: &'static KThread, front: bool) {
    let was = M::intr_disable();
    let c = choose_cpu(t);
    t.set_state(ThreadState::Run);
    t.disp_state().note_queued();
    {
        let mut q = c.cpu_disp.lock();
        q.push(t, front);
        c.cpu_nrunnable.store(q.len(), Ordering::Relaxed);
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

/// Asks the CPU that runs `t`, if it is another, to look at `t`'s pending work now:
/// a cross-call interrupts `t`, and its way back to user mode tests its
/// pending-work word. (On this CPU the word is tested on the way out anyway.)
pub(crate) fn poke_thread(t: &KThread) {
    let was = M::intr_disable();
    if is_running(t) && t.cpu() != M::cpu_id() {
        poke(cpu_by_id(t.cpu()));
    }
    M::intr_restore(was);
}

/// Gives the CPU to a waiting thread of the same or a higher priority, if any.
/// Inlined, as `swtch` is: the `yield` system call's handler is then the only
/// kernel frame between its trap and `resume`.
#[inline(always)]
pub fn yield_now() {
    let was = M::intr_disable();
    yield_intr_off();
    M::intr_restore(was);
}

/// [`yield_now`] for a caller with interrupts off already: the `yield` system call,
/// which the machine makes so (`SysPath::FastIntrOff`), saving the handler the
/// turning off and back on.
#[inline(always)]
pub fn yield_intr_off() {
    debug_assert!(!M::intr_enabled(), "yield_intr_off with interrupts on");
    swtch(Prev::Yield);
}

/// Preempts the current thread if its CPU was asked to (`cpu_runrun`): called on the
/// way out of every interrupt, and by a thread that made a better thread runnable.
/// Inlined, as `swtch` is: a system call that wakes a better thread (`_lwp_unpark`)
/// then switches one kernel frame above its trap.
#[inline(always)]
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
    debug_check!(!M::intr_enabled(), "clock tick with interrupts on");
    let cpu = cpu();
    let t = curthread();
    if !cpu.is_idle(t) && class::tick(t) && !defer_preemption(t) {
        cpu.cpu_qexpired.store(true, Ordering::Relaxed);
        cpu.cpu_runrun.store(true, Ordering::Relaxed);
    }
}

/// `t`'s time slice is over, but it may have asked for one more tick (`schedctl`):
/// then it gets it.
fn defer_preemption(t: &KThread) -> bool {
    debug_check!(t.is_curthread() && !M::intr_enabled(), "{t:?}: preemption deferred elsewhere");
    let deferred = t.sc().defer_preemption();
    if deferred {
        t.quantum().set(1);
    }
    deferred
}

/// Boosts the TS threads that have waited on a queue too long (`ts_update`). They
/// are taken off one at a time (nothing is allocated under a queue's lock), and
/// requeued at their new priority, waiting from now: not starved any more.
pub(crate) fn ts_update() {
    let now = clock::lbolt();
    let waited = |t: &KThread| now.saturating_sub(t.disp_state().disptime());
    for c in cpus() {
        loop {
            let starved = {
                let mut q = c.cpu_disp.lock();
                let t = q.take(|t| class::starved(t, waited(t)).is_some());
                c.cpu_nrunnable.store(q.len(), Ordering::Relaxed);
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
        c.cpu_nrunnable.store(q.len(), Ordering::Relaxed);
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
    debug_assert!(!M::intr_enabled(), "swtch with interrupts on");
    let cpu = cpu();
    let cur = curthread();
    // Set once, by this CPU, before its first switch (`cpu_init`): compared here,
    // and looked up only to go idle.
    let is_idle = cpu.is_idle(cur);
    let must = is_idle || matches!(prev, Prev::Migrate | Prev::Block | Prev::Reap);
    // A thread that goes back on a queue goes back on this CPU's, under the lock
    // taken to pick its successor, when that is where `enqueue` would put it and no
    // other CPU can take it from there before the switch is complete: on a machine
    // of one CPU, or when it is bound here (nobody steals a bound thread).
    let requeue = if is_idle { None } else { prev.requeue() };
    let here = requeue.is_some() && (M::ncpus() == 1 || cur.bound_cpu() == Some(cpu.cpu_id));
    let (queued, requeued) = {
        let mut q = cpu.cpu_disp.lock_intr_off();
        let mine = cur.pri();
        // A yield to a thread of its own priority (the common case) is one step on
        // that one list. Otherwise the successor outranks the current thread
        // (equal priorities do not preempt), and is taken before the current
        // thread goes back: the successor's list, often the only one, empties
        // without a look for the next highest priority, which the requeue sets.
        let mut requeued = false;
        // The lowest priority whose best waiting thread runs before the current
        // one: any if it must go; its own, as equal priorities take turns; above
        // its own after a preemption (equal priorities do not preempt).
        let floor = match prev {
            _ if must => 0,
            Prev::Preempted => i16::from(mine) + 1,
            _ => i16::from(mine),
        };
        let t = match q.maxpri_from(floor) {
            Some(b) => match requeue {
                Some(front) if here => {
                    requeued = true;
                    cur.disp_state().note_queued();
                    if !front && b == mine {
                        Some((q.rotate(cur, b), b))
                    } else {
                        let t = q.take_first(b);
                        q.push(cur, front);
                        Some((t, b))
                    }
                }
                _ => Some((q.take_first(b), b)),
            },
            None => None,
        };
        if t.is_some() {
            // The best thread waiting here runs next: whatever asked this CPU to
            // preempt (a thread queued here that outranked the current one) has
            // its way, and a later `kpreempt` must not look again for nothing.
            // Under the queue's lock: a thread queued from now on sets it anew.
            cpu.cpu_runrun.store(false, Ordering::Relaxed);
        }
        if !requeued {
            // (A requeue with its pick leaves the count as it was.)
            cpu.cpu_nrunnable.store(q.len(), Ordering::Relaxed);
        }
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
    // The CPU runs the thread at the priority it waited at: a queued thread's
    // priority is its list's (a change moves it, `repri`, which also tells the
    // CPU a running thread's new one). An idle thread is never queued: it runs
    // only when nothing else can.
    let (next, next_pri) = match queued {
        Some((t, b)) => (t, i32::from(b)),
        None if let Some(t) = stolen() => (t, i32::from(t.pri())),
        None if is_idle || !must => {
            // It goes on running, perhaps at a priority its class just lowered (an
            // expired quantum): the CPU must show that one, for `enqueue` to preempt it.
            if !is_idle {
                cpu.cpu_curpri.store(i32::from(cur.pri()), Ordering::Relaxed);
            }
            return false;
        }
        None => (cpu.cpu_idle.get_relaxed().expect("no idle thread on this CPU"), IDLE_PRI),
    };
    if requeued {
        // Back on this CPU's queue already, where no other CPU takes it (see
        // `here`): only this CPU could pick it, and it switches with interrupts
        // off. It needs no note.
        cur.disp_state().set_oncpu(false);
    } else if !is_idle {
        let after = match (prev, requeue) {
            (Prev::Reap, _) => After::Reap,
            (_, Some(false)) => After::EnqueueBack,
            (_, Some(true)) => After::EnqueueFront,
            _ => After::OffCpu,
        };
        cpu.cpu_prev_why.store(after as u8, Ordering::Relaxed);
        // Only this CPU looks at its note (`switch_done`), with interrupts off.
        cpu.cpu_prev.set_relaxed(Some(cur));
    }
    if requeue.is_some() {
        // (Queued already if `requeued`: nothing but this CPU looks at it before the
        // lock is taken again, and that happens after this.)
        cur.set_state(ThreadState::Run);
    }
    // S5: the dispatcher never runs a thread whose LWP's `lwp` structure is out.
    debug_assert!(next.loaded(), "{next:?} picked to run while its lwp structure is out");
    next.set_state(ThreadState::OnProc);
    next.disp_state().set_oncpu(true);
    // (`M::cpu_id`, not `cpu.cpu_id`: a constant on a machine of one CPU.)
    next.note_switched_in(M::cpu_id());
    cpu.set_running(next, next_pri);
    // Only this CPU writes its counters, with interrupts off: no atomic add.
    cpu.cpu_switches.store(cpu.switches() + 1, Ordering::Relaxed);
    // The thread's own, for its LWP's usage (S5.4): a yield or a preemption that
    // found nothing better to run is no switch, and never comes here.
    match prev {
        Prev::Block => cur.note_switched_out(true),
        Prev::Yield | Prev::Expired | Prev::Preempted => cur.note_switched_out(false),
        Prev::Migrate | Prev::Reap => {}
    }
    // Both threads' schedctl slots say where they are (S9).
    cur.sc().switch_out(|| match prev {
        Prev::Block if cur.state() == ThreadState::Stopped => SC_STOPPED,
        Prev::Block => SC_SLEEP,
        _ => SC_RUN,
    });
    next.sc().switch_in(M::cpu_id());
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
    debug_check!(!M::intr_enabled(), "switch completed with interrupts on");
    let cpu = cpu();
    // Only this CPU touches its note, with interrupts off: no atomic swap.
    let Some(t) = cpu.cpu_prev.get_relaxed() else { return };
    cpu.cpu_prev.set_relaxed(None);
    let after = cpu.cpu_prev_why.load(Ordering::Relaxed);
    t.disp_state().set_oncpu(false);
    // The common case (a requeued yield, a sleep) is one test; the others are out
    // of line.
    if after != After::OffCpu as u8 {
        switch_done_requeue(t, after);
    }
}

/// What `switch_done` does for a thread that goes on a queue or is reaped now.
#[inline(never)]
fn switch_done_requeue(t: &'static KThread, after: u8) {
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
    repri(t, || t.set_epri_raw(epri));
    M::intr_restore(was);
    if was {
        kpreempt();
    }
}

/// Puts `t`, a thread the dispatcher schedules, in `class` at global priority
/// `pri` (which the class must allow), moving it as [`change_epri`] does (Solaris'
/// `CL_PARMSSET` and `thread_change_pri`). The caller, which may hold locks, calls
/// [`kpreempt`] once it holds none: this CPU may have to give way now.
pub(crate) fn change_class(t: &'static KThread, class: crate::class::SchedClass, pri: u8) {
    let was = M::intr_disable();
    repri(t, || t.change_class(class, pri));
    M::intr_restore(was);
}

/// Changes `t`'s priority by `set` (interrupts off): a queued thread moves to the
/// list of its new priority; a running one changes what its CPU runs at, and that
/// CPU reschedules if a queued thread now outranks it.
fn repri(t: &'static KThread, set: impl FnOnce()) {
    set();
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
}

/// Takes `t` off whatever dispatch queue it waits on; true if it was queued.
pub(crate) fn dispdeq(t: &'static KThread) -> bool {
    cpus().iter().any(|c| {
        let mut q = c.cpu_disp.lock();
        let found = q.remove(t);
        c.cpu_nrunnable.store(q.len(), Ordering::Relaxed);
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
    // The switch takes the running thread's context from the machine.
    M::context_boot(boot.context());
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
    t.disp_state().oncpu()
}

/// Checks that the thread is on at most one queue and one CPU: every queued thread
/// is `Run` and off every CPU, every running thread is on no queue. For tests.
pub fn check_invariants() -> Result<(), alloc::string::String> {
    for c in cpus() {
        c.cpu_disp.lock().check(c.cpu_id).map_err(|e| alloc::format!("cpu {}: {e}", c.cpu_id))?;
    }
    Ok(())
}
