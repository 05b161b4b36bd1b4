//! The user-program tests (`user_sim`) on the seeded schedule, where user code is
//! interleaved at its machine calls (system calls, loads and stores): all of them on
//! 4 CPUs of one seed, and the LWP synchronization programs (`user_sim::sync`:
//! park/unpark, schedctl, LWP mutexes) over many seeds on 2, 4 and 8 CPUs, each boot
//! in a child process (`seeded/mod.rs`) — a lost wakeup is a boot that hangs, with
//! its seed.
//!
//! A failure prints its seed and the command that replays it, e.g.
//! `SIM_SEED=17 SIM_NCPUS=4 cargo test -p sim-tests --test user_seeded -- --nocapture`.

// Shared with the other seeded sweeps: `run_all` is theirs.
#[allow(dead_code)]
mod seeded;
mod user_sim;

use std::time::Duration;

use arch::sim::{Schedule, SimConfig};
use kern_selftest::Suite;
use seeded::Sweep;

/// The LWP synchronization programs, 50 seeds on 2, 4 and 8 CPUs.
static SWEEP: Sweep = Sweep {
    binary: "user_seeded",
    suites: &SUITES,
    seeds: 50,
    ncpus: &[2, 4, 8],
    boot_args: |_| "hz=1000".to_string(),
    heap_bytes: arch::sim::DEFAULT_HEAP,
    // The programs need a few seconds of virtual time; their waits give up after at
    // most 60 s each.
    virtual_timeout: Duration::from_secs(200),
    timeout: Duration::from_secs(60),
    machine: |config| config,
};

static SUITES: [Suite; 1] = [("usync", user_sim::sync::SYNC)];

#[test]
fn user_programs_on_4_seeded_cpus() {
    user_sim::boot_and_check(SimConfig {
        schedule: Schedule::Seeded(5),
        virtual_timeout: Some(Duration::from_secs(200)),
        ..SimConfig::new(4)
    });
}

/// 50 seeds on each of 2, 4 and 8 CPUs (or what `SIM_SEED`/`SIM_NCPUS` say): every
/// LWP synchronization program passes on every one.
#[test]
fn lwp_sync_over_seeds() {
    seeded::sweep(&SWEEP);
}

/// Not a test of its own: the boot that `lwp_sync_over_seeds` runs in child processes
/// (with `--ignored`).
#[test]
#[ignore = "the seeded boot of a child process: run by lwp_sync_over_seeds"]
fn seeded_child() {
    SWEEP.child();
}
