//! The clock: ticks since boot (`lbolt`), and time slicing.
//!
//! The machine calls [`clock_intr`] `hz` times a second on each CPU, with interrupts
//! off, on the stack of whatever thread it interrupted. The tick is charged to the
//! running thread's scheduling class, and to its LWP's CPU time (S5.6); CPU 0 also
//! counts `lbolt`, runs the callouts that are due and, once a second, the
//! dispatcher's starvation sweep, and watches the console for the debugger's
//! break sequence (`kmdb`). Then, if the
//! CPU was asked to, the interrupted thread is preempted on the spot: it will resume
//! inside this handler, and return from the interrupt, when its turn comes.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::cpu::cpu;
use crate::{callout, disp, kmdb, lwp};

/// Clock interrupts per second unless the boot arguments say `hz=N`.
pub const DEFAULT_HZ: u32 = 100;

static HZ: AtomicU32 = AtomicU32::new(DEFAULT_HZ);
static LBOLT: AtomicU64 = AtomicU64::new(0);

/// Ticks since boot, counted on CPU 0.
#[inline]
pub fn lbolt() -> u64 {
    LBOLT.load(Ordering::Relaxed)
}

/// The clock rate.
pub fn hz() -> u32 {
    HZ.load(Ordering::Relaxed)
}

pub(crate) fn set_hz(hz: u32) {
    HZ.store(hz, Ordering::Relaxed);
}

/// The clock interrupt (registered as the machine's `clock_intr` upcall), told
/// whether it interrupted user mode.
pub fn clock_intr(from_user: bool) {
    let cpu = cpu();
    // Only this CPU writes its counters, with interrupts off.
    cpu.cpu_ticks.store(cpu.ticks() + 1, Ordering::Relaxed);
    disp::clock_tick();
    lwp::clock_tick(from_user);
    if cpu.cpu_id == 0 {
        let now = LBOLT.fetch_add(1, Ordering::Relaxed) + 1;
        callout::run(now);
        disp::clock_second(now);
        // The break sequence on the console stops the kernel in its debugger.
        kmdb::poll_break();
    }
    disp::kpreempt();
}
