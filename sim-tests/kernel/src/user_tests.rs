//! Self-tests of user mode: the programs of `sim-tests/user` (carried in the image,
//! `programs`) run in processes of their own, started by the ELF loader
//! (`kern::exec::spawn`) and reaped with their wait status (`proc_wait`). A program
//! checks what it can see from user mode and exits 0, or with a code naming the
//! failed check (its line on the console says more); a test checks the status,
//! and what only the kernel sees — that a sibling process survived, that a
//! refused image left no process.
//!
//! Requirements: S1 (processes, exec, exit status), S3 (LWPs in user mode),
//! S5 (swapping: `lwp` structures out and back, registers and all), S5.1
//! (registers back after a handler), S5.4 (usage and profiling: `rusage`), S5.6
//! (CPU times), S1 (credentials,
//! descriptors and pipes: `creds`, `pipes`), S3 (scheduling classes of LWPs:
//! `prio`), S10–S15 (signals: the
//! `signals` program, and the job control and SIGKILL the kernel sends), S13
//! (faults kill with their signal, the kernel survives), S15 (LWP ids are per
//! process), S16 (system calls validate what they are given), S17 (register
//! windows and switches in user mode); S1 and S16 for anonymous memory and the
//! growing stack (`mmap`).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use arch::{reg, Machine};
use kern::cred::{self, Cred};
use kern::errno::Errno;
use kern::proc::{self, PStat, Pid, WaitOpts, WaitStatus};
use kern::thread::ThreadState;
use kern::{exec, lwp, signal, sleepq, swap};
use kern_selftest::{ensure, ensure_eq, reap, skip, wait_for, Test, TestResult};
use lwp_abi::{
    SIGBUS, SIGCONT, SIGFPE, SIGILL, SIGKILL, SIGPIPE, SIGSEGV, SIGSTOP, SIGSYS, SIGTERM, SIGTRAP,
};

use core::sync::atomic::Ordering;

use arch::sparc64::user::WBUF_UNWRITABLE;

use crate::programs::*;

pub static USER: &[Test] = &[
    Test::new("user_hello", user_hello),
    Test::new("user_malformed_elf", user_malformed_elf),
    Test::new("user_lwps_interleave", user_lwps_interleave),
    Test::new("user_lwp_suspend_continue", user_lwp_suspend_continue),
    Test::new("user_lwp_wait", user_lwp_wait),
    Test::new("user_fault_unmapped_load", user_fault_unmapped_load),
    Test::new("user_fault_text_store", user_fault_text_store),
    Test::new("user_fault_misaligned_load", user_fault_misaligned_load),
    Test::new("user_fault_illegal_instruction", user_fault_illegal_instruction),
    Test::new("user_fault_privileged_instruction", user_fault_privileged_instruction),
    Test::new("user_fault_division_by_zero", user_fault_division_by_zero),
    Test::new("user_bad_syscall", user_bad_syscall),
    Test::new("user_fault_data_exec", user_fault_data_exec),
    Test::new("user_fault_kernel_read", user_fault_kernel_read),
    Test::new("user_fault_in_second_lwp", user_fault_in_second_lwp),
    Test::new("user_soft_trap_breakpoint", user_soft_trap_breakpoint),
    Test::new("user_soft_trap_div0", user_soft_trap_div0),
    Test::new("user_soft_trap_unserved", user_soft_trap_unserved),
    Test::new("user_fast_traps_and_flush_windows", user_fast_traps_and_flush_windows),
    Test::new("user_fpu_per_lwp", user_fpu_per_lwp),
    Test::new("user_fork1_and_waitid", user_fork1_and_waitid),
    Test::new("user_exec", user_exec),
    Test::new("user_rc_runs_the_programs", user_rc_runs_the_programs),
    Test::new("user_bad_pointers", user_bad_pointers),
    Test::new("user_isolation", user_isolation),
    Test::new("user_bad_stack", user_bad_stack),
    Test::new("user_bad_stack_first_entry", user_bad_stack_first_entry),
    Test::new("user_bad_stack_misaligned_at_switch", user_bad_stack_misaligned_at_switch),
    Test::new("user_bad_stack_unbiased_at_switch", user_bad_stack_unbiased_at_switch),
    Test::new("user_bad_stack_misaligned_preempted", user_bad_stack_misaligned_preempted),
    Test::new("user_bad_stack_in_kernel_window", user_bad_stack_in_kernel_window),
    Test::new("user_bad_stack_unmapped_while_switched", user_bad_stack_unmapped_while_switched),
    Test::new("user_times", user_times),
    Test::new("user_sig_handler_in_other_lwp", user_sig_handler_in_other_lwp),
    Test::new("user_sig_masks_choose_the_lwp", user_sig_masks_choose_the_lwp),
    Test::new("user_sig_altstacks_per_lwp", user_sig_altstacks_per_lwp),
    Test::new("user_sig_traps_in_their_lwp", user_sig_traps_in_their_lwp),
    Test::new("user_sig_masked_or_ignored_trap_kills", user_sig_masked_or_ignored_trap_kills),
    Test::new("user_sig_process_signals_and_timers", user_sig_process_signals_and_timers),
    Test::new("user_sig_eintr_and_restart", user_sig_eintr_and_restart),
    Test::new("user_sig_sigsuspend_sigtimedwait", user_sig_sigsuspend_sigtimedwait),
    Test::new("user_sig_bad_arguments", user_sig_bad_arguments),
    Test::new("user_sig_bad_frame_is_sigsegv", user_sig_bad_frame_is_sigsegv),
    Test::new("user_sig_registers_restored", user_sig_registers_restored),
    Test::new("user_sig_between_processes", user_sig_between_processes),
    Test::new("user_sig_stop_and_continue", user_sig_stop_and_continue),
    Test::new("user_sig_kill_every_state", user_sig_kill_every_state),
    Test::new("user_lwp_create_until_refused", user_lwp_create_until_refused),
    Test::new("user_zombie_lwps_until_refused", user_zombie_lwps_until_refused),
    Test::new("user_thousands_of_lwps_leave_nothing", user_thousands_of_lwps_leave_nothing),
    Test::new("user_endless_sleep_woken_again_and_again", user_endless_sleep_woken_again_and_again),
    Test::new(
        "user_spawn_survives_each_allocation_failure",
        user_spawn_survives_each_allocation_failure,
    ),
    Test::new("user_bench_programs", user_bench_programs),
    Test::new("user_swap_everything_repeatedly", user_swap_everything_repeatedly),
    Test::new("user_park_unpark", user_park_unpark),
    Test::new("user_creds_rules", user_creds_rules),
    Test::new("user_creds_given_and_inherited", user_creds_given_and_inherited),
    Test::new("user_creds_kill_between_users", user_creds_kill_between_users),
    Test::new("user_pipes", user_pipes),
    Test::new("user_pipes_sigpipe_kills", user_pipes_sigpipe_kills),
    Test::new("user_pipes_reader_exit_frees_the_pipe", user_pipes_reader_exit_frees_the_pipe),
    Test::new("user_priocntl", user_priocntl),
    Test::new("user_mmap_anon", user_mmap_anon),
    Test::new("user_mmap_exhausts_memory", user_mmap_exhausts_memory),
    Test::new("user_stack_grows", user_stack_grows),
    Test::new("user_rusage_lwp_counts", user_rusage_lwp_counts),
    Test::new("user_rusage_children", user_rusage_children),
    Test::new("user_rusage_survives_swapping", user_rusage_survives_swapping),
    Test::new("user_profil_histogram", user_profil_histogram),
    Test::new("user_profil_bad_buffer_stops", user_profil_bad_buffer_stops),
];

