//! Interrupts: their delivery (pending clock interrupts, cross-calls and the disk's,
//! taken through [`run_pending`], the machine's interrupt vector: each CPU's flag
//! and its masking are `percpu`'s), the clock signal and its handler, idling, and
//! the host thread that makes the clock tick.
//!
//! In the parallel mode a clock interrupt is a `CLOCK_SIGNAL` sent with
//! `pthread_kill` to the CPU's host thread. The handler runs on whatever stack the
//! CPU was running: if the CPU's flag says interrupts are disabled it only marks the
//! interrupt pending; otherwise it
//! takes it, calling `Upcalls::clock_intr`, which may switch to another thread right
//! there. The interrupted thread's registers then wait in the signal frame on its own
//! stack; when some later switch resumes it (possibly on another CPU's host thread)
//! the handler returns and `rt_sigreturn` restores them.
//!
//! The handler is installed with `SA_NODEFER`, so the signal is not blocked while it
//! runs: a thread switched to from inside the handler keeps being preemptible (the
//! flag, not the host signal mask, is what holds interrupts off). It is installed
//! without `SA_RESTART`: a host system call interrupted on one host thread may be
//! finished on another after a migration, and an `EINTR` result carries over safely
//! where a kernel-side restart might not.
//!
//! An interrupt that finds the CPU in user mode (`user`) is taken in the kernel: the
//! handlers are told so (`clock_intr(true)`), and the thread then makes the
//! `UserTrap::Return` upcall before its user code goes on, as the return path of a
//! real trap to user mode does.
//!
//! In the seeded mode (`det`) no clock thread runs and no signal plays an interrupt:
//! the seeded scheduler marks interrupts pending from virtual time and cross-calls,
//! and delivers them through the same [`run_pending`] at its scheduling points. The
//! signal then only brings the host thread home after a timeout.

use core::sync::atomic::Ordering;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use super::percpu::Cpu;
use super::Boot;

/// The signal that plays the clock interrupt (and halt's kick).
pub(super) const CLOCK_SIGNAL: libc::c_int = libc::SIGUSR1;

/// How long an idle CPU sleeps between looks at its interrupt count. Signals cut the
/// sleep short; this only bounds the delay when one lands just before the sleep.
const IDLE_NAP: Duration = Duration::from_millis(2);

/// How long the clock thread sleeps when no clock runs.
const CLOCK_IDLE_POLL: Duration = Duration::from_millis(50);

/// Takes the pending clock interrupts; interrupts are enabled on entry and exit. The
/// machine's interrupt vector (`Boot::intr_vector`): `Cpu::intr_restore` comes here
/// when it finds an interrupt pending.
pub(super) fn run_pending(cpu: Cpu) {
    // A CPU leaving the simulation (or not yet in it) takes no more interrupts.
    while cpu.in_sim() && cpu.intr_pending() {
        // Whoever turns the flag off owns the delivery; a signal nested in here sees
        // it off and only marks another interrupt pending, which the loop then takes.
        if !cpu.swap_intr_enabled(false) {
            return;
        }
        // The handlers run in the kernel, whatever they interrupted.
        let from_user = cpu.swap_user_mode(false);
        let taken = cpu.swap_intr_pending(false) && take_interrupts(cpu, from_user);
        if from_user {
            if taken {
                // As the trap return path to user mode does: the kernel's chance to
                // stop or end the LWP first, with interrupts enabled. It may not
                // return, abandoning the user program's frames.
                cpu.set_intr_enabled(true);
                guarded(cpu, || super::user::interrupted(cpu));
                cpu.set_intr_enabled(false);
            }
            cpu.set_user_mode(true);
        }
        // The thread may be on another CPU by now (it may have been switched out and
        // resumed elsewhere): this enables the CPU it runs on, as it should.
        cpu.set_intr_enabled(true);
    }
}

/// The interrupts that are due (a clock tick, a cross-call, the disk's, or several;
/// none for a halt's kick), with interrupts disabled. Returns whether a handler ran.
fn take_interrupts(cpu: Cpu, from_user: bool) -> bool {
    cpu.count_intr();
    let pc = cpu.percpu();
    let clock = pc.clock_due.swap(false, Ordering::AcqRel);
    let poke = pc.poked.swap(false, Ordering::AcqRel);
    let disk = pc.disk_due.swap(false, Ordering::AcqRel);
    let Some(upcalls) = cpu.boot().upcalls() else { return false };
    if disk {
        guarded(cpu, upcalls.blk_intr);
    }
    if clock {
        guarded(cpu, || (upcalls.clock_intr)(from_user));
    }
    if poke {
        guarded(cpu, upcalls.poke_intr);
    }
    clock || poke || disk
}

/// Runs an interrupt's upcall. Unwinding must stop here: above is a signal frame, or
/// code that did not expect an interrupt to fail.
fn guarded(cpu: Cpu, f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        super::fail(cpu, payload);
    }
}

/// Sends `pc`'s CPU a cross-call.
pub(super) fn poke(pc: &super::percpu::PerCpu) {
    pc.poked.store(true, Ordering::Release);
    kick(pc.pthread.load(Ordering::Acquire));
}

