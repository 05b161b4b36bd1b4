//! The fuzzer (`sim_tests::fuzz`) on 4 simulated CPUs with a swap disk and the
//! swapper swapping out every swappable LWP at every pass (`swap=force`): 20,000
//! hostile system calls from seed 500 while the fuzzing processes' LWPs go out to
//! the disk and come back in between their calls — asleep, stopped, suspended,
//! continued, killed (S5, S16). Every answer and every exit status must be what it
//! is without swapping, the kernel's memory must be back, and nothing may be lost.

use std::time::Duration;

use arch::sim::{DiskConfig, SimConfig};
use kern::swap;
use kern_selftest::{Suite, Test, TestResult};

/// Swapping really happened while the fuzzer ran, and lost nothing.
fn swapped_meanwhile() -> TestResult {
    let s = swap::stats();
    kern::kprintln!(
        "  measured: {} swap-outs, {} swap-ins, {} given up",
        s.swapouts,
        s.swapins,
        s.cancelled
    );
    if s.swapouts < 100 || s.swapins < 50 {
        return Err(format!("only {} swap-outs and {} swap-ins", s.swapouts, s.swapins));
    }
    if s.lost != 0 || s.write_errors != 0 || s.read_errors != 0 {
        return Err(format!("{s:?} on a sound disk"));
    }
    Ok(())
}

static SWAPPED: &[Test] = &[Test::new("fuzz_swapped_meanwhile", swapped_meanwhile)];
static SUITES: [Suite; 2] = [("fuzz", sim_tests::fuzz::FUZZ), ("swap", SWAPPED)];

#[test]
fn fuzz_with_everything_swapped_out_again_and_again() {
    let config = SimConfig {
        boot_args: "hz=1000 swap=force fuzz=500,20000",
        disk: Some(DiskConfig::new(sim_tests::SWAP_DISK_SECTORS)),
        timeout: Some(Duration::from_secs(600)),
        ..SimConfig::new(4)
    };
    let out = sim_tests::boot_suites(config, &SUITES);
    println!("{}", out.console);
    assert!(!out.timed_out, "the kernel hung");
    assert!(out.console.contains("test fuzz_runs ... ok"), "the fuzzer failed");
    assert!(out.console.contains("kernel verdict: PASS"), "the suites failed");
    assert!(out.success, "the kernel halted with failure");
}
