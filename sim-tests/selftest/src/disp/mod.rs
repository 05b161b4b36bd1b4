//! The dispatcher's self-tests: run in QEMU (one CPU) and on the host simulation
//! (1 to 8 CPUs, parallel and seeded), they create kernel threads of chosen classes
//! and priorities, bound or not, and check what the dispatcher really did with them:
//! the order they ran in, where, which preempted which, and that every one ran (S2,
//! S3: LWPs, each on its kernel thread, scheduled independently and in parallel;
//! S19: the same on every machine).
//!
//! Rules these tests keep, so that they mean the same everywhere:
//!
//! * **No wall-time assertions.** Bounds are counted in clock ticks (`lbolt`, a
//!   CPU's tick count) or scheduling events; waiting has a generous deadline of
//!   machine time (virtual on the seeded simulation) that only turns a hang into a
//!   failure with a reason and the dispatcher's state.
//! * **Busy loops make a machine call** ([`work`]: `M::relax()`, never a yield): on the
//!   seeded simulation a CPU runs on only until it makes one, and that is where its
//!   clock interrupts and cross-calls are taken.
//! * **A starting line.** Threads that must compete from the same moment are made
//!   runnable by a *gate* thread of the highest RT priority bound to their CPU
//!   ([`gated`]): none of them can run before the gate exits, whatever its priority.
//! * **The test thread stays on CPU 0** ([`OnCpu0`]); what is measured happens on the
//!   last CPU where it can. A test thread that woke every tick on the CPU under test
//!   would take that CPU's clock ticks (the CPUs' clocks tick in phase) and so skew
//!   what the threads there are charged for their quanta.
//! * Every test leaves no thread behind, and checks `disp::check_invariants()`
//!   (every queued thread on one queue, at its priority, in state `Run`, on its bound
//!   CPU's queue) at every poll of its waits and in the workers.
//!
//! One file per subject: [`preemption`] (priority order, preemption, yield),
//! [`timeshare`] (round robin, sleepers, starvation) and [`cpus`] (binding, idle
//! CPUs, liveness); here the suite and the helpers above.

mod cpus;
mod preemption;
mod timeshare;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};

use arch::Machine;

use crate::{spawn, Test, TestResult};
use kern::class::{SchedClass, RT_MAXPRI};
use kern::cpu::MAX_CPUS;
use kern::sync::Mutex;
use kern::thread::KThread;
use kern::{disp, M};

use cpus::build_steal;
use preemption::{build_front, build_priority_order, build_yield};
use timeshare::{build_boost, build_qrr, build_rr};

/// The dispatcher suite, in the order it runs.
pub static DISP: &[Test] = &[
    Test::new("disp_highest_priority_runs_first", preemption::highest_priority_runs_first),
    Test::new("disp_preempted_thread_resumes_first", preemption::preempted_thread_resumes_first),
    Test::new(
        "disp_yield_gives_way_only_to_equal_or_higher",
        preemption::yield_gives_way_only_to_equal_or_higher,
    ),
    Test::new(
        "disp_rt_preempts_ts_at_once_on_its_cpu",
        preemption::rt_preempts_ts_at_once_on_its_cpu,
    ),
    Test::new(
        "disp_rt_preempts_remote_cpu_by_cross_call",
        preemption::rt_preempts_remote_cpu_by_cross_call,
    ),
    Test::new("disp_round_robin_by_yield", timeshare::round_robin_by_yield),
    Test::new("disp_round_robin_by_quantum_rt_and_ts", timeshare::round_robin_by_quantum_rt_and_ts),
    Test::new(
        "disp_sleeper_not_starved_by_cpu_bound_load",
        timeshare::sleeper_not_starved_by_cpu_bound_load,
    ),
    Test::new("disp_starved_ts_thread_is_boosted", timeshare::starved_ts_thread_is_boosted),
    Test::new("disp_bound_threads_stay_on_their_cpu", cpus::bound_threads_stay_on_their_cpu),
    Test::new("disp_idle_cpus_take_queued_threads", cpus::idle_cpus_take_queued_threads),
    Test::new("disp_every_runnable_thread_runs", cpus::every_runnable_thread_runs),
];

// ---------------------------------------------------------------------------------
// Helpers

/// The CPUs the tests use.
fn ncpus() -> usize {
    M::ncpus().min(MAX_CPUS)
}

/// The CPU this thread runs on, read with interrupts off (so it cannot move meanwhile).
fn this_cpu() -> usize {
    let was = M::intr_disable();
    let c = M::cpu_id();
    M::intr_restore(was);
    c
}

/// Binds the test thread to CPU 0 while it lives (see the module comment).
struct OnCpu0;

impl OnCpu0 {
    fn bind() -> OnCpu0 {
        disp::thread_bind(Some(0));
        OnCpu0
    }
}