/// Idles until an interrupt has been taken: interrupts are enabled while waiting and
/// disabled again on return.
pub(super) fn idle_wait(cpu: Cpu) {
    // Interrupts are disabled: both words are this CPU's.
    let (this, count) = (cpu.this_addr(), cpu.intr_count());
    cpu.intr_restore(true);
    // A change of CPU means the thread was switched out from an interrupt and
    // resumed elsewhere: an interrupt was taken, too.
    while cpu.this_addr() == this && cpu.intr_count() == count {
        if cpu.boot().halted() {
            super::exit_to_host(cpu);
        }
        let nap = libc::timespec { tv_sec: 0, tv_nsec: IDLE_NAP.as_nanos() as libc::c_long };
        // SAFETY: nanosleep reads the timespec and writes nothing (null remainder);
        // an EINTR from the clock signal is the wake-up we want.
        unsafe { libc::nanosleep(&nap, core::ptr::null_mut()) };
    }
    cpu.intr_disable();
}

/// Installs the clock signal handler, once per process. It stays installed: on any
/// host thread that is not a simulated CPU it does nothing.
pub(super) fn install_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            on_clock_signal;
        // SAFETY: an all-zero sigaction is a valid value, which is then filled in;
        // the handler has the three-argument signature SA_SIGINFO calls for.
        let r = unsafe {
            let mut sa: libc::sigaction = core::mem::zeroed();
            sa.sa_sigaction = handler as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(CLOCK_SIGNAL, &sa, core::ptr::null_mut())
        };
        assert_eq!(r, 0, "sim: cannot install the clock signal handler");
    });
}

/// Blocks or unblocks the clock signal for the calling host thread.
pub(super) fn block_signal(block: bool) {
    // SAFETY: the set is initialised by sigemptyset before use; pthread_sigmask
    // changes only the calling thread's mask.
    let r = unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, CLOCK_SIGNAL);
        let how = if block { libc::SIG_BLOCK } else { libc::SIG_UNBLOCK };
        libc::pthread_sigmask(how, &set, core::ptr::null_mut())
    };
    assert_eq!(r, 0, "sim: pthread_sigmask failed");
}

/// Sends the clock signal to a CPU's host thread.
pub(super) fn kick(pthread: usize) {
    if pthread != 0 {
        // SAFETY: `pthread` is the pthread_t of a CPU thread that has not been joined
        // yet (`run` joins the CPU threads only after the clock thread and the kicks
        // have stopped), so it is still a valid thread id.
        unsafe { libc::pthread_kill(pthread as libc::pthread_t, CLOCK_SIGNAL) };
    }
}

extern "C" fn on_clock_signal(
    _sig: libc::c_int,
    _info: *mut libc::siginfo_t,
    _uctx: *mut libc::c_void,
) {
    let Some(cpu) = Cpu::here() else { return };
    if !cpu.in_sim() {
        return;
    }
    // SAFETY: __errno_location returns this host thread's errno slot.
    let errno = unsafe { *libc::__errno_location() };
    if cpu.boot().halted() {
        // Go home, unless a host lock is held: then the next kick will come back.
        if !cpu.in_critical() {
            super::exit_to_host(cpu);
        }
    } else if !cpu.seeded() {
        cpu.set_intr_pending(true);
        if cpu.intr_enabled() {
            run_pending(cpu);
        }
    }
    // SAFETY: as above, freshly for the host thread we return on.
    unsafe { *libc::__errno_location() = errno };
}

/// The clock thread of one boot: signals each CPU whose clock runs, on time, and
/// plays the disk: completes its transfers when due and signals the CPU that takes
/// its interrupt.
pub(super) fn clock_thread(boot: &Boot) {
    while !boot.timer_stop.load(Ordering::Acquire) {
        let now = now_ns();
        let mut wake = now + CLOCK_IDLE_POLL.as_nanos() as u64;
        if let Some(disk) = &boot.disk {
            let pc = &boot.percpu[super::DISK_CPU];
            if disk.complete_due(now) && !pc.out.load(Ordering::Acquire) {
                pc.disk_due.store(true, Ordering::Release);
                kick(pc.pthread.load(Ordering::Acquire));
            }
            if let Some(due) = disk.next_due() {
                wake = wake.min(due);
            }
        }
        for pc in boot.percpu.iter() {
            let period = pc.clock_period_ns.load(Ordering::Acquire);
            if period == 0 || pc.out.load(Ordering::Acquire) {
                continue;
            }
            let due = pc.clock_next_ns.load(Ordering::Relaxed);
            let mut next = due;
            if due <= now {
                pc.clock_due.store(true, Ordering::Release);
                kick(pc.pthread.load(Ordering::Acquire));
                // Ticks missed while the host was busy are dropped, as a real clock
                // that latches one interrupt drops them.
                next = if due + period > now { due + period } else { now + period };
                // A clock_start meanwhile wins.
                let _ = pc.clock_next_ns.compare_exchange(
                    due,
                    next,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
            wake = wake.min(next);
        }
        if wake > now {
            std::thread::park_timeout(Duration::from_nanos(wake - now));
        }
    }
}

/// The host's monotonic clock in nanoseconds.
pub(super) fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec passed to it.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
