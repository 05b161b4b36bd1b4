//! The user programs' suites (`user_sim`: the user-mode tests and the signal tests)
//! on the seeded simulation: many seeds on 1, 2, 4 and 8 CPUs, each boot in a child
//! process (`seeded/mod.rs`). Which LWP takes a signal, and that each is taken once,
//! must hold whatever the interleaving (S11, S14).
//!
//! A failure prints its seed and the command that replays it, e.g.
//! `SIM_SEED=17 SIM_NCPUS=4 cargo test -p sim-tests --test user_signal_seeds -- --nocapture`.

// (The replay checks of `dispatch_seeds` use more of it than this binary.)
#[allow(dead_code)]
mod seeded;
// This binary runs the suites of `user_sim`, not its boot of them.
#[allow(dead_code)]
mod user_sim;

use std::time::Duration;

use kern_selftest::Suite;
use seeded::Sweep;

static SWEEP: Sweep = Sweep {
    binary: "user_signal_seeds",
    suites: &SUITES,
    seeds: 100,
    ncpus: &[1, 2, 4, 8],
    boot_args: |_| "hz=1000".to_string(),
    heap_bytes: arch::sim::DEFAULT_HEAP,
    // The suites need a few seconds of virtual time; their waits give up after at
    // most 60 s each.
    virtual_timeout: Duration::from_secs(200),
    timeout: Duration::from_secs(60),
    // The user suite swaps LWPs out: a sound swap disk.
    machine: seeded::with_swap_disk,
};

static SUITES: [Suite; 2] = [("user", user_sim::USER), ("signals", user_sim::signals::SIGNALS)];

/// 100 seeds on each of 1, 2, 4 and 8 CPUs (or what `SIM_SEED`/`SIM_NCPUS` say):
/// both suites pass on every one.
#[test]
fn user_and_signal_suites_over_seeds() {
    seeded::sweep(&SWEEP);
}

/// Not a test of its own: the boot that the test above runs in child processes
/// (with `--ignored`).
#[test]
#[ignore = "the seeded boot of a child process: run by the test above"]
fn seeded_child() {
    SWEEP.child();
}
