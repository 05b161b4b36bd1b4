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
//!
//! One file per subject: [`process`] (programs started, forked, exec'd, beside
//! one another), [`lwps`] (LWPs in user mode, their limits and their scheduling
//! classes), [`faults`] (traps, bad stacks, bad pointers, the FPU), [`signals`]
//! (the `signals` program, job control, SIGKILL), [`swapping`] (user LWPs swapped
//! out again and again), [`creds`], [`pipes`], [`vm`] (anonymous memory, the
//! growing stack) and [`rusage`] (usage and profiling). Here the suite, in the
//! order it runs, and the ways a test runs a program.

mod creds;
mod faults;
mod lwps;
mod pipes;
mod process;
mod rusage;
mod signals;
mod swapping;
mod vm;

use alloc::format;
use alloc::string::String;

use kern::proc::{self, PStat, Pid, WaitStatus};
use kern::{exec, signal};
use kern_selftest::{ensure, ensure_eq, reap, wait_for, Test, TestResult};

use crate::programs::*;

/// The suite, in the order it runs.
pub static USER: &[Test] = &[
    Test::new("user_hello", process::user_hello),
    Test::new("user_malformed_elf", process::user_malformed_elf),
    Test::new("user_lwps_interleave", lwps::user_lwps_interleave),
    Test::new("user_lwp_suspend_continue", lwps::user_lwp_suspend_continue),
    Test::new("user_lwp_wait", lwps::user_lwp_wait),
    Test::new("user_fault_unmapped_load", faults::user_fault_unmapped_load),
    Test::new("user_fault_text_store", faults::user_fault_text_store),
    Test::new("user_fault_misaligned_load", faults::user_fault_misaligned_load),
    Test::new("user_fault_illegal_instruction", faults::user_fault_illegal_instruction),
    Test::new("user_fault_privileged_instruction", faults::user_fault_privileged_instruction),
    Test::new("user_fault_division_by_zero", faults::user_fault_division_by_zero),
    Test::new("user_bad_syscall", faults::user_bad_syscall),
    Test::new("user_fault_data_exec", faults::user_fault_data_exec),
    Test::new("user_fault_kernel_read", faults::user_fault_kernel_read),
    Test::new("user_fault_in_second_lwp", faults::user_fault_in_second_lwp),
    Test::new("user_soft_trap_breakpoint", faults::user_soft_trap_breakpoint),
    Test::new("user_soft_trap_div0", faults::user_soft_trap_div0),
    Test::new("user_soft_trap_unserved", faults::user_soft_trap_unserved),
    Test::new("user_fast_traps_and_flush_windows", faults::user_fast_traps_and_flush_windows),
    Test::new("user_fpu_per_lwp", faults::user_fpu_per_lwp),
    Test::new("user_fork1_and_waitid", process::user_fork1_and_waitid),
    Test::new("user_exec", process::user_exec),
    Test::new("user_rc_runs_the_programs", process::user_rc_runs_the_programs),
    Test::new("user_bad_pointers", faults::user_bad_pointers),
    Test::new("user_isolation", process::user_isolation),
    Test::new("user_bad_stack", faults::user_bad_stack),
    Test::new("user_bad_stack_first_entry", faults::user_bad_stack_first_entry),
    Test::new("user_bad_stack_misaligned_at_switch", faults::user_bad_stack_misaligned_at_switch),
    Test::new("user_bad_stack_unbiased_at_switch", faults::user_bad_stack_unbiased_at_switch),
    Test::new("user_bad_stack_misaligned_preempted", faults::user_bad_stack_misaligned_preempted),
    Test::new("user_bad_stack_in_kernel_window", faults::user_bad_stack_in_kernel_window),
    Test::new(
        "user_bad_stack_unmapped_while_switched",
        faults::user_bad_stack_unmapped_while_switched,
    ),
    Test::new("user_times", lwps::user_times),
    Test::new("user_sig_handler_in_other_lwp", signals::user_sig_handler_in_other_lwp),
    Test::new("user_sig_masks_choose_the_lwp", signals::user_sig_masks_choose_the_lwp),
    Test::new("user_sig_altstacks_per_lwp", signals::user_sig_altstacks_per_lwp),
    Test::new("user_sig_traps_in_their_lwp", signals::user_sig_traps_in_their_lwp),
    Test::new(
        "user_sig_masked_or_ignored_trap_kills",
        signals::user_sig_masked_or_ignored_trap_kills,
    ),
    Test::new("user_sig_process_signals_and_timers", signals::user_sig_process_signals_and_timers),
    Test::new("user_sig_eintr_and_restart", signals::user_sig_eintr_and_restart),
    Test::new("user_sig_sigsuspend_sigtimedwait", signals::user_sig_sigsuspend_sigtimedwait),
    Test::new("user_sig_bad_arguments", signals::user_sig_bad_arguments),
    Test::new("user_sig_bad_frame_is_sigsegv", signals::user_sig_bad_frame_is_sigsegv),
    Test::new("user_sig_registers_restored", signals::user_sig_registers_restored),
    Test::new("user_sig_between_processes", signals::user_sig_between_processes),
    Test::new("user_sig_stop_and_continue", signals::user_sig_stop_and_continue),
    Test::new("user_sig_kill_every_state", signals::user_sig_kill_every_state),
    Test::new("user_lwp_create_until_refused", lwps::user_lwp_create_until_refused),
    Test::new("user_zombie_lwps_until_refused", lwps::user_zombie_lwps_until_refused),
    Test::new("user_thousands_of_lwps_leave_nothing", lwps::user_thousands_of_lwps_leave_nothing),
    Test::new(
        "user_endless_sleep_woken_again_and_again",
        lwps::user_endless_sleep_woken_again_and_again,
    ),
    Test::new(
        "user_spawn_survives_each_allocation_failure",
        process::user_spawn_survives_each_allocation_failure,
    ),
    Test::new("user_bench_programs", process::user_bench_programs),
    Test::new("user_swap_everything_repeatedly", swapping::user_swap_everything_repeatedly),
    Test::new("user_park_unpark", lwps::user_park_unpark),
    Test::new("user_creds_rules", creds::user_creds_rules),
    Test::new("user_creds_given_and_inherited", creds::user_creds_given_and_inherited),
    Test::new("user_creds_kill_between_users", creds::user_creds_kill_between_users),
    Test::new("user_pipes", pipes::user_pipes),
    Test::new("user_pipes_sigpipe_kills", pipes::user_pipes_sigpipe_kills),
    Test::new(
        "user_pipes_reader_exit_frees_the_pipe",
        pipes::user_pipes_reader_exit_frees_the_pipe,
    ),
    Test::new("user_priocntl", creds::user_priocntl),
    Test::new("user_mmap_anon", vm::user_mmap_anon),
    Test::new("user_mmap_exhausts_memory", vm::user_mmap_exhausts_memory),
    Test::new("user_stack_grows", vm::user_stack_grows),
    Test::new("user_rusage_lwp_counts", rusage::user_rusage_lwp_counts),
    Test::new("user_rusage_children", rusage::user_rusage_children),
    Test::new("user_rusage_survives_swapping", rusage::user_rusage_survives_swapping),
    Test::new("user_profil_histogram", rusage::user_profil_histogram),
    Test::new("user_profil_bad_buffer_stops", rusage::user_profil_bad_buffer_stops),
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

/// Sends signal `sig` to process `pid`.
fn sig_to(pid: Pid, sig: u64) -> TestResult {
    signal::kill(u64::from(pid.0), sig).map_err(|e| format!("kill({pid}, {sig}): {e}"))
}
