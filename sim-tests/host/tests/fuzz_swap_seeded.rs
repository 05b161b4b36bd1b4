//! The fuzzer (`sim_tests::fuzz`) on the seeded simulation with a swap disk and
//! `swap=force`: for each seed, a boot whose schedule, disk latencies and fuzzer all
//! start from that seed, on 1, 2, 4 and 8 CPUs, each in a child process
//! (`seeded/mod.rs`), while every swappable LWP goes out at every pass of the
//! swapper (S5, S16); a failure replays exactly from its seed, e.g.
//! `SIM_SEED=5 SIM_NCPUS=4 cargo test -p sim-tests --test fuzz_swap_seeded -- --nocapture`.

mod seeded;

use std::time::Duration;

use kern_selftest::{Suite, Test};
use seeded::Sweep;

static SWEEP: Sweep = Sweep {
    binary: "fuzz_swap_seeded",
    suites: &SUITES,
    seeds: 8,
    ncpus: &[1, 2, 4, 8],
    boot_args: |seed| format!("hz=1000 swap=force fuzz={seed},3000"),
    heap_bytes: arch::sim::DEFAULT_HEAP,
    virtual_timeout: Duration::from_secs(300),
    timeout: Duration::from_secs(100),
    machine: seeded::with_swap_disk,
};

static SUITES: [Suite; 2] = [("fuzz", sim_tests::fuzz::FUZZ), ("swap", SWAPPED)];

static SWAPPED: &[Test] = &[Test::new("fuzz_swapped_meanwhile", seeded::swapped_meanwhile)];

/// 8 seeds on each of 1, 2, 4 and 8 CPUs (or what `SIM_SEED`/`SIM_NCPUS` say).
#[test]
fn fuzz_swapped_over_seeds() {
    seeded::sweep(&SWEEP);
}

/// Not a test of its own: the boot that the test above runs in child processes
/// (with `--ignored`).
#[test]
#[ignore = "the seeded boot of a child process: run by the test above"]
fn seeded_child() {
    SWEEP.child();
}
