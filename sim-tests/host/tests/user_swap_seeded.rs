//! The LWP synchronization programs of the user tests (`user_sim::sync`: park and
//! unpark, schedctl, LWP mutexes) on the seeded schedule with a swap disk and
//! `swap=force`: LWPs parked or asleep on an LWP mutex go out to the disk and come
//! back at every pass of the swapper, while others unpark them and hand them locks
//! (S5, S8). 30 seeds on 2, 4 and 8 CPUs, each boot in a child process
//! (`seeded/mod.rs`): a wakeup lost on the way through the swapper is a boot that
//! hangs, with its seed, e.g.
//! `SIM_SEED=17 SIM_NCPUS=4 cargo test -p sim-tests --test user_swap_seeded -- --nocapture`.

// Shared with the other seeded sweeps and user tests: what this sweep leaves unused
// is theirs.
#[allow(dead_code)]
mod seeded;
#[allow(dead_code)]
mod user_sim;

use std::time::Duration;

use kern_selftest::{Suite, Test};
use seeded::Sweep;

static SWEEP: Sweep = Sweep {
    binary: "user_swap_seeded",
    suites: &SUITES,
    seeds: 30,
    ncpus: &[2, 4, 8],
    // All but the adaptive-spinning test, which needs the mutex's owner to keep its
    // CPU: here the swapper, a kernel thread of higher priority, preempts it every
    // other tick, and a waiter rightly sleeps instead of spinning then.
    boot_args: |_| {
        "hz=1000 swap=force \
         test=usync_park*,usync_schedctl*,usync_pool*,usync_lwp_mutex*,usync_swapped*"
            .to_string()
    },
    heap_bytes: arch::sim::DEFAULT_HEAP,
    virtual_timeout: Duration::from_secs(200),
    timeout: Duration::from_secs(60),
    machine: seeded::with_swap_disk,
};

static SUITES: [Suite; 2] = [("usync", user_sim::sync::SYNC), ("swap", SWAPPED)];

static SWAPPED: &[Test] = &[Test::new("usync_swapped_meanwhile", seeded::swapped_meanwhile)];

/// 30 seeds on each of 2, 4 and 8 CPUs (or what `SIM_SEED`/`SIM_NCPUS` say).
#[test]
fn usync_swapped_over_seeds() {
    seeded::sweep(&SWEEP);
}

/// Not a test of its own: the boot that the test above runs in child processes
/// (with `--ignored`).
#[test]
#[ignore = "the seeded boot of a child process: run by the test above"]
fn seeded_child() {
    SWEEP.child();
}
