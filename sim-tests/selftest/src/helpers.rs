//! What the suites share: threads of a chosen class, priority and CPU, and waiting
//! with a deadline that turns a hang into a failure with the dispatcher's state.

use alloc::string::String;

use arch::Machine;

use kern::class::{self, SchedClass};
use kern::thread::{self, KThread};
use kern::{disp, sleepq, M};

use crate::TestResult;

/// Creates a thread of `class` at `pri` running `f(arg)`, bound to `bind` if given,
/// and makes it runnable.
pub(crate) fn spawn(
    name: &'static str,
    f: fn(usize),
    arg: usize,
    class: SchedClass,
    pri: u8,
    bind: Option<usize>,
) -> &'static KThread {
    let t = thread::thread_create_bound(name, f, arg, class, pri, bind);
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
    let cpus: alloc::vec::Vec<_> = kern::cpu::cpus()
        .iter()
        .map(|c| {
            (c.curpri(), c.cpu_nrunnable.load(core::sync::atomic::Ordering::Relaxed), c.ticks())
        })
        .collect();
    alloc::format!("lbolt {}, cpus (curpri, queued, ticks) = {cpus:?}", kern::clock::lbolt())
}
