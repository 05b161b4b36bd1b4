//! The fuzzer (`sim_tests::fuzz`) where memory runs out before the limits do: a 2
//! MiB simulated heap with the LWP, thread and process limits raised far past what
//! it holds, so that storms and every other creation meet `ENOMEM` as well as
//! `EAGAIN`, on 4 and 8 CPUs of the seeded schedule (`seeded/mod.rs`); a failure
//! replays from its seed, e.g.
//! `SIM_SEED=3 SIM_NCPUS=8 cargo test -p sim-tests --test fuzz_low_memory -- --nocapture`.
//!
//! (Below about 1.5 MiB every process is starved at once: every LWP of a run can
//! end up waiting for another to exit while none can be made: the run's own
//! deadlock, not the kernel's.)

mod seeded;

use std::time::Duration;

use kern_selftest::Suite;
use seeded::Sweep;

static SWEEP: Sweep = Sweep {
    binary: "fuzz_low_memory",
    suites: &SUITES,
    seeds: 6,
    ncpus: &[4, 8],
    boot_args: |seed| {
        format!(
            "hz=1000 max_threads=100000 max_lwps=100000 lwps_per_proc=100000 max_procs=1000 \
             fuzz={seed},10000"
        )
    },
    heap_bytes: 2 << 20,
    virtual_timeout: Duration::from_secs(300),
    timeout: Duration::from_secs(100),
    machine: |config| config,
};

static SUITES: [Suite; 1] = [("fuzz", sim_tests::fuzz::FUZZ)];

/// 6 seeds on each of 4 and 8 CPUs (or what `SIM_SEED`/`SIM_NCPUS` say).
#[test]
fn fuzz_without_memory_over_seeds() {
    seeded::sweep(&SWEEP);
}

/// Not a test of its own: the boot that the test above runs in child processes
/// (with `--ignored`).
#[test]
#[ignore = "the seeded boot of a child process: run by the test above"]
fn seeded_child() {
    SWEEP.child();
}