pub(crate) fn start(image: &[u8], arg: u64) -> Result<Pid, String> {
    exec::spawn(image, arg).map_err(|e| format!("spawn: {e}"))
}

/// Runs program `image` with argument `arg` to its end: its wait status.
pub(crate) fn run(image: &[u8], arg: u64) -> Result<WaitStatus, String> {
    reap(start(image, arg)?)
}

/// Runs a program that must pass: exit 0.
pub(crate) fn passes(image: &[u8], arg: u64) -> TestResult {
    let status = run(image, arg)?;
    ensure!(
        status == WaitStatus::Exited(0),
        "exit status {status:?} (the program's line above says why)"
    );
    Ok(())
}

/// Waits (a tick at a time, at most 10 s) until process `pid` has `n` LWPs.
fn wait_lwps(pid: Pid, n: u32) -> TestResult {
    wait_for(&format!("{pid} to have {n} LWPs"), 10, || {
        proc::prfind(pid).map_or(0, |p| p.lwpcnt()) >= n
    })
}

/// Runs `test` while a sibling process lives — `isolation` as process A, with four
/// LWPs asleep — and then checks the sibling was untouched: still active, and it
/// exits 0 on its own (its own check: its memory kept its secret). The sibling is
/// reaped whatever `test` says.
fn beside_sibling(test: impl FnOnce() -> TestResult) -> TestResult {
    let sibling = start(ISOLATION, 1)?;
    let result = wait_lwps(sibling, 4).and_then(|()| test()).and_then(|()| {
        let stat = proc::prfind(sibling).map(|p| p.stat());
        ensure!(stat == Some(PStat::Active), "the sibling {sibling} is {stat:?}");
        Ok(())
    });
    let sibling_status = reap(sibling);
    result?;
    ensure_eq!(sibling_status?, WaitStatus::Exited(0));
    Ok(())
}

/// Runs program `image` beside a sibling: the program must be killed by signal `sig`.
fn killed_by(image: &'static [u8], arg: u64, sig: u64) -> TestResult {
    beside_sibling(|| {
        let status = run(image, arg)?;
        ensure!(
            status == WaitStatus::Killed(sig as u8),
            "{arg}: status {status:?}, expected killed by signal {sig}"
        );
        Ok(())
    })
}

/// A program runs in user mode, makes system calls and exits 0; the pid it sees
/// is the one its parent got (pids are given in turn: the next is one more).
fn user_hello() -> TestResult {
    let pid = start(HELLO, 0)?;
    ensure_eq!(reap(pid)?, WaitStatus::Exited(0));
    let next = Pid(pid.0 + 1);
    let again = start(HELLO, u64::from(next.0))?;
    let status = reap(again)?;
    ensure_eq!(again, next);
    ensure_eq!(status, WaitStatus::Exited(0));
    Ok(())
}

