//! The fuzzing suite under QEMU (issue #9; S1, S3, S13, S15, S16): the `fuzz`
//! program the image carries, started by the ELF loader, runs the fuzzer
//! (`lwp_fuzz`) in processes of its own beside its guard (`kern_selftest::fuzz`
//! checks how each ended, the guard, and the kernel's memory).
//!
//! * `fuzz_slice`: 20,000 calls over seeds 1 to 8, four processes at a time;
//! * `fuzz_run` (explicit): the calls and first seed of the boot argument
//!   `fuzz=SEED,COUNT` (`scripts/fuzz`).

use alloc::format;
use alloc::string::String;

use kern::exec::{USER_STACK_SIZE, USER_STACK_TOP};
use kern::proc::Pid;
use kern_selftest::fuzz::{self, Programs};
use kern_selftest::{skip, Test, TestResult};

use crate::programs::FUZZ;
use crate::user_tests::start;

pub static FUZZ_TESTS: &[Test] =
    &[Test::new("fuzz_slice", fuzz_slice), Test::explicit("fuzz_run", fuzz_run)];

/// The `fuzz` program in a process of its own.
struct Qemu;

impl Programs for Qemu {
    fn start(&self, arg: u64) -> Result<Pid, String> {
        start(FUZZ, arg)
    }

    /// The lowest word of the first LWP's stack, which no LWP reaches (the program
    /// says the same: `lwp_user::addr::STACK_BOTTOM`).
    fn mailbox(&self) -> u64 {
        USER_STACK_TOP - USER_STACK_SIZE
    }

    fn replay(&self, seed: u32, calls: u32) -> String {
        format!("scripts/fuzz {seed} {calls}")
    }
}

fn fuzz_slice() -> TestResult {
    fuzz::run(&Qemu, 1, 20_000)
}

fn fuzz_run() -> TestResult {
    match fuzz::bootarg() {
        Some((seed, count)) => fuzz::run(&Qemu, seed, count),
        None => skip!("no boot argument fuzz=SEED,COUNT"),
    }
}
