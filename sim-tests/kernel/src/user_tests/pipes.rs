//! Descriptors and pipes from user mode (S1): between the LWPs of one process,
//! SIGPIPE, and a sleeping reader's process ending without keeping the pipe.

use kern::proc::WaitStatus;
use kern_selftest::{ensure_eq, TestResult};
use lwp_abi::{SIGKILL, SIGPIPE};

use super::{passes, run};
use crate::programs::*;

/// S1: descriptors and pipes between the LWPs of one process (the `pipes`
/// program); what it leaves open at its exit, an LWP asleep in a read included,
/// goes with it (the suite's memory check).
pub(super) fn user_pipes() -> TestResult {
    passes(PIPES, 0)
}

/// An LWP asleep in a pipe's `read` when its process ends — by an exit, or by
/// SIGKILL — gives the pipe back: its wait ends and its call unwinds before it
/// exits (an exit deep in the call kept the pipe, ten kilobytes a time). After a
/// first round (the caches then hold what they keep), eight more ends leave the
/// kernel's memory where it was, as the suites' check measures it.
pub(super) fn user_pipes_reader_exit_frees_the_pipe() -> TestResult {
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
pub(super) fn user_pipes_sigpipe_kills() -> TestResult {
    ensure_eq!(run(PIPES, 1)?, WaitStatus::Killed(SIGPIPE as u8));
    Ok(())
}
