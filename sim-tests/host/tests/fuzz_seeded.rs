//! The fuzzer (`sim_tests::fuzz`) on the seeded simulation: for each seed, a boot whose
//! schedule and fuzzer both start from that seed (runs of seeds `seed`, `seed + 1`)
//! on 1, 2, 4 and 8 CPUs, each in a child process (`seeded/mod.rs`), so that a failure
//! replays exactly from its seed, e.g.
//! `SIM_SEED=17 SIM_NCPUS=4 cargo test -p sim-tests --test fuzz_seeded -- --nocapture`.

mod seeded;

use std::time::Duration;

use kern_selftest::Suite;
use seeded::Sweep;

static SWEEP: Sweep = Sweep {
    binary: "fuzz_seeded",
    suites: &SUITES,
    seeds: 12,
    ncpus: &[1, 2, 4, 8],
    boot_args: |seed| format!("hz=1000 fuzz={seed},3000"),
    heap_bytes: arch::sim::DEFAULT_HEAP,
    virtual_timeout: Duration::from_secs(300),
    timeout: Duration::from_secs(100),
    machine: |config| config,
};

static SUITES: [Suite; 1] = [("fuzz", sim_tests::fuzz::FUZZ)];

/// 12 seeds on each of 1, 2, 4 and 8 CPUs (or what `SIM_SEED`/`SIM_NCPUS` say).
#[test]
fn fuzz_over_seeds() {
    seeded::sweep(&SWEEP);
}

/// A seed's boot, run twice in two fresh processes, writes the same console byte
/// for byte: the fuzzer's calls, their answers, every status and the schedule's
/// trace. A failure found by a seed is that seed's to replay.
#[test]
fn a_fuzzing_seed_replays_exactly() {
    seeded::boots_twice_alike(3, 4);
}

/// Not a test of its own: the boot that the test above runs in child processes
/// (with `--ignored`).
#[test]
#[ignore = "the seeded boot of a child process: run by the test above"]
fn seeded_child() {
    SWEEP.child();
}
