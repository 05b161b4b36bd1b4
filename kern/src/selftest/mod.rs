//! The kernel self-test runner, and the portable self-tests.
//!
//! Tests are registered by name in suites (the portable ones in [`PORTABLE`], each
//! machine adds its own), run in order on the boot thread, and reported one line
//! each; the last lines give the counts and (printed by `boot`) the verdict that the
//! host harness reads:
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

mod disp_tests;
mod lwp_tests;
mod sync_tests;
mod tests;

use alloc::string::String;

use arch::Machine;

use crate::class::{self, SchedClass};
use crate::thread::{self, KThread};
use crate::{disp, sleepq, M};

use crate::kprintln;

pub use disp_tests::DISP;
pub use lwp_tests::LWP;
pub use sync_tests::SYNC;
pub use tests::PORTABLE;

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
            return Err(alloc::format!($($arg)*));
        }
    };
}

/// Fails the test unless `a == b`, naming both.
#[macro_export]
macro_rules! ensure_eq {
    ($a:expr, $b:expr) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            return Err(alloc::format!(
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

/// Creates a thread of `class` at `pri` running `f(arg)`, bound to `bind` if given;
/// not yet runnable.
pub(crate) fn create(
    name: &'static str,
    f: fn(usize),
    arg: usize,
    class: SchedClass,
    pri: u8,
    bind: Option<usize>,
) -> &'static KThread {
    let t = thread::thread_create_stopped(name, f, arg, class, pri);
    t.set_bound(bind);
    t
}

/// Like [`create`], and makes it runnable.
pub(crate) fn spawn(
    name: &'static str,
    f: fn(usize),
    arg: usize,
    class: SchedClass,
    pri: u8,
    bind: Option<usize>,
) -> &'static KThread {
    let t = create(name, f, arg, class, pri, bind);
    disp::setrun(t);
    t
}

/// A runnable time-sharing thread: it is preempted when its quantum ends.
pub(crate) fn spawn_ts(name: &'static str, f: fn(usize), arg: usize) -> &'static KThread {
    spawn(name, f, arg, SchedClass::Ts, class::TS_DEFAULT_PRI, None)
}

/// Sleeps a tick at a time until `done()` holds; fails after `secs` seconds of
/// machine time.
pub(crate) fn wait_for(what: &str, secs: u64, done: impl Fn() -> bool) -> TestResult {
    let deadline = M::now_ns() + secs * 1_000_000_000;
    while !done() {
        if M::now_ns() > deadline {
            return Err(alloc::format!(
                "timed out after {secs} s waiting for {what}; {}",
                dispatcher_state()
            ));
        }
        sleepq::delay(1);
    }
    Ok(())
}

/// Each CPU's running priority, queue length and clock ticks, for failure reports.
pub(crate) fn dispatcher_state() -> String {
    let cpus: alloc::vec::Vec<_> = crate::cpu::cpus()
        .iter()
        .map(|c| {
            (c.curpri(), c.cpu_nrunnable.load(core::sync::atomic::Ordering::Relaxed), c.ticks())
        })
        .collect();
    alloc::format!("lbolt {}, cpus (curpri, queued, ticks) = {cpus:?}", crate::clock::lbolt())
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