impl Drop for OnCpu0 {
    fn drop(&mut self) {
        disp::thread_bind(None);
    }
}

/// One unit of CPU-bound work. A machine call, so that the seeded simulation can run
/// other CPUs and take this CPU's interrupts here; never a yield.
fn work() {
    M::relax();
}

fn invariants() -> TestResult {
    disp::check_invariants().map_err(|e| format!("dispatcher invariant broken: {e}"))
}

/// The first invariant violation a worker thread saw.
static BROKEN: Mutex<Option<String>> = Mutex::new(None);

/// Checks the invariants from a worker; the first failure is kept for its test.
fn check_from_worker() {
    if let Err(e) = disp::check_invariants() {
        BROKEN.lock().get_or_insert(e);
    }
}

fn broken() -> TestResult {
    match BROKEN.lock().take() {
        Some(e) => Err(format!("dispatcher invariant broken (seen by a worker): {e}")),
        None => Ok(()),
    }
}

/// [`crate::wait_for`], checking the dispatcher's invariants at every poll.
fn wait_checked(what: &str, secs: u64, done: impl Fn() -> bool) -> TestResult {
    crate::wait_until(what, secs, || {
        invariants()?;
        Ok(done())
    })
}

/// Waits for `n` threads counted in `done` to finish; `stop` is raised first either way.
fn stop_and_join(stop: &AtomicBool, done: &AtomicUsize, n: usize, what: &str) -> TestResult {
    stop.store(true, SeqCst);
    wait_checked(what, 30, || done.load(SeqCst) >= n)
}

/// CPU-bound load: threads running `load_body` spin until `LOAD_STOP`, counting
/// their rounds in `LOAD_SPINS`, and count themselves out in `LOAD_DONE`.
static LOAD_STOP: AtomicBool = AtomicBool::new(false);
static LOAD_DONE: AtomicUsize = AtomicUsize::new(0);
static LOAD_SPINS: AtomicU64 = AtomicU64::new(0);

fn load_body(_: usize) {
    while !LOAD_STOP.load(SeqCst) {
        work();
        LOAD_SPINS.fetch_add(1, SeqCst);
    }
    LOAD_DONE.fetch_add(1, SeqCst);
}

/// The kinds of gates.
const GATE_PRIORITY_ORDER: usize = 0;
const GATE_FRONT: usize = 1;
const GATE_YIELD: usize = 2;
const GATE_RR: usize = 3;
const GATE_BOOST: usize = 4;
const GATE_QRR: usize = 5;
const GATE_STEAL: usize = 6;

/// Runs the builder `kind` for `cpu` in a thread of the highest RT priority bound to
/// `cpu`: the threads it makes runnable there (all of lower priority) wait until it
/// exits, and then compete from one starting line.
fn gated(cpu: usize, kind: usize) -> &'static KThread {
    spawn("gate", gate, cpu * 16 + kind, SchedClass::Rt, RT_MAXPRI, Some(cpu))
}

fn gate(arg: usize) {
    let (cpu, kind) = (arg / 16, arg % 16);
    match kind {
        GATE_PRIORITY_ORDER => build_priority_order(cpu),
        GATE_FRONT => build_front(cpu),
        GATE_YIELD => build_yield(cpu),
        GATE_RR => build_rr(cpu),
        GATE_BOOST => build_boost(cpu),
        GATE_QRR => build_qrr(cpu),
        GATE_STEAL => build_steal(cpu),
        _ => unreachable!("gate kind {kind}"),
    }
}

/// Per-CPU logs of small numbers (0 is "nothing").
struct Logs<const N: usize> {
    len: [AtomicUsize; MAX_CPUS],
    log: [[AtomicUsize; N]; MAX_CPUS],
}

impl<const N: usize> Logs<N> {
    const fn new() -> Self {
        Logs {
            len: [const { AtomicUsize::new(0) }; MAX_CPUS],
            log: [const { [const { AtomicUsize::new(0) }; N] }; MAX_CPUS],
        }
    }
    fn clear(&self) {
        for c in 0..MAX_CPUS {
            self.len[c].store(0, SeqCst);
            for e in &self.log[c] {
                e.store(0, SeqCst);
            }
        }
    }
    fn push(&self, cpu: usize, v: usize) {
        let i = self.len[cpu].fetch_add(1, SeqCst);
        if i < N {
            self.log[cpu][i].store(v, SeqCst);
        }
    }
    fn len(&self, cpu: usize) -> usize {
        self.len[cpu].load(SeqCst)
    }
    fn get(&self, cpu: usize) -> Vec<usize> {
        self.log[cpu][..self.len(cpu).min(N)].iter().map(|e| e.load(SeqCst)).collect()
    }
}
