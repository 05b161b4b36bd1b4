//! Traps from user mode (S13, S16, S17, S5): each fault and software trap kills
//! its process with its signal, and nothing else; the fast traps; bad pointers to
//! every system call; stack pointers the kernel cannot spill to or fill from; the
//! FPU of each LWP.

use kern_selftest::{ensure, TestResult};
use lwp_abi::{SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGSYS, SIGTRAP};

use core::sync::atomic::Ordering;

use arch::sparc64::user::WBUF_UNWRITABLE;

use super::{killed_by, passes};
use crate::programs::*;

// S13: each fault kills its process with its signal, and nothing else.

pub(super) fn user_fault_unmapped_load() -> TestResult {
    killed_by(FAULT, 1, SIGSEGV)
}

pub(super) fn user_fault_text_store() -> TestResult {
    killed_by(FAULT, 2, SIGSEGV)
}

pub(super) fn user_fault_misaligned_load() -> TestResult {
    killed_by(FAULT, 3, SIGBUS)
}

pub(super) fn user_fault_illegal_instruction() -> TestResult {
    killed_by(FAULT, 4, SIGILL)
}

pub(super) fn user_fault_privileged_instruction() -> TestResult {
    killed_by(FAULT, 5, SIGILL)
}

pub(super) fn user_fault_division_by_zero() -> TestResult {
    killed_by(FAULT, 6, SIGFPE)
}

/// A system call number that is none: SIGSYS (S13).
pub(super) fn user_bad_syscall() -> TestResult {
    killed_by(FAULT, 7, SIGSYS)
}

pub(super) fn user_fault_data_exec() -> TestResult {
    killed_by(FAULT, 8, SIGSEGV)
}

pub(super) fn user_fault_kernel_read() -> TestResult {
    killed_by(FAULT, 9, SIGSEGV)
}

/// The fault of a second LWP ends the process, main asleep in `lwp_wait` too.
pub(super) fn user_fault_in_second_lwp() -> TestResult {
    killed_by(FAULT, 10, SIGSEGV)
}

// Solaris' software traps (`<sys/trap.h>`) that are no system calls.

/// `ta 1` (`ST_BREAKPOINT`) is a breakpoint: SIGTRAP at the LWP (S13).
pub(super) fn user_soft_trap_breakpoint() -> TestResult {
    killed_by(FAULT, 11, SIGTRAP)
}

/// `ta 2` (`ST_DIV0`), what compiled code does for a division by zero: SIGFPE.
pub(super) fn user_soft_trap_div0() -> TestResult {
    killed_by(FAULT, 12, SIGFPE)
}

/// A software trap nobody serves is an illegal trap: SIGILL, as before.
pub(super) fn user_soft_trap_unserved() -> TestResult {
    killed_by(FAULT, 13, SIGILL)
}

/// The fast traps `ta 0x24`/`ta 0x25` (gethrtime, gethrvtime) answer without a
/// system call, with the clock and with the LWP's time on a CPU; `ta 3` puts the
/// caller's windows on the stack (see the `traps` program).
pub(super) fn user_fast_traps_and_flush_windows() -> TestResult {
    passes(TRAPS, 0)
}

/// Each LWP has an FPU of its own, enabled by its first FP instruction: fresh
/// registers, kept across switches, preemption and signal handlers, carried in
/// contexts; an FP exception it enabled is SIGFPE at that LWP (S5, S13, S17; see
/// the `fpu` program). Under `swap=force`, across swapping too.
pub(super) fn user_fpu_per_lwp() -> TestResult {
    passes(FPU, 0)
}

/// Every pointer argument of every system call refuses bad addresses with EFAULT,
/// and the process goes on (S16).
pub(super) fn user_bad_pointers() -> TestResult {
    passes(BADPTR, 0)
}

/// An LWP whose stack pointer is unusable dies with SIGSEGV when its windows must
/// spill — by recursion, or on a system call that switches away — and the kernel
/// goes on (S13, S17).
pub(super) fn user_bad_stack() -> TestResult {
    for way in 1..=2 {
        let before = WBUF_UNWRITABLE.load(Ordering::Relaxed);
        killed_by(STACK, way, SIGSEGV)?;
        // The windows went to the window buffer, not lost, and failed only there.
        ensure!(
            WBUF_UNWRITABLE.load(Ordering::Relaxed) > before,
            "way {way}: no window went through the window buffer"
        );
    }
    Ok(())
}

// Issue #9: every user stack pointer is the LWP's problem, at every entry to user
// mode (first start, return from a trap, after a switch): a window that cannot be
// filled or spilled is the LWP's signal (SIGSEGV, SIGBUS when misaligned), taken
// where it faults, and the kernel and a sibling process go on (S13, S17).

/// An LWP created with an aligned, unmapped stack: its first entry to user mode
/// cannot fill its first window (a fault at TL=2 in the return path).
pub(super) fn user_bad_stack_first_entry() -> TestResult {
    killed_by(STACK, 3, SIGSEGV)
}

/// A misaligned stack pointer on mapped memory when the LWP yields: the spill at
/// the switch and the fill at the return cannot use it.
pub(super) fn user_bad_stack_misaligned_at_switch() -> TestResult {
    killed_by(STACK, 4, SIGBUS)
}

/// A stack pointer without the V9 stack bias (even) on mapped memory: its frame
/// address is odd, misaligned for every doubleword of the window.
pub(super) fn user_bad_stack_unbiased_at_switch() -> TestResult {
    killed_by(STACK, 5, SIGBUS)
}

/// A misaligned stack pointer in an LWP that never enters the kernel itself: an
/// interrupt preempts it (its sibling waking from a sleep), and its windows are
/// saved and restored around the switch.
pub(super) fn user_bad_stack_misaligned_preempted() -> TestResult {
    killed_by(STACK, 6, SIGBUS)
}

/// A stack pointer into the kernel's own memory, which user mode cannot reach.
pub(super) fn user_bad_stack_in_kernel_window() -> TestResult {
    killed_by(STACK, 7, SIGSEGV)
}

/// A stack that a sibling LWP unmaps while the LWP is switched away in a fast
/// system call (`yield`): its window went there, and the return cannot fill it.
pub(super) fn user_bad_stack_unmapped_while_switched() -> TestResult {
    killed_by(STACK, 8, SIGSEGV)
}
