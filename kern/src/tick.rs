//! What every clock tick does: the clock interrupt and time slicing.
//!
//! The machine calls [`clock_intr`] `hz` times a second on each CPU, with interrupts
//! off, on the stack of whatever thread it interrupted. The tick is charged to the
//! running thread's scheduling class, and to its LWP's CPU time (S5.6); CPU 0 also
//! counts `lbolt` (`clock`), runs the callouts that are due and, once a second, the
//! dispatcher's starvation sweep, every few ticks wakes the swapper if memory runs low
//! (`swap`), and watches the console for the debugger's break sequence (`kmdb`). Then,
//! if the CPU was asked to, the interrupted thread is preempted on the spot: it will
//! resume inside this handler, and return from the interrupt, when its turn comes.

use core::sync::atomic::Ordering;

#[cfg(debug_assertions)]
use arch::Machine;

use crate::cpu::cpu;
#[cfg(debug_assertions)]
use crate::M;
use crate::{callout, clock, disp, kmdb, lwp, swap};

/// The clock interrupt (registered as the machine's `clock_intr` upcall), told
/// whether it interrupted user mode.
pub fn clock_intr(from_user: bool) {
    debug_check!(!M::intr_enabled(), "clock interrupt with interrupts on");
    let cpu = cpu();
    // Only this CPU writes its counters, with interrupts off.
    cpu.cpu_ticks.store(cpu.ticks() + 1, Ordering::Relaxed);
    disp::clock_tick();
    lwp::clock_tick(from_user);
    if cpu.cpu_id == 0 {
        let now = clock::advance();
        callout::run(now);
        disp::clock_second(now);
        swap::clock_tick(now);
        // The break sequence on the console stops the kernel in its debugger.
        kmdb::poll_break();
    }
    disp::kpreempt();
}
