//! The dispatcher: which thread runs next, and the switch to it.
//!
//! # Theory
//!
//! Runnable threads wait on one first-in, first-out run queue that every CPU takes
//! from; each CPU has an idle thread for when the queue is empty. The clock gives the
//! running thread one tick: at each tick, if another thread is waiting, the running
//! one is preempted to the back of the queue (round robin).
//!
//! A switch is made with interrupts off and in two halves. [`swtch`] picks the next
//! thread, notes what must become of the current one, and calls the machine's
//! switch. The note is carried out by [`switch_done`], which the *incoming* thread
//! runs right after the switch (or first thing, if it is new): a thread that gave up
//! the CPU is put back on the run queue, and an exited one reaped, only once its
//! registers are saved and its stack is free. So no other CPU can ever pick up a
//! thread whose context is still being saved.

use alloc::collections::VecDeque;
use core::sync::atomic::Ordering;

use arch::Machine;
use spin::Mutex;

use crate::cpu::cpu;
use crate::thread::{self, curthread, KThread, ThreadState};
use crate::M;

/// What becomes of the thread a CPU switches away from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prev {
    /// It stays runnable: back to the run queue.
    Requeue,
    /// It exited: reap it.
    Reap,
}

static RUNQ: Mutex<VecDeque<&'static KThread>> = Mutex::new(VecDeque::new());

/// Makes `t` runnable.
pub fn setrun(t: &'static KThread) {
    let was = M::intr_disable();
    t.set_state(ThreadState::Run);
    RUNQ.lock().push_back(t);
    M::intr_restore(was);
}

/// How many threads wait on the run queue.
pub fn nrunnable() -> usize {
    let was = M::intr_disable();
    let n = RUNQ.lock().len();
    M::intr_restore(was);
    n
}

/// Gives the CPU to the next runnable thread, if any; the caller stays runnable.
pub fn yield_now() {
    let was = M::intr_disable();
    swtch(Prev::Requeue);
    M::intr_restore(was);
}

/// Preempts the running thread if the clock asked for it (interrupts off).
pub(crate) fn preempt() {
    let cpu = cpu();
    if cpu.cpu_runrun.swap(false, Ordering::Relaxed) && !RUNQ.lock().is_empty() {
        cpu.cpu_preempts.fetch_add(1, Ordering::Relaxed);
        swtch(Prev::Requeue);
    }
}

/// Switches from the current thread to the next runnable one (or to idle), leaving
/// the current one to `prev`. Interrupts must be off. Returns when the current
/// thread is switched back in; at once if it may go on and nothing else is runnable.
pub(crate) fn swtch(prev: Prev) {
    let cpu = cpu();
    let cur = curthread();
    let idle = cpu.cpu_idle.get().expect("no idle thread on this CPU");
    let is_idle = core::ptr::eq(cur, idle);
    let next = match RUNQ.lock().pop_front() {
        Some(t) => t,
        None if prev == Prev::Requeue && !is_idle => return,
        None => idle,
    };
    if !is_idle {
        *cpu.cpu_prev.lock() = Some((prev, cur));
    }
    if cur.state() == ThreadState::OnProc && prev == Prev::Requeue {
        cur.set_state(ThreadState::Run);
    }
    next.set_state(ThreadState::OnProc);
    next.note_switched_in(cpu.cpu_id);
    cpu.cpu_thread.set(Some(next));
    cpu.cpu_switches.fetch_add(1, Ordering::Relaxed);
    M::switch(cur.context(), next.context(), next);
    switch_done();
}

/// Completes the switch that brought the current thread in (see the module comment).
pub(crate) fn switch_done() {
    let prev = cpu().cpu_prev.lock().take();
    match prev {
        Some((Prev::Requeue, t)) => RUNQ.lock().push_back(t),
        Some((Prev::Reap, t)) => thread::reap(t),
        None => {}
    }
}

/// A CPU's idle thread: run whatever becomes runnable, otherwise wait for an interrupt.
pub fn idle(_: usize) -> ! {
    switch_done();
    loop {
        if RUNQ.lock().is_empty() {
            M::idle_wait();
        } else {
            swtch(Prev::Requeue);
        }
    }
}

/// Sets up this CPU's dispatching: `boot` is the thread running now, `idle` the
/// thread to run when nothing else can (the boot thread itself, on CPUs that boot
/// only to run the kernel's threads).
pub(crate) fn cpu_init(boot: &'static KThread, idle: &'static KThread) {
    let cpu = cpu();
    cpu.cpu_thread.set(Some(boot));
    cpu.cpu_idle.set(Some(idle));
}
