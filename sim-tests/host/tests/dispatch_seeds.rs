//! The dispatcher and LWP life-cycle self-tests (`kern_selftest::DISP`, `LWP`) on the
//! seeded simulation: many seeds on 1, 2, 4 and 8 CPUs, each boot in a child process
//! (see `seeded/mod.rs`), and the proof that a seed replays exactly.
//!
//! A failure prints its seed and the command that replays it, e.g.
//! `SIM_SEED=17 SIM_NCPUS=4 cargo test -p sim-tests --test dispatch_seeds -- --nocapture`.

mod seeded;

use std::collections::BTreeSet;
use std::time::Duration;

use kern_selftest::Suite;
use seeded::Sweep;

/// The DISP and LWP suites, 50 seeds on 1, 2, 4 and 8 CPUs.
static SWEEP: Sweep = Sweep {
    binary: "dispatch_seeds",
    suites: &SUITES,
    seeds: 50,
    ncpus: &[1, 2, 4, 8],
    boot_args: |_| String::new(),
    // The suites need about 5 s of virtual time; their waits give up after at most
    // 60 s each.
    heap_bytes: arch::sim::DEFAULT_HEAP,
    virtual_timeout: Duration::from_secs(200),
    timeout: Duration::from_secs(60),
    machine: |config| config,
};

static SUITES: [Suite; 2] = [("disp", kern_selftest::DISP), ("lwp", kern_selftest::LWP)];

/// 50 seeds on each of 1, 2, 4 and 8 CPUs (or what `SIM_SEED`/`SIM_NCPUS` say): the
/// whole DISP and LWP suites pass on every one.
#[test]
fn disp_suite_over_seeds() {
    seeded::sweep(&SWEEP);
}

/// One seed, booted twice in two fresh processes, writes the same console byte for
/// byte, down to the schedule's trace (every change of CPU and the step it happened
/// at); other seeds interleave the CPUs differently.
#[test]
fn a_seed_replays_exactly_and_seeds_differ() {
    let jobs = [(7, 4), (7, 4), (8, 4), (9, 4), (7, 2), (7, 2)];
    let runs = seeded::run_all(&jobs);
    for r in &runs {
        assert!(
            r.passed,
            "seed {} on {} CPU(s) failed:\n{}\nreplay: {}",
            r.seed,
            r.ncpus,
            r.output,
            SWEEP.replay_command(r.seed, r.ncpus)
        );
    }
    let console = |i: usize| {
        runs[i]
            .console()
            .unwrap_or_else(|| panic!("run {i} printed no console:\n{}", runs[i].output))
    };
    for (a, b) in [(0, 1), (4, 5)] {
        assert!(
            console(a) == console(b),
            "seed {} on {} CPU(s) wrote different consoles in two runs:\n\
             --- first\n{}\n--- second\n{}",
            runs[a].seed,
            runs[a].ncpus,
            console(a),
            console(b)
        );
    }
    // Seeds 7, 8, 9 on 4 CPUs: three different traces.
    let trace = |i: usize| {
        let line = runs[i].schedule().expect("a schedule line");
        line.rsplit_once("trace ")
            .map(|(_, t)| t.trim().to_string())
            .expect("a trace in the schedule line")
    };
    let traces: BTreeSet<String> = [0, 2, 3].into_iter().map(trace).collect();
    assert_eq!(traces.len(), 3, "seeds 7, 8 and 9 gave the same interleaving: {traces:?}");
}

/// Not a test of its own: the boot that the tests above run in child processes
/// (with `--ignored`). Ignored, so that a plain run does not count it as passed: it
/// would do nothing there, without `SIM_CHILD` in the environment.
#[test]
#[ignore = "the seeded boot of a child process: run by the tests above"]
fn seeded_child() {
    SWEEP.child();
}
