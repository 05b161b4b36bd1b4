//! Which CPU (S3): bound threads stay on their CPU, idle CPUs take threads queued
//! elsewhere, and every runnable thread runs.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use crate::{ensure, ensure_eq, spawn, TestResult};
use kern::class::{self, SchedClass};
use kern::cpu::MAX_CPUS;
use kern::thread::{curthread, KThread};
use kern::{disp, sleepq};

use super::{
    broken, check_from_worker, gated, invariants, load_body, ncpus, stop_and_join, this_cpu,
    wait_checked, work, OnCpu0, BROKEN, GATE_STEAL, LOAD_DONE, LOAD_STOP,
};

// Binding.

const BIND_STEPS: usize = 100;
static BIND_WRONG: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
static BIND_SAMPLES: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
static BIND_DONE: AtomicUsize = AtomicUsize::new(0);

fn bound_body(c: usize) {
    disp::thread_bind(Some(c));
    for i in 0..BIND_STEPS {
        if this_cpu() != c {
            BIND_WRONG[c].fetch_add(1, SeqCst);
        }
        BIND_SAMPLES[c].fetch_add(1, SeqCst);
        work();
        if i % 10 == 0 {
            // Sleep and wake: the wakeup must queue it on its CPU again.
            sleepq::delay(1);
            check_from_worker();
        } else {
            disp::yield_now();
        }
    }
    if curthread().cpu() != c || curthread().bound_cpu() != Some(c) {
        BIND_WRONG[c].fetch_add(1, SeqCst);
    }
    disp::thread_bind(None);
    BIND_DONE.fetch_add(1, SeqCst);
}

/// Threads that bind themselves to each CPU move there and stay there, through yields,
/// sleeps and wakeups and preemptions, while unbound CPU-bound threads load every CPU
/// (idle and expiring CPUs steal only unbound threads). `cpu()` is sampled 100 times
/// in each.
pub(super) fn bound_threads_stay_on_their_cpu() -> TestResult {
    let _cpu0 = OnCpu0::bind();
    let n = ncpus();
    for c in 0..n {
        BIND_WRONG[c].store(0, SeqCst);
        BIND_SAMPLES[c].store(0, SeqCst);
    }
    BIND_DONE.store(0, SeqCst);
    LOAD_STOP.store(false, SeqCst);
    LOAD_DONE.store(0, SeqCst);
    *BROKEN.lock() = None;
    let nload = n;
    for _ in 0..nload {
        spawn("load", load_body, 0, SchedClass::Ts, class::TS_DEFAULT_PRI, None);
    }
    // Created unbound, so most start away from the CPU they bind to.
    for c in 0..n {
        spawn("bound", bound_body, c, SchedClass::Ts, class::TS_MAXPRI, None);
    }
    let r = wait_checked("the bound threads", 60, || BIND_DONE.load(SeqCst) == n);
    let joined = stop_and_join(&LOAD_STOP, &LOAD_DONE, nload, "the load to stop");
    r?;
    joined?;
    broken()?;
    for c in 0..n {
        ensure!(
            BIND_WRONG[c].load(SeqCst) == 0,
            "a thread bound to cpu {c} was found elsewhere {} times in {} samples",
            BIND_WRONG[c].load(SeqCst),
            BIND_SAMPLES[c].load(SeqCst)
        );
        ensure_eq!(BIND_SAMPLES[c].load(SeqCst), BIND_STEPS);
    }
    invariants()
}

// ---------------------------------------------------------------------------------
// Idle CPUs take work queued elsewhere.

static STEAL_CPUS: AtomicUsize = AtomicUsize::new(0);
static STEAL_STOP: AtomicBool = AtomicBool::new(false);
static STEAL_DONE: AtomicUsize = AtomicUsize::new(0);

pub(super) fn build_steal(cpu: usize) {
    let workers: Vec<&KThread> = (0..ncpus())
        .map(|_| spawn("steal", steal_body, 0, SchedClass::Sys, class::SYS_PRI, Some(cpu)))
        .collect();
    // All queued on this CPU (bound, so none was placed elsewhere); now let them go
    // wherever the dispatcher takes them.
    for t in workers {
        t.set_bound(None);
    }
}

