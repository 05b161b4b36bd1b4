//! Swapping racing with wakeups, suspends, continues and kills
//! (`kern_selftest::SWAP_RACES`) on the seeded simulation, on a disk that fails by
//! chance — reads that fail, reads that come back with a byte changed, writes torn
//! half-way, writes lost — over many seeds on 1, 2, 4 and 8 CPUs, each boot in a
//! child process (see `seeded/mod.rs`): no LWP runs without its own `lwp`
//! structure, none runs a round twice, and a process is killed only for a structure
//! that could not be read back.
//!
//! A failure prints its seed and the command that replays it, e.g.
//! `SIM_SEED=17 SIM_NCPUS=4 cargo test -p sim-tests --test swap_seeds -- --nocapture`.

mod seeded;

use std::time::Duration;

use arch::sim::{DiskConfig, DiskFaults, SimConfig};
use kern_selftest::Suite;
use seeded::Sweep;

/// 250 seeds on 1, 2, 4 and 8 CPUs, each machine with a disk that fails by chance.
static SWEEP: Sweep = Sweep {
    binary: "swap_seeds",
    suites: &SUITES,
    seeds: 250,
    ncpus: &[1, 2, 4, 8],
    boot_args: |_| String::new(),
    heap_bytes: arch::sim::DEFAULT_HEAP,
    virtual_timeout: Duration::from_secs(200),
    timeout: Duration::from_secs(60),
    machine: |config| SimConfig {
        disk: Some(DiskConfig { faults: FAULTS, ..DiskConfig::new(sim_tests::SWAP_DISK_SECTORS) }),
        ..config
    },
};

static SUITES: [Suite; 1] = [("swap", kern_selftest::SWAP_RACES)];

/// Chances out of 1000 per transfer.
const FAULTS: DiskFaults =
    DiskFaults { read_error: 20, read_corrupt: 20, write_torn: 20, write_lost: 5 };

/// 250 seeds on each of 1, 2, 4 and 8 CPUs (or what `SIM_SEED`/`SIM_NCPUS` say).
#[test]
fn swap_races_over_seeds_on_a_failing_disk() {
    seeded::sweep(&SWEEP);
}

/// A seed of this sweep replays byte for byte, disk faults included: the same
/// console and schedule trace in two fresh processes.
#[test]
fn a_seed_replays_exactly_with_its_disk_faults() {
    let run = seeded::boots_twice_alike(3, 4);
    assert!(run.schedule().is_some(), "no schedule line:\n{}", run.output);
}

/// Not a test of its own: the boot that the test above runs in child processes
/// (with `--ignored`).
#[test]
#[ignore = "the seeded boot of a child process: run by the test above"]
fn seeded_child() {
    SWEEP.child();
}
