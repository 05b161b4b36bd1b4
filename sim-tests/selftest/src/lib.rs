//! The kernel's self-tests and benchmarks, in a crate of their own so that the
//! kernel (`kern`) is the kernel and nothing else: the test runner, the portable
//! suites, and the kernel's benchmarks ([`bench`](mod@bench)).
//!
//! Tests are registered by name in suites (the portable ones here: [`PORTABLE`],
//! [`LWP`], [`SYNC`], [`DISP`]; each machine adds its own), run in order on the boot
//! thread, and reported one line each; the last lines give the counts and (printed
//! by `kern::boot`) the verdict that the host harness reads:
//!
//! ```text
//! test clock_ticks ... ok
//! test heap_alloc_free ... FAILED: expected 3, got 4
//! selftest: 11 passed, 1 failed
//! kernel verdict: FAIL
//! ```
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
mod helpers;
mod lwp;
mod portable;
mod sync;

use alloc::string::String;

use kern::kprintln;

pub use disp::DISP;
pub use helpers::{crowd, dispatcher_state, reap, spawn, spawn_ts, wait_for, wait_until};
pub use lwp::LWP;
pub use portable::PORTABLE;
pub use sync::SYNC;

#[doc(hidden)]
pub use alloc::format as __format;

/// A test's outcome: `Err` carries the reason it failed.
pub type TestResult = Result<(), String>;

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
/// ([`bench::run`]), otherwise the self-tests of `suites` ([`run`]). True when all
/// passed (or measured).
pub fn main(bootargs: &str, suites: &[&[Test]], benches: &[&[bench::Bench]]) -> bool {
    if bootargs.split_whitespace().any(|w| w == "bench" || w.starts_with("bench=")) {
        bench::run(benches, bootargs)
    } else {
        run(suites, bootargs)
    }
}

/// Runs the selected tests of `suites`; true when every one passed (and at least one ran).
pub fn run(suites: &[&[Test]], bootargs: &str) -> bool {
    let sel = selection(bootargs);
    let chosen = || suites.iter().flat_map(|s| s.iter()).filter(|t| selected(t, sel));
    kprintln!("selftest: running {} tests", chosen().count());
    let (mut passed, mut failed) = (0, 0);
    for t in chosen() {
        match (t.func)() {
            Ok(()) => {
                passed += 1;
                kprintln!("test {} ... ok", t.name);
            }
            Err(why) => {
                failed += 1;
                kprintln!("test {} ... FAILED: {}", t.name, why);
            }
        }
    }
    kprintln!("selftest: {} passed, {} failed", passed, failed);
    failed == 0 && passed > 0
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