fn steal_body(_: usize) {
    let all = (1 << ncpus()) - 1;
    while !STEAL_STOP.load(SeqCst) && STEAL_CPUS.load(SeqCst) != all {
        STEAL_CPUS.fetch_or(1 << this_cpu(), SeqCst);
        work();
    }
    STEAL_DONE.fetch_add(1, SeqCst);
}

/// As many CPU-bound threads as CPUs, all queued on one CPU, spread over every CPU:
/// idle CPUs take threads waiting on another CPU's queue (S3: LWPs run in parallel on
/// a multiprocessor). Each spins until threads have run on every CPU. They are SYS
/// threads, which no quantum ever requeues elsewhere: only stealing moves them.
pub(super) fn idle_cpus_take_queued_threads() -> TestResult {
    let _cpu0 = OnCpu0::bind();
    let n = ncpus();
    STEAL_CPUS.store(0, SeqCst);
    STEAL_STOP.store(false, SeqCst);
    STEAL_DONE.store(0, SeqCst);
    gated(n - 1, GATE_STEAL);
    let all = (1 << n) - 1;
    let r = wait_checked("the queued threads to reach every CPU", 30, || {
        STEAL_CPUS.load(SeqCst) == all
    })
    .map_err(|e| format!("{e}; CPUs reached {:#b}", STEAL_CPUS.load(SeqCst)));
    let joined = stop_and_join(&STEAL_STOP, &STEAL_DONE, n, "the threads to stop");
    r?;
    joined?;
    invariants()
}

// ---------------------------------------------------------------------------------
// Liveness.

const LIVE_STEPS: usize = 30;
/// The classes and priorities of the crowd, in turn.
const LIVE_MIX: [(SchedClass, u8); 7] = [
    (SchedClass::Ts, 5),
    (SchedClass::Rt, 105),
    (SchedClass::Ts, 40),
    (SchedClass::Sys, 60),
    (SchedClass::Rt, 140),
    (SchedClass::Sys, 75),
    (SchedClass::Ts, 59),
];
const LIVE_MAX: usize = 4 * MAX_CPUS + 3;
static LIVE_STEPS_DONE: [AtomicUsize; LIVE_MAX] = [const { AtomicUsize::new(0) }; LIVE_MAX];
static LIVE_DONE: AtomicUsize = AtomicUsize::new(0);

fn live_body(k: usize) {
    for i in 0..LIVE_STEPS {
        work();
        if i % 5 == 0 {
            check_from_worker();
        }
        if i % 7 == 3 {
            sleepq::delay(1);
        } else {
            disp::yield_now();
        }
        LIVE_STEPS_DONE[k].fetch_add(1, SeqCst);
    }
    LIVE_DONE.fetch_add(1, SeqCst);
}

/// A crowd of threads of all classes and priorities (four per CPU and three more),
/// each yielding and sleeping through its steps: every one of them runs all its steps
/// and ends, and the run queues stay consistent all along. (Where they run is up to
/// the dispatcher: cache affinity may keep them all on one CPU. Spreading is
/// `disp_idle_cpus_take_queued_threads`' business.)
pub(super) fn every_runnable_thread_runs() -> TestResult {
    let _cpu0 = OnCpu0::bind();
    let n = (4 * ncpus() + 3).min(LIVE_MAX);
    for steps in LIVE_STEPS_DONE.iter().take(n) {
        steps.store(0, SeqCst);
    }
    LIVE_DONE.store(0, SeqCst);
    *BROKEN.lock() = None;
    let threads: Vec<&KThread> = (0..n)
        .map(|k| {
            let (class, pri) = LIVE_MIX[k % LIVE_MIX.len()];
            spawn("crowd", live_body, k, class, pri, None)
        })
        .collect();
    wait_checked("every thread of the crowd to finish", 60, || LIVE_DONE.load(SeqCst) == n)
        .map_err(|e| {
            let behind: Vec<String> = (0..n)
                .filter(|&k| LIVE_STEPS_DONE[k].load(SeqCst) < LIVE_STEPS)
                .map(|k| {
                    format!(
                        "#{k} {:?} pri {} steps {}",
                        threads[k],
                        threads[k].pri(),
                        LIVE_STEPS_DONE[k].load(SeqCst)
                    )
                })
                .collect();
            format!("{e}; behind: {behind:?}")
        })?;
    broken()?;
    invariants()
}
