//! The kernel's self-tests and benchmarks, in a crate of their own so that the
//! kernel (`kern`) is the kernel and nothing else: the test runner, the portable
//! suites, the kernel's side of the fuzzer ([`fuzz`]: runs of the user program
//! `lwp_fuzz` and their checks, for the machines' fuzzing suites), and the kernel's
//! benchmarks ([`bench`](mod@bench)).
//!
//! Tests are registered by name in suites (the portable ones here: [`PORTABLE`],
//! [`LWP`], [`SYNC`], [`KMDB`], [`DISP`]; each machine adds its own), run in order on the boot
//! thread, and reported one line each; the last lines give the counts and (printed
//! by `kern::boot`) the verdict that the host harness reads:
//!
//! ```text
//! test clock_ticks ... ok
//! test heap_alloc_free ... FAILED: expected 3, got 4
//! test disp_rt_preempts_remote_cpu_by_cross_call ... skipped: one CPU
//! test portable_memory_back ... ok
//! selftest: 11 passed, 1 failed, 1 skipped
//! kernel verdict: FAIL
//! ```
//!
//! A test that cannot apply to the machine it runs on (a cross-call on one CPU)
//! says so with [`skip!`]: it is counted skipped, never passed. After each suite the
//! runner checks that the kernel's memory is back where it was before it
//! (`kern::kmem::Census`: no thread, LWP, process or callout left over, and the heap
//! no bigger than the thread, LWP and process structures made meanwhile explain):
//! that check is one more test, `<suite>_memory_back`.
//!
//! The boot argument `test=NAME[,NAME...]` runs only the tests named (a name ending
//! in `*` is a prefix). Tests marked `explicit` run only when named: they end the
//! kernel on purpose (a fatal trap, say) and the harness checks that it did.
//!
//! The kernel image (`sim-tests/kernel`) and the host tests (`sim-tests/host`) give
//! `kern::boot::main` a function that calls [`main`] with their suites and
//! benchmarks: the kernel boots, then runs what its caller chose.

#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod bench;
mod disp;
pub mod fuzz;
mod helpers;
mod kmdb;
mod lwp;
mod portable;
pub mod showcase;
mod swap;
mod sync;

use alloc::string::String;

use kern::kprintln;

pub use disp::DISP;
pub use helpers::{
    crowd, dispatcher_state, each_allocation_fails, reap, spawn, spawn_ts, swapout_procs, wait_for,
    wait_until,
};
pub use kmdb::KMDB;
pub use lwp::LWP;
pub use portable::PORTABLE;
pub use swap::{SWAP, SWAP_RACES};
pub use sync::SYNC;

#[doc(hidden)]
pub use alloc::format as __format;

/// A test's outcome: `Err` carries the reason it failed (or, made by [`skip!`], why
/// it does not apply).
pub type TestResult = Result<(), String>;

/// A named suite of tests: what the runner runs, in order.
pub type Suite = (&'static str, &'static [Test]);

/// How a skip's reason starts (see [`skip!`]).
#[doc(hidden)]
pub const SKIPPED: &str = "\u{0}skipped: ";

/// A self-test.
pub struct Test {
    pub name: &'static str,
    pub func: fn() -> TestResult,
    /// Runs only when named in the boot arguments.
    pub explicit: bool,
}

impl Test {
    pub const fn new(name: &'static str, func: fn() -> TestResult) -> Test {
        Test { name, func, explicit: false }
    }

    pub const fn explicit(name: &'static str, func: fn() -> TestResult) -> Test {
        Test { name, func, explicit: true }
    }
}

/// Fails the test with a formatted reason unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err($crate::__format!($($arg)*));
        }
    };
}

/// Fails the test unless `a == b`, naming both.
#[macro_export]
macro_rules! ensure_eq {
    ($a:expr, $b:expr) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            return Err($crate::__format!(
                "{} == {:?}, expected {} == {:?}",
                stringify!($a),
                a,
                stringify!($b),
                b
            ));
        }
    }};
}

/// Ends the test as skipped, with a formatted reason: it cannot apply to the
/// machine it runs on.
#[macro_export]
macro_rules! skip {
    ($($arg:tt)*) => {
        return Err($crate::__format!("{}{}", $crate::SKIPPED, $crate::__format!($($arg)*)))
    };
}

/// The `test=` selection of the boot arguments, if any.
fn selection(bootargs: &str) -> Option<&str> {
    bootargs.split_whitespace().find_map(|w| w.strip_prefix("test="))
}