/// Images the loader must refuse: `spawn` fails with ENOEXEC and no process is
/// left (every pid given out between two good spawns names nothing). The loader's
/// every rule is unit-tested on the host (`kern::exec`); these are real programs
/// broken as a bad file would be.
fn user_malformed_elf() -> TestResult {
    let patched = |at: usize, bytes: &[u8]| {
        let mut b: Vec<u8> = HELLO.to_vec();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        b
    };
    // The first program header's p_vaddr: past the end of user space.
    let phoff = u64::from_be_bytes(HELLO[32..40].try_into().map_err(|_| "e_phoff")?) as usize;
    let bad: [(&str, Vec<u8>); 7] = [
        ("empty", Vec::new()),
        ("truncated header", HELLO[..40].to_vec()),
        ("truncated segment", HELLO[..HELLO.len() / 2].to_vec()),
        ("garbage", (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()),
        ("x86-64 machine", patched(18, &62u16.to_be_bytes())),
        ("little-endian", patched(5, &[1])),
        ("segment beyond user space", patched(phoff + 16, &(1u64 << 43).to_be_bytes())),
    ];
    let before = start(HELLO, 0)?;
    ensure_eq!(reap(before)?, WaitStatus::Exited(0));
    for (what, image) in &bad {
        let r = exec::spawn(image, 0);
        ensure!(r == Err(Errno::ENOEXEC), "{what}: spawn = {r:?}");
    }
    let after = start(HELLO, 0)?;
    ensure_eq!(reap(after)?, WaitStatus::Exited(0));
    for pid in (before.0 + 1..after.0).map(Pid) {
        ensure!(proc::prfind(pid).is_none(), "a refused image left {pid}");
    }
    Ok(())
}

/// Five LWPs of one process that never yield all run, interleaved by the clock,
/// sharing the process's memory (S3, S17).
fn user_lwps_interleave() -> TestResult {
    passes(LWPS, 0)
}

/// LWPs created suspended, suspended and continued while running, detached (S3).
fn user_lwp_suspend_continue() -> TestResult {
    passes(SUSPEND, 0)
}

/// `_lwp_wait` for any, by id, for itself (EDEADLK), for nobody (ESRCH) (S3).
fn user_lwp_wait() -> TestResult {
    passes(WAIT, 0)
}

// S13: each fault kills its process with its signal, and nothing else.

fn user_fault_unmapped_load() -> TestResult {
    killed_by(FAULT, 1, SIGSEGV)
}

fn user_fault_text_store() -> TestResult {
    killed_by(FAULT, 2, SIGSEGV)
}

fn user_fault_misaligned_load() -> TestResult {
    killed_by(FAULT, 3, SIGBUS)
}

fn user_fault_illegal_instruction() -> TestResult {
    killed_by(FAULT, 4, SIGILL)
}

fn user_fault_privileged_instruction() -> TestResult {
    killed_by(FAULT, 5, SIGILL)
}

fn user_fault_division_by_zero() -> TestResult {
    killed_by(FAULT, 6, SIGFPE)
}

/// A system call number that is none: SIGSYS (S13).
fn user_bad_syscall() -> TestResult {
    killed_by(FAULT, 7, SIGSYS)
}

fn user_fault_data_exec() -> TestResult {
    killed_by(FAULT, 8, SIGSEGV)
}

fn user_fault_kernel_read() -> TestResult {
    killed_by(FAULT, 9, SIGSEGV)
}

/// The fault of a second LWP ends the process, main asleep in `lwp_wait` too.
fn user_fault_in_second_lwp() -> TestResult {
    killed_by(FAULT, 10, SIGSEGV)
}

// Solaris' software traps (`<sys/trap.h>`) that are no system calls.

/// `ta 1` (`ST_BREAKPOINT`) is a breakpoint: SIGTRAP at the LWP (S13).
fn user_soft_trap_breakpoint() -> TestResult {
    killed_by(FAULT, 11, SIGTRAP)
}

/// `ta 2` (`ST_DIV0`), what compiled code does for a division by zero: SIGFPE.
fn user_soft_trap_div0() -> TestResult {
    killed_by(FAULT, 12, SIGFPE)
}

/// A software trap nobody serves is an illegal trap: SIGILL, as before.
fn user_soft_trap_unserved() -> TestResult {
    killed_by(FAULT, 13, SIGILL)
}

/// The fast traps `ta 0x24`/`ta 0x25` (gethrtime, gethrvtime) answer without a
/// system call, with the clock and with the LWP's time on a CPU; `ta 3` puts the
/// caller's windows on the stack (see the `traps` program).
fn user_fast_traps_and_flush_windows() -> TestResult {
    passes(TRAPS, 0)
}

/// Each LWP has an FPU of its own, enabled by its first FP instruction: fresh
/// registers, kept across switches, preemption and signal handlers, carried in
/// contexts; an FP exception it enabled is SIGFPE at that LWP (S5, S13, S17; see
/// the `fpu` program). Under `swap=force`, across swapping too.
fn user_fpu_per_lwp() -> TestResult {
    passes(FPU, 0)
}

/// A user process makes processes (S1): `fork1` copies its memory and only the
/// calling LWP, with its mask, FP registers and the process's dispositions;
/// `waitid` reports exits, kills, stops and continues, `WNOHANG` too, and every
/// bad argument gets its error (see the `fork` program).
fn user_fork1_and_waitid() -> TestResult {
    passes(FORK, 0)
}

/// `exec` replaces a process's image with a program the kernel carries: the other
/// LWPs exit, caught signals go back to the default, mask and pending signals stay,
/// the memory and FP registers are the new image's; a failing `exec` (no such
/// program, a malformed one, bad arguments) leaves the caller as it was (S1; see
/// the `exec` program).
fn user_exec() -> TestResult {
    passes(EXEC, 0)
}

/// A user program forks, execs and waits for other test programs in turn (S1), as
/// Solaris' `init` runs its rc scripts: each ends as it must, seen through
/// `waitid` (exit 0; SIGPIPE for the one that writes into a pipe without readers).
fn user_rc_runs_the_programs() -> TestResult {
    passes(RC, 0)
}

/// Every pointer argument of every system call refuses bad addresses with EFAULT,
/// and the process goes on (S16).
fn user_bad_pointers() -> TestResult {
    passes(BADPTR, 0)
}

/// Two processes of one program: each has its own memory at the same addresses,
/// and one's LWP ids mean nothing to the other (S1, S15). B starts once A has its
/// LWPs 2, 3 and 4.
fn user_isolation() -> TestResult {
    beside_sibling(|| passes(ISOLATION, 2))
}

/// An LWP whose stack pointer is unusable dies with SIGSEGV when its windows must
/// spill — by recursion, or on a system call that switches away — and the kernel
/// goes on (S13, S17).
fn user_bad_stack() -> TestResult {
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
fn user_bad_stack_first_entry() -> TestResult {
    killed_by(STACK, 3, SIGSEGV)
}

/// A misaligned stack pointer on mapped memory when the LWP yields: the spill at
/// the switch and the fill at the return cannot use it.
fn user_bad_stack_misaligned_at_switch() -> TestResult {
    killed_by(STACK, 4, SIGBUS)
}

/// A stack pointer without the V9 stack bias (even) on mapped memory: its frame
/// address is odd, misaligned for every doubleword of the window.
fn user_bad_stack_unbiased_at_switch() -> TestResult {
    killed_by(STACK, 5, SIGBUS)
}

/// A misaligned stack pointer in an LWP that never enters the kernel itself: an
/// interrupt preempts it (its sibling waking from a sleep), and its windows are
/// saved and restored around the switch.
fn user_bad_stack_misaligned_preempted() -> TestResult {
    killed_by(STACK, 6, SIGBUS)
}

/// A stack pointer into the kernel's own memory, which user mode cannot reach.
fn user_bad_stack_in_kernel_window() -> TestResult {
    killed_by(STACK, 7, SIGSEGV)
}

/// A stack that a sibling LWP unmaps while the LWP is switched away in a fast
/// system call (`yield`): its window went there, and the return cannot fill it.
fn user_bad_stack_unmapped_while_switched() -> TestResult {
    killed_by(STACK, 8, SIGSEGV)
}

/// CPU times are charged per LWP, user and system, and summed in the process,
/// exited LWPs included (S5.6).
fn user_times() -> TestResult {
    passes(TIMES, 0)
}

// The `signals` program (see there for what each check does).

/// S10: a handler one LWP installed runs in another.
fn user_sig_handler_in_other_lwp() -> TestResult {
    passes(SIGNALS, 1)
}

/// S11, S14: 1000 process signals, one LWP masking them and one not.
fn user_sig_masks_choose_the_lwp() -> TestResult {
    passes(SIGNALS, 2)
}

/// S12: each LWP's handler on its own alternate stack.
fn user_sig_altstacks_per_lwp() -> TestResult {
    passes(SIGNALS, 3)
}

/// S13: every trap signal handled in the LWP that caused it, and it goes on.
fn user_sig_traps_in_their_lwp() -> TestResult {
    passes(SIGNALS, 4)
}

/// S13: a trap signal its LWP masks, or the process ignores, still ends it.
fn user_sig_masked_or_ignored_trap_kills() -> TestResult {
    killed_by(SIGNALS, 5, SIGSEGV)?;
    killed_by(SIGNALS, 6, SIGILL)
}

/// S14, S5.5: SIGINT, SIGTERM, SIGALRM go to the one LWP that does not mask them;
/// the LWP's own timers signal it.
fn user_sig_process_signals_and_timers() -> TestResult {
    passes(SIGNALS, 7)
}

/// EINTR, and `SA_RESTART`.
fn user_sig_eintr_and_restart() -> TestResult {
    passes(SIGNALS, 8)
}

/// `sigsuspend` waits with a mask of its own; `sigtimedwait` accepts a masked
/// signal, and times out.
fn user_sig_sigsuspend_sigtimedwait() -> TestResult {
    passes(SIGNALS, 9)
}

/// S16: every bad argument of the signal calls.
fn user_sig_bad_arguments() -> TestResult {
    passes(SIGNALS, 10)
}

/// A signal frame that cannot be written ends the process with SIGSEGV; the
/// kernel and a sibling go on.
fn user_sig_bad_frame_is_sigsegv() -> TestResult {
    killed_by(SIGNALS, 11, SIGSEGV)
}

/// S5.1: every register and window of interrupted code back after its handler.
fn user_sig_registers_restored() -> TestResult {
    passes(SIGNALS, 12)
}

/// S15: a signal from another process names that process, nothing of its LWPs;
/// that process's `_lwp_kill` cannot reach this one's LWPs. The sender starts
/// first and sends to the pid after its own; the target is given the sender's.
fn user_sig_between_processes() -> TestResult {
    let sender = start(SIGNALS, 14 | 1 << 8)?;
    let target = start(SIGNALS, 13 | u64::from(sender.0) << 8)?;
    let (st, ss) = (reap(target), reap(sender));
    ensure_eq!(target, Pid(sender.0 + 1));
    ensure_eq!(st?, WaitStatus::Exited(0));
    ensure_eq!(ss?, WaitStatus::Exited(0));
    Ok(())
}

/// The user time its LWPs have used, in ticks.
fn utime(pid: Pid) -> u64 {
    proc::prfind(pid).map_or(0, |p| p.times().0)
}

fn sig_to(pid: Pid, sig: u64) -> TestResult {
    signal::kill(u64::from(pid.0), sig).map_err(|e| format!("kill({pid}, {sig}): {e}"))
}

/// Whether every LWP of `pid` is stopped.
fn all_stopped(pid: Pid) -> bool {
    proc::prfind(pid).is_some_and(|p| {
        p.lwp_ids()
            .iter()
            .all(|&id| kern::lwp::idtot(p, id).is_none_or(|t| t.state() == ThreadState::Stopped))
    })
}

/// S14, job control: SIGSTOP stops every LWP of a user process — two spinning in
/// user mode, one sleeping, one in `_lwp_wait` — and their time stands still; its
/// parent's wait sees it stopped. SIGCONT sets them going (their time moves), and
/// the wait sees that. A stopped process dies of SIGKILL; one going again, of
/// SIGTERM's default action.
fn user_sig_stop_and_continue() -> TestResult {
    for end in [SIGTERM, SIGKILL] {
        let pid = start(SIGNALS, 15)?;
        let result = stop_and_continue(pid, end);
        if result.is_err() {
            let _ = sig_to(pid, SIGKILL);
        }
        let status = reap(pid);
        result?;
        ensure_eq!(status?, WaitStatus::Killed(end as u8));
    }
    Ok(())
}

fn stop_and_continue(pid: Pid, end: u64) -> TestResult {
    wait_lwps(pid, 4)?;
    let t0 = utime(pid);
    wait_for("the LWPs to spin", 10, || utime(pid) > t0 + 2)?;
    sig_to(pid, SIGSTOP)?;
    let stopped = WaitStatus::Stopped(SIGSTOP as u8).raw();
    ensure_eq!(proc::life::proc_waitid(Some(pid), WaitOpts::STOPPED), Ok((pid, stopped)));
    ensure!(all_stopped(pid), "the wait saw it stopped, an LWP was not");
    let frozen = utime(pid);
    kern::sleepq::delay(10);
    ensure_eq!(utime(pid), frozen);
    if end == SIGKILL {
        return sig_to(pid, SIGKILL);
    }
    sig_to(pid, SIGCONT)?;
    let cont = WaitOpts::CONTINUED | WaitOpts::STOPPED;
    ensure_eq!(proc::life::proc_waitid(Some(pid), cont), Ok((pid, WaitStatus::Continued.raw())));
    wait_for("the LWPs to spin again", 10, || utime(pid) > frozen + 2)?;
    sig_to(pid, end)
}

/// S14: SIGKILL ends a process whose LWPs spin, sleep, wait in `sigsuspend`,
/// `sigtimedwait` and `_lwp_wait`, or are suspended.
fn user_sig_kill_every_state() -> TestResult {
    let pid = start(SIGNALS, 16)?;
    let placed = wait_lwps(pid, 7).and_then(|()| {
        let t0 = utime(pid);
        wait_for("the spinner to spin", 10, || utime(pid) > t0 + 2)
    });
    sig_to(pid, SIGKILL)?;
    let status = reap(pid);
    placed?;
    ensure_eq!(status?, WaitStatus::Killed(SIGKILL as u8));
    Ok(())
}

/// The benchmark program runs each of its benchmarks (a few operations each here;
/// `scripts/bench` runs them in full) and finds what it measured real: the two
/// processes of the process-switch benchmark run together.
fn user_bench_programs() -> TestResult {
    for which in [1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 16] {
        passes(BENCH, which | 100 << 8)?;
    }
    let (a, b) = (start(BENCH, 4)?, start(BENCH, 4)?);
    let (sa, sb) = (reap(a), reap(b));
    ensure_eq!(sa?, WaitStatus::Exited(0));
    ensure_eq!(sb?, WaitStatus::Exited(0));
    Ok(())
}

/// A program that makes SUSPENDED LWPs until the kernel refuses gets `EAGAIN` (at
/// the process's or the system's limit, `kern::rctl`), and exits; a sibling process
/// lives on, and the next program runs (S16). The suite's memory check then finds
/// everything given back.
fn user_lwp_create_until_refused() -> TestResult {
    beside_sibling(|| passes(LIMITS, 1))?;
    passes(HELLO, 0)
}

/// The same with LWPs that exit at once and are never waited for: their zombies
/// fill the process's directory until `EAGAIN`; one wait makes room for one more.
fn user_zombie_lwps_until_refused() -> TestResult {
    beside_sibling(|| passes(LIMITS, 2))?;
    passes(HELLO, 0)
}

/// Four thousand LWPs made, run to their exit and waited for one after another
/// leave the kernel's memory as it was (the suite's check: thread stacks and `lwp`
/// structures back in the heap, not kept by the caches).
fn user_thousands_of_lwps_leave_nothing() -> TestResult {
    let before = kern::kmem::census();
    passes(LIMITS, 3 | 4000 << 8)?;
    kern_selftest::memory_back(&before)
}

/// An LWP asleep in `nanosleep` for `i64::MAX` seconds, woken 2,000 times by
/// `_lwp_continue`: its deadline saturates (a debug kernel once panicked on the
/// overflow) and its one timeout moves instead of piling up (2,000 callouts once
/// stayed armed); the process then exits, and the kernel's callouts, threads and
/// heap are as they were.
fn user_endless_sleep_woken_again_and_again() -> TestResult {
    let before = kern::kmem::census();
    passes(LIMITS, 4 | 2000 << 8)?;
    kern_selftest::memory_back(&before)
}

/// Checks, once, that the swap device holds what an LWP of one of `pids` had: one
/// asleep is swapped out, and its image, read back through the driver, holds the
/// registers it had (its pc, npc, stack pointer, and what it keeps in `%g2`..`%g4`
/// across its sleeps). `Ok(false)`: none was in memory and asleep long enough to
/// tell (it ran in between); try again.
fn image_holds_registers(pids: &[Pid]) -> Result<bool, String> {
    for &pid in pids {
        let Some(p) = proc::prfind(pid) else { continue };
        for id in p.lwp_ids() {
            let (Some(t), Some(l)) = (lwp::idtot(p, id), lwp::idtolwp(p, id)) else { continue };
            let switched = t.nswitch();
            let Some(regs) = l.with_data(|d| d.lwp_regs.load()) else { continue };
            if swap::swapout(p, id).is_err() {
                continue;
            }
            let image = swap::read_image(p, id).map_err(|e| format!("read_image: {e}"))?;
            if t.nswitch() != switched {
                // It ran between the look and the swap-out.
                continue;
            }
            ensure!(image.starts_with(b"LWPSWAP1"), "no image on the disk");
            let words = [reg::PC, reg::NPC, reg::O6, reg::G1 + 1, reg::G1 + 2, reg::G1 + 3];
            for i in words.into_iter().filter(|&i| regs.r[i] != 0) {
                let w = regs.r[i].to_be_bytes();
                ensure!(
                    image.windows(8).any(|x| x == w),
                    "the image of {id} of {pid} lacks register {i} ({:#x})",
                    regs.r[i]
                );
            }
            return Ok(true);
        }
    }
    Ok(false)
}

/// LWPs of three processes, sleeping and spinning (`swapee`), while everything
/// swappable is swapped out again and again (S5): the programs find every register
/// a system call keeps, their count of system calls and their CPU times as they
/// left them, and finish with correct results; memory in use drops as LWPs go out;
/// the swap device holds their registers (an image read back through the driver);
/// every structure that went out came back in.
fn user_swap_everything_repeatedly() -> TestResult {
    if !swap::has_device() {
        skip!("no swap device");
    }
    let old = swap::set_mode(swap::Mode::Off);
    let r = swap_everything();
    swap::set_mode(old);
    r
}

fn swap_everything() -> TestResult {
    let st0 = swap::stats();
    let pids = (0..3).map(|k| start(SWAPEE, k)).collect::<Result<Vec<_>, _>>()?;
    let alive =
        || pids.iter().any(|&pid| proc::prfind(pid).is_some_and(|p| p.stat() != PStat::Zombie));
    let (mut drops, mut image_checked, mut passes) = (0, false, 0);
    let deadline = kern::M::now_ns() + 60_000_000_000;
    while alive() && kern::M::now_ns() < deadline {
        // First, while LWPs woken since the last pass are in: one out, and its image.
        if !image_checked {
            image_checked = image_holds_registers(&pids)?;
        }
        let used = kern::M::heap_stats().used;
        let n = kern_selftest::swapout_procs(&pids);
        let freed = used.saturating_sub(kern::M::heap_stats().used);
        if n > 0 && freed >= n * core::mem::size_of::<lwp::LwpData>() {
            drops += 1;
        }
        passes += 1;
        sleepq::delay(1);
    }
    for &pid in &pids {
        ensure_eq!(reap(pid)?, WaitStatus::Exited(0));
    }
    let st1 = swap::stats();
    let (outs, ins) = (st1.swapouts - st0.swapouts, st1.swapins - st0.swapins);
    kern::kprintln!(
        "  measured: {passes} passes of swapping everything, {outs} swap-outs, {ins} swap-ins, \
         {drops} with memory in use dropping by at least the structures that went out"
    );
    ensure!(outs >= 3 * 5, "only {outs} swap-outs of 21 LWPs");
    ensure!(drops > 0, "memory in use never dropped as LWPs went out");
    ensure!(image_checked, "no LWP stayed out long enough to read its image back");
    ensure_eq!(ins, outs);
    ensure_eq!((st1.lwps_out, st1.slots_used), (st0.lwps_out, st0.slots_used));
    Ok(())
}

/// `_lwp_park`/`_lwp_unpark` (S3, S8): an early unpark is kept, a timed park times
/// out, bad arguments are refused, two LWPs hand a turn back and forth through
/// them (also with the combined `park(unpark)`), and a stop ends no park.
fn user_park_unpark() -> TestResult {
    passes(PARK, 0)
}

/// Starting a program (`exec::spawn`: the address space, its tables and pages, the
/// process, its first LWP) with each of its allocations refused in turn: every
/// refusal fails the start with ENOMEM/EAGAIN and leaves nothing behind (S16).
fn user_spawn_survives_each_allocation_failure() -> TestResult {
    let n = kern_selftest::each_allocation_fails(
        "exec::spawn",
        || exec::spawn(HELLO, 0),
        |pid| {
            ensure_eq!(reap(pid)?, WaitStatus::Exited(0));
            Ok(())
        },
    )?;
    ensure!(n >= 10, "starting a program took only {n} allocations");
    Ok(())
}

/// S1: credentials from user mode — a process the kernel starts is root; what
/// root and others may set, what needs root (the `creds` program, mode 0).
fn user_creds_rules() -> TestResult {
    passes(CREDS, 0)
}

/// The `creds` program's argument: a mode and two 24-bit values.
fn creds_arg(mode: u64, a: u64, b: u64) -> u64 {
    mode | a << 8 | b << 32
}

/// A process the kernel starts for a user runs with that user's ids; a process
/// made by another inherits its creator's (here a process of the kernel's, which
/// became uid 100, gid 7, starts the program: `cred::crdup`).
fn user_creds_given_and_inherited() -> TestResult {
    let as_user = Some(Cred::user(100, 7));
    let pid = exec::spawn_as(CREDS, creds_arg(1, 100, 7), as_user).map_err(|e| format!("{e}"))?;
    ensure_eq!(reap(pid)?, WaitStatus::Exited(0));
    let creator = proc::life::proc_create(creator_as_uid_100, 0).map_err(|e| format!("{e}"))?;
    ensure_eq!(reap(creator)?, WaitStatus::Exited(0));
    Ok(())
}

/// The kernel process of `user_creds_given_and_inherited`: becomes uid 100 and
/// gid 7 (it is root, as its creator), starts `creds` and exits with its code
/// (99: it could not).
fn creator_as_uid_100(_: usize) {
    let started = cred::setgid(7)
        .and_then(|()| cred::setuid(100))
        .and_then(|()| exec::spawn(CREDS, creds_arg(1, 100, 7)));
    let code = match started.map(reap) {
        Ok(Ok(WaitStatus::Exited(code))) => code,
        _ => 99,
    };
    proc::life::proc_exit(code)
}

/// S1: signals between users' processes (POSIX's rule): uid 100 may not signal
/// root's process (`EPERM`, signal 0 too) but may signal another of uid 100's;
/// root may signal anyone.
fn user_creds_kill_between_users() -> TestResult {
    let user = Some(Cred::user(100, 100));
    let spawn_as = |arg, cred| exec::spawn_as(CREDS, arg, cred).map_err(|e| format!("{e}"));
    let roots = spawn_as(creds_arg(4, 0, 0), None)?;
    let users = spawn_as(creds_arg(4, 0, 0), user);
    let sender = users
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|&u| spawn_as(creds_arg(2, u64::from(roots.0), u64::from(u.0)), user));
    let result = (|| {
        ensure_eq!(reap(sender?)?, WaitStatus::Exited(0));
        ensure_eq!(reap(users.clone()?)?, WaitStatus::Killed(SIGTERM as u8));
        let stat = proc::prfind(roots).map(|p| p.stat());
        ensure!(stat == Some(PStat::Active), "root's process is {stat:?} after the refused kill");
        let root_sender = spawn_as(creds_arg(3, u64::from(roots.0), 0), None)?;
        ensure_eq!(reap(root_sender)?, WaitStatus::Exited(0));
        ensure_eq!(reap(roots)?, WaitStatus::Killed(SIGTERM as u8));
        Ok(())
    })();
    if result.is_err() {
        for pid in [Ok(roots), users].into_iter().flatten() {
            let _ = sig_to(pid, SIGKILL);
            let _ = reap(pid);
        }
    }
    result
}

/// S1: descriptors and pipes between the LWPs of one process (the `pipes`
/// program); what it leaves open at its exit, an LWP asleep in a read included,
/// goes with it (the suite's memory check).
fn user_pipes() -> TestResult {
    passes(PIPES, 0)
}

/// An LWP asleep in a pipe's `read` when its process ends — by an exit, or by
/// SIGKILL — gives the pipe back: its wait ends and its call unwinds before it
/// exits (an exit deep in the call kept the pipe, ten kilobytes a time). After a
/// first round (the caches then hold what they keep), eight more ends leave the
/// kernel's memory where it was, as the suites' check measures it.
fn user_pipes_reader_exit_frees_the_pipe() -> TestResult {
    let round = || -> TestResult {
        ensure_eq!(run(PIPES, 3)?, WaitStatus::Exited(0));
        ensure_eq!(run(PIPES, 4)?, WaitStatus::Killed(SIGKILL as u8));
        Ok(())
    };
    kern_selftest::rounds_leave_memory_back(4, round)
        .map_err(|e| alloc::format!("eight ends of a sleeping reader's process: {e}"))
}

/// A write to a pipe without readers, under SIGPIPE's default action, ends the
/// process with SIGPIPE.
fn user_pipes_sigpipe_kills() -> TestResult {
    ensure_eq!(run(PIPES, 1)?, WaitStatus::Killed(SIGPIPE as u8));
    Ok(())
}

/// S3: LWPs of one process in different classes (an RT LWP runs at once, ahead
/// of its TS sibling), `priocntl`'s errors, and the TS table read and replaced
/// (the `prio` program; "at once" is exact on one CPU).
fn user_priocntl() -> TestResult {
    passes(PRIO, u64::from(kern::M::ncpus() == 1))
}

/// Anonymous memory (the `mmap` program, mode 0): mapped zero-filled, touched,
/// protected (a write to a read-only page is SIGSEGV `SEGV_ACCERR` at the LWP that
/// made it, and the TLB entries of the old rights are gone), unmapped (a read after
/// it is `SEGV_MAPERR`: the page's TLB entry went with it), mapped fixed; every bad
/// argument's errno; the page pool back where it was.
fn user_mmap_anon() -> TestResult {
    let free = kern::M::page_stats().free;
    passes(MMAP, 0)?;
    ensure_eq!(kern::M::page_stats().free, free);
    Ok(())
}

/// Memory exhausted from user mode (mode 1): `ENOMEM`, never a panic; `fork1` and
/// a fixed mapping refused, an LWP still made; every page back after `munmap`, and
/// after the process.
fn user_mmap_exhausts_memory() -> TestResult {
    let free = kern::M::page_stats().free;
    passes(MMAP, 1)?;
    ensure_eq!(kern::M::page_stats().free, free);
    passes(HELLO, 0)
}

/// The main stack grows on demand (mode 2): 20,000 frames of 256 bytes, up to
/// its limit and not past it (SIGSEGV `SEGV_MAPERR` in the guard page below); a
/// child's pages, stack and mappings, all back in the pool once it exits.
fn user_stack_grows() -> TestResult {
    let free = kern::M::page_stats().free;
    passes(MMAP, 2)?;
    ensure_eq!(kern::M::page_stats().free, free);
    Ok(())
}

/// S5.4: each LWP's counts where they happen (`rusage`, mode 0): a sleeper's
/// voluntary switches and its exact count of system calls, spinners' and
/// yielders' involuntary switches, signals taken, bytes through a pipe; the
/// process's usage at least its LWPs' sum; `rusagesys`'s bad arguments (`EINVAL`,
/// `EFAULT`). On one CPU, where the spinners must share it.
fn user_rusage_lwp_counts() -> TestResult {
    if kern::M::ncpus() > 1 {
        skip!("the spinners' switches are counted on one CPU");
    }
    passes(RUSAGE, 0)
}

/// S5.4: a reaped child's usage, with its reaped grandchild's, is its parent's
/// children's usage (`RUSAGE_CHILDREN`), and not the parent's own.
fn user_rusage_children() -> TestResult {
    passes(RUSAGE, 1)
}

/// S5, S5.4: an LWP swapped out at every tick while it sleeps: each swap-out is
/// counted (a block written), each swap-in a fault that needed I/O (a block
/// read), and every other count of its is exact still.
fn user_rusage_survives_swapping() -> TestResult {
    if !swap::has_device() {
        skip!("no swap device");
    }
    let old = swap::set_mode(swap::Mode::Off);
    let r = (|| {
        let st0 = swap::stats();
        let pid = start(RUSAGE, 5)?;
        let deadline = kern::M::now_ns() + 60_000_000_000;
        while proc::prfind(pid).is_some_and(|p| p.stat() != PStat::Zombie)
            && kern::M::now_ns() < deadline
        {
            kern_selftest::swapout_procs(&[pid]);
            sleepq::delay(1);
        }
        ensure_eq!(reap(pid)?, WaitStatus::Exited(0));
        let outs = swap::stats().swapouts - st0.swapouts;
        ensure!(outs > 0, "nothing was swapped out");
        Ok(())
    })();
    swap::set_mode(old);
    r
}

/// S5.4: `profil` over the whole text of a program that spends its time in one
/// function: the histogram peaks inside it (the clock's ticks counted at the
/// user `pc` on the LWP's way back to user mode); profiling off, it stands still.
fn user_profil_histogram() -> TestResult {
    passes(RUSAGE, 2)
}

/// S5.4, S16: a profiling buffer that cannot be written (unmapped; the program's
/// read-only text) is accepted by `profil`, and the first tick counted into it
/// ends the profiling (the process's buffer says scale 0), nothing worse: the
/// program spins on and exits 0.
fn user_profil_bad_buffer_stops() -> TestResult {
    for arg in [3, 4] {
        let pid = start(RUSAGE, arg)?;
        let gone = || proc::prfind(pid).is_none_or(|p| p.stat() == PStat::Zombie);
        let waited = wait_for("the program to exit", 30, gone);
        let prof = proc::prfind(pid).map(kern::rusage::profiling);
        ensure_eq!(reap(pid)?, WaitStatus::Exited(0));
        waited?;
        let prof = prof.ok_or("no zombie")?;
        ensure!(
            prof.pr_size == 4096 && prof.pr_base != 0 && prof.pr_scale == 0,
            "mode {arg}: profiling is {prof:?}"
        );
    }
    Ok(())
}
