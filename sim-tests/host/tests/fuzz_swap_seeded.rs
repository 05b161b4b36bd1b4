//! The fuzzer (`sim_tests::fuzz`) on the seeded simulation with a swap disk and
//! `swap=force`: for each seed, a boot whose schedule, disk latencies and fuzzer all
//! start from that seed, on 1, 2, 4 and 8 CPUs, each in a child process
//! (`seeded/mod.rs`), while every swappable LWP goes out at every pass of the
//! swapper (S5, S16); a failure replays exactly from its seed, e.g.
//! `SIM_SEED=5 SIM_NCPUS=4 cargo test -p sim-tests --test fuzz_swap_seeded -- --nocapture`.

mod seeded;

use std::time::Duration;

use arch::sim::{DiskConfig, SimConfig};
use kern::swap;
use kern_selftest::{Suite, Test, TestResult};
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
    machine: |config| SimConfig {
        disk: Some(DiskConfig::new(sim_tests::SWAP_DISK_SECTORS)),
        ..config
    },
};

static SUITES: [Suite; 2] = [("fuzz", sim_tests::fuzz::FUZZ), ("swap", SWAPPED)];

/// Swapping really happened while the fuzzer ran, and lost nothing.
fn swapped_meanwhile() -> TestResult {
    let s = swap::stats();
    kern::kprintln!("  measured: {} swap-outs, {} swap-ins", s.swapouts, s.swapins);
    if s.swapouts == 0 || s.swapins == 0 {
        return Err(format!("{} swap-outs and {} swap-ins", s.swapouts, s.swapins));
    }
    if s.lost != 0 || s.write_errors != 0 || s.read_errors != 0 {
        return Err(format!("{s:?} on a sound disk"));
    }
    Ok(())
}

static SWAPPED: &[Test] = &[Test::new("fuzz_swapped_meanwhile", swapped_meanwhile)];

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