fn selected(test: &Test, sel: Option<&str>) -> bool {
    match sel {
        None => !test.explicit,
        Some(sel) => sel.split(',').any(|pat| match pat.strip_suffix('*') {
            Some(prefix) => test.name.starts_with(prefix) && !test.explicit,
            None => pat == test.name,
        }),
    }
}

/// What the kernel runs once it is up (the `run` that `kern::boot::main` takes): with
/// the boot argument `bench` or `bench=NAME[,NAME...]` the benchmarks of `benches`
/// ([`bench::run`]); with `showcase`, the showcase ([`showcase::run`]); otherwise
/// the self-tests of `suites` ([`run`]). True when all passed (or measured).
pub fn main(bootargs: &str, suites: &[Suite], benches: &[&[bench::Bench]]) -> bool {
    let words = || bootargs.split_whitespace();
    if words().any(|w| w == "bench" || w.starts_with("bench=")) {
        bench::run(benches, bootargs)
    } else if words().any(|w| w == "showcase") {
        showcase::run(bootargs)
    } else {
        run(suites, bootargs)
    }
}

/// Runs the selected tests of `suites`, each suite followed by its memory check;
/// true when none failed and at least one passed.
pub fn run(suites: &[Suite], bootargs: &str) -> bool {
    let sel = selection(bootargs);
    let chosen = |tests: &'static [Test]| tests.iter().filter(move |t| selected(t, sel));
    let total: usize = suites.iter().map(|(_, tests)| chosen(tests).count()).sum();
    kprintln!("selftest: running {} tests", total);
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut report = |name: &str, r: TestResult| match r {
        Ok(()) => {
            passed += 1;
            kprintln!("test {} ... ok", name);
        }
        Err(why) => match why.strip_prefix(SKIPPED) {
            Some(reason) => {
                skipped += 1;
                kprintln!("test {} ... skipped: {}", name, reason);
            }
            None => {
                failed += 1;
                kprintln!("test {} ... FAILED: {}", name, why);
            }
        },
    };
    for &(suite, tests) in suites {
        if chosen(tests).next().is_none() {
            continue;
        }
        let before = kern::kmem::census();
        for t in chosen(tests) {
            report(t.name, (t.func)());
        }
        report(&alloc::format!("{suite}_memory_back"), memory_back(&before));
    }
    kprintln!("selftest: {} passed, {} failed, {} skipped", passed, failed, skipped);
    failed == 0 && passed > 0
}

/// Waits (up to 5 s: exiting threads are reaped as the next switch completes, an
/// orphan by the reaper) until the kernel holds no more than it did at `before`.
pub fn memory_back(before: &kern::kmem::Census) -> TestResult {
    let mut leak = None;
    let waited = wait_until("the kernel's memory to be back", 5, || {
        leak = kern::kmem::census().leaked_since(before);
        Ok(leak.is_none())
    });
    match leak {
        Some(what) => Err(alloc::format!("{what} ({})", waited.err().unwrap_or_default())),
        None => Ok(()),
    }
}

/// Runs `round` once, so that the caches hold what they keep, then `rounds` times
/// more, and checks that those left the kernel's memory where it was (a leak of a
/// round adds up over them).
pub fn rounds_leave_memory_back(
    rounds: usize,
    mut round: impl FnMut() -> TestResult,
) -> TestResult {
    round()?;
    let before = kern::kmem::census();
    for _ in 0..rounds {
        round()?;
    }
    memory_back(&before)
}

#[cfg(test)]
mod unit {
    use super::*;

    fn pass() -> TestResult {
        Ok(())
    }

    #[test]
    fn selection_by_name_prefix_and_explicit() {
        let normal = Test::new("clock_ticks", pass);
        let other = Test::new("heap_alloc_free", pass);
        let fatal = Test::explicit("trap_fatal", pass);
        assert_eq!(selection("hz=100 test=clock_ticks"), Some("clock_ticks"));
        assert_eq!(selection("hz=100"), None);
        assert!(selected(&normal, None) && selected(&other, None));
        assert!(!selected(&fatal, None), "explicit tests only run when named");
        assert!(selected(&fatal, Some("trap_fatal")));
        assert!(!selected(&fatal, Some("trap*")), "a prefix never selects an explicit test");
        assert!(selected(&normal, Some("clock*")) && !selected(&other, Some("clock*")));
        assert!(selected(&other, Some("clock_ticks,heap_alloc_free")));
    }
}
