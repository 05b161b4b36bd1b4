//! What the suites share (and the machines' suites too): threads of a chosen class,
//! priority and CPU, waiting with a deadline that turns a hang into a failure with
//! the dispatcher's state, and reaping a process.

use alloc::format;
use alloc::string::String;

use arch::Machine;

use kern::class::{self, SchedClass};
use kern::errno::Errno;
use kern::kmem::{self, census};
use kern::proc::{self, Pid, WaitStatus};
use kern::thread::{self, KThread};
use kern::{disp, sleepq, M};

use crate::{ensure, TestResult};

/// Creates a thread of `class` at `pri` running `f(arg)`, bound to `bind` if given,
/// and makes it runnable.
pub fn spawn(
    name: &'static str,
    f: fn(usize),
    arg: usize,
    class: SchedClass,
    pri: u8,
    bind: Option<usize>,
) -> &'static KThread {
    let t = thread::life::thread_create_bound(name, f, arg, class, pri, bind);
    disp::setrun(t);
    t
}

/// A runnable time-sharing thread: it is preempted when its quantum ends.
pub fn spawn_ts(name: &'static str, f: fn(usize), arg: usize) -> &'static KThread {
    spawn(name, f, arg, SchedClass::Ts, class::TS_DEFAULT_PRI, None)
}

/// Sleeps a tick at a time until `done()` holds; fails after `secs` seconds of
/// machine time.
pub fn wait_for(what: &str, secs: u64, done: impl Fn() -> bool) -> TestResult {
    wait_until(what, secs, || Ok(done()))
}

/// Sleeps a tick at a time until `done()` says so, and fails as soon as it fails, or
/// after `secs` seconds of machine time (virtual on the seeded simulation) with the
/// dispatcher's state.
pub fn wait_until(
    what: &str,
    secs: u64,
    mut done: impl FnMut() -> Result<bool, String>,
) -> TestResult {
    let deadline = M::now_ns() + secs * 1_000_000_000;
    while !done()? {
        if M::now_ns() > deadline {
            return Err(format!(
                "timed out after {secs} s of machine time waiting for {what}; {}",
                dispatcher_state()
            ));
        }
        sleepq::delay(1);
    }
    Ok(())
}

/// Each CPU's running priority, queue length and clock ticks, for failure reports.
pub fn dispatcher_state() -> String {
    let cpus: alloc::vec::Vec<_> = kern::cpu::cpus()
        .iter()
        .map(|c| {
            (c.curpri(), c.cpu_nrunnable.load(core::sync::atomic::Ordering::Relaxed), c.ticks())
        })
        .collect();
    format!("lbolt {}, cpus (curpri, queued, ticks) = {cpus:?}", kern::clock::lbolt())
}

/// Enough threads that every CPU has to switch among several of them.
pub fn crowd() -> usize {
    M::ncpus() + 3
}

/// Reaps process `pid` (sleeping until it exits) and decodes its wait status.
pub fn reap(pid: Pid) -> Result<WaitStatus, String> {
    let (got, status) =
        proc::life::proc_wait(Some(pid)).map_err(|e| format!("proc_wait({pid}): {e}"))?;
    if got != pid {
        return Err(format!("proc_wait({pid}) reaped {got}"));
    }
    Ok(WaitStatus::from_raw(status))
}

/// Swaps out every LWP of the processes `pids` that may go now, and no other (a
/// test that counts its swap-ins must not count another process's LWPs, such as
/// `init`'s, which sleeps and stays out); returns how many went out.
pub fn swapout_procs(pids: &[Pid]) -> usize {
    pids.iter().filter_map(|&pid| proc::prfind(pid)).map(kern::swap::swapout_proc).sum()
}

/// Runs `create` with its `n`th allocation refused, for n = 1, 2, ... until it makes
/// fewer than `n` (its caches emptied first, so that it must allocate). A refused
/// allocation either makes the call fail with `ENOMEM` or `EAGAIN`, leaving the
/// kernel as it was, or is absorbed (a second try after the caches gave memory
/// back). `undo` cleans up after each success. Returns how many allocations the
/// creation made.
pub fn each_allocation_fails<T: core::fmt::Debug>(
    what: &str,
    create: impl Fn() -> Result<T, Errno>,
    undo: impl Fn(T) -> TestResult,
) -> Result<u64, String> {
    let (mut n, mut retries) = (1, 0);
    while n <= 64 {
        let before = census();
        let injected = kmem::failures_injected();
        kmem::fail_nth(n);
        let r = create();
        kmem::fail_nth(0);
        let refused = kmem::failures_injected() != injected;
        match r {
            Ok(made) => {
                undo(made)?;
                if !refused && retries < 20 {
                    // A thread of an earlier call, reaped after the census, may have
                    // put its stack back in the cache: the call had one allocation
                    // fewer to make. Only a count that repeats is the call's own.
                    retries += 1;
                    continue;
                }
                if !refused {
                    ensure!(n > 1, "{what} allocated nothing: the test proves nothing");
                    return Ok(n - 1);
                }
            }
            Err(e) => {
                ensure!(refused, "{what} failed with no allocation refused: {e}");
                ensure!(e == Errno::ENOMEM || e == Errno::EAGAIN, "{what}, allocation {n}: {e}");
                let mut leak = None;
                // What the refused call undid may still be on its way out (a thread
                // reaped as the next switch completes).
                let _ = wait_until("nothing left of the refused call", 5, || {
                    leak = census().leaked_since(&before);
                    Ok(leak.is_none())
                });
                if let Some(leak) = leak {
                    return Err(format!("{what}, allocation {n} refused: {leak}"));
                }
            }
        }
        n += 1;
    }
    Err(format!("{what} still allocated after 64 allocations"))
}
