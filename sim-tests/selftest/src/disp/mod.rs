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

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};

use arch::cell::StaticRef;
use arch::Machine;

use crate::{dispatcher_state, ensure, ensure_eq, spawn, Test, TestResult};
use kern::class::{self, SchedClass, RT_MAXPRI, RT_QUANTUM};
use kern::cpu::{cpu_by_id, MAX_CPUS};
use kern::displock::DispLock;
use kern::thread::{curthread, KThread, ThreadState};
use kern::{clock, disp, sleepq, M};

/// The dispatcher suite, in the order it runs.
pub static DISP: &[Test] = &[
    Test::new("disp_highest_priority_runs_first", highest_priority_runs_first),
    Test::new("disp_preempted_thread_resumes_first", preempted_thread_resumes_first),
    Test::new(
        "disp_yield_gives_way_only_to_equal_or_higher",
        yield_gives_way_only_to_equal_or_higher,
    ),
    Test::new("disp_rt_preempts_ts_at_once_on_its_cpu", rt_preempts_ts_at_once_on_its_cpu),
    Test::new("disp_rt_preempts_remote_cpu_by_cross_call", rt_preempts_remote_cpu_by_cross_call),
    Test::new("disp_round_robin_by_yield", round_robin_by_yield),
    Test::new("disp_round_robin_by_quantum_rt_and_ts", round_robin_by_quantum_rt_and_ts),
    Test::new("disp_sleeper_not_starved_by_cpu_bound_load", sleeper_not_starved_by_cpu_bound_load),
    Test::new("disp_starved_ts_thread_is_boosted", starved_ts_thread_is_boosted),
    Test::new("disp_bound_threads_stay_on_their_cpu", bound_threads_stay_on_their_cpu),
    Test::new("disp_idle_cpus_take_queued_threads", idle_cpus_take_queued_threads),
    Test::new("disp_every_runnable_thread_runs", every_runnable_thread_runs),
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
static BROKEN: DispLock<Option<String>> = DispLock::new(None);

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
fn wait_until(what: &str, secs: u64, done: impl Fn() -> bool) -> TestResult {
    crate::wait_until(what, secs, || {
        invariants()?;
        Ok(done())
    })
}

/// Waits for `n` threads counted in `done` to finish; `stop` is raised first either way.
fn stop_and_join(stop: &AtomicBool, done: &AtomicUsize, n: usize, what: &str) -> TestResult {
    stop.store(true, SeqCst);
    wait_until(what, 30, || done.load(SeqCst) >= n)
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

// ---------------------------------------------------------------------------------
// The highest-priority runnable thread runs first, FIFO within a priority.

/// Threads of every class, in a shuffled order of creation; two pairs share a priority.
const PRI_SET: [(SchedClass, u8); 10] = [
    (SchedClass::Ts, 29),
    (SchedClass::Rt, 100),
    (SchedClass::Ts, 0),
    (SchedClass::Rt, 158),
    (SchedClass::Sys, 60),
    (SchedClass::Rt, 130),
    (SchedClass::Ts, 59),
    (SchedClass::Sys, 99),
    (SchedClass::Rt, 130),
    (SchedClass::Ts, 29),
];
static ORDER: Logs<16> = Logs::new();
static WRONG_CPU: AtomicUsize = AtomicUsize::new(0);

fn build_priority_order(cpu: usize) {
    for (i, &(class, pri)) in PRI_SET.iter().enumerate() {
        spawn("prio", prio_body, cpu * 16 + i, class, pri, Some(cpu));
    }
}

fn prio_body(arg: usize) {
    let (cpu, i) = (arg / 16, arg % 16);
    if this_cpu() != cpu {
        WRONG_CPU.fetch_add(1, SeqCst);
    }
    ORDER.push(cpu, i + 1);
}

/// On each CPU, ten threads of all three classes made runnable together run in
/// priority order, highest first, and in creation order within a priority.
fn highest_priority_runs_first() -> TestResult {
    let _cpu0 = OnCpu0::bind();
    ORDER.clear();
    WRONG_CPU.store(0, SeqCst);
    let n = ncpus();
    for c in 0..n {
        gated(c, GATE_PRIORITY_ORDER);
    }
    wait_until("every thread to run", 30, || (0..n).all(|c| ORDER.len(c) == PRI_SET.len()))?;
    let mut expect: Vec<usize> = (0..PRI_SET.len()).collect();
    expect.sort_by_key(|&i| (core::cmp::Reverse(PRI_SET[i].1), i));
    let expect: Vec<usize> = expect.into_iter().map(|i| i + 1).collect();
    for c in 0..n {
        let got = ORDER.get(c);
        let pris = |v: &[usize]| v.iter().map(|&i| PRI_SET[i - 1].1).collect::<Vec<_>>();
        ensure!(
            got == expect,
            "cpu {c} ran priorities {:?} (threads {got:?}); expected {:?} (threads {expect:?})",
            pris(&got),
            pris(&expect)
        );
    }
    ensure_eq!(WRONG_CPU.load(SeqCst), 0);
    invariants()
}

// ---------------------------------------------------------------------------------
// A preempted thread goes back to the front of its queue.

const EV_R: usize = 1;
const EV_A: usize = 2;
const EV_B: usize = 3;
static FRONT: Logs<8> = Logs::new();

fn build_front(cpu: usize) {
    spawn("front-a", front_a, cpu, SchedClass::Sys, 70, Some(cpu));
    spawn("front-b", front_b, cpu, SchedClass::Sys, 70, Some(cpu));
}

fn front_a(cpu: usize) {
    // An RT thread on this CPU preempts this one right here...
    spawn("front-r", front_r, cpu, SchedClass::Rt, 100, Some(cpu));
    // ... and this one, back at the head of its queue, runs before B.
    FRONT.push(cpu, EV_A);
}

fn front_r(cpu: usize) {
    FRONT.push(cpu, EV_R);
}

fn front_b(cpu: usize) {
    FRONT.push(cpu, EV_B);
}

/// A thread preempted by a higher priority resumes before an equal-priority thread
/// that was waiting longer: it goes back to the front of its queue, not the back.
fn preempted_thread_resumes_first() -> TestResult {
    let _cpu0 = OnCpu0::bind();
    FRONT.clear();
    let n = ncpus();
    for c in 0..n {
        gated(c, GATE_FRONT);
    }
    wait_until("the three threads on every CPU", 30, || (0..n).all(|c| FRONT.len(c) == 3))?;
    for c in 0..n {
        let got = FRONT.get(c);
        ensure!(
            got == [EV_R, EV_A, EV_B],
            "cpu {c}: events {got:?}, expected [R, A, B] = [{EV_R}, {EV_A}, {EV_B}] (A preempted by R, then A before B)"
        );
    }
    invariants()
}

// ---------------------------------------------------------------------------------
// yield gives way to equal or higher priorities only.

static HIGH_DONE: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
static LOW_RAN: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
static EQUAL_RAN: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
static YIELD_ERR: DispLock<Option<String>> = DispLock::new(None);

fn yield_fail(msg: String) {
    YIELD_ERR.lock().get_or_insert(msg);
}

fn build_yield(cpu: usize) {
    spawn("yield-high", yield_high, cpu, SchedClass::Sys, 70, Some(cpu));
    spawn("yield-low", yield_low, cpu, SchedClass::Ts, 29, Some(cpu));
}

fn yield_high(cpu: usize) {
    for _ in 0..50 {
        disp::yield_now();
        if LOW_RAN[cpu].load(SeqCst) {
            yield_fail(format!("cpu {cpu}: a yield of a SYS 70 thread let a TS 29 thread run"));
        }
    }
    spawn("yield-equal", yield_equal, cpu, SchedClass::Sys, 70, Some(cpu));
    if EQUAL_RAN[cpu].load(SeqCst) {
        yield_fail(format!("cpu {cpu}: an equal-priority thread preempted the running one"));
    }
    disp::yield_now();
    if !EQUAL_RAN[cpu].load(SeqCst) {
        yield_fail(format!(
            "cpu {cpu}: a yield did not give way to a waiting equal-priority thread"
        ));
    }
    HIGH_DONE[cpu].store(true, SeqCst);
}

fn yield_equal(cpu: usize) {
    EQUAL_RAN[cpu].store(true, SeqCst);
}

fn yield_low(cpu: usize) {
    if !HIGH_DONE[cpu].load(SeqCst) {
        yield_fail(format!(
            "cpu {cpu}: a TS 29 thread ran while a SYS 70 thread was runnable there"
        ));
    }
    LOW_RAN[cpu].store(true, SeqCst);
}

/// `yield` passes the CPU to a waiting thread of the same priority, never to a lower
/// one: a SYS thread yielding 50 times over a queued TS thread keeps its CPU, and one
/// yield lets an equal SYS thread (which did not preempt it) run.
fn yield_gives_way_only_to_equal_or_higher() -> TestResult {
    let _cpu0 = OnCpu0::bind();
    let n = ncpus();
    for c in 0..n {
        HIGH_DONE[c].store(false, SeqCst);
        LOW_RAN[c].store(false, SeqCst);
        EQUAL_RAN[c].store(false, SeqCst);
    }
    *YIELD_ERR.lock() = None;
    for c in 0..n {
        gated(c, GATE_YIELD);
    }
    wait_until("the yielding threads", 30, || {
        (0..n).all(|c| LOW_RAN[c].load(SeqCst) && HIGH_DONE[c].load(SeqCst))
    })?;
    if let Some(e) = YIELD_ERR.lock().take() {
        return Err(e);
    }
    invariants()
}

// ---------------------------------------------------------------------------------
// An RT thread made runnable preempts a TS thread at once.

static RT_RAN: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
static RT_SAW_TS_QUEUED: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
static TS_THREAD: [StaticRef<KThread>; MAX_CPUS] = [const { StaticRef::none() }; MAX_CPUS];
static LOCAL_ERR: DispLock<Option<String>> = DispLock::new(None);
static LOCAL_DONE: AtomicUsize = AtomicUsize::new(0);
const LOCAL_ROUNDS: usize = 3;

fn local_ts(cpu: usize) {
    TS_THREAD[cpu].set(Some(curthread()));
    for round in 0..LOCAL_ROUNDS {
        RT_RAN[cpu].store(false, SeqCst);
        RT_SAW_TS_QUEUED[cpu].store(false, SeqCst);
        spawn("local-rt", local_rt, cpu, SchedClass::Rt, 100, Some(cpu));
        // setrun has returned: the RT thread must have run already, in between.
        if !RT_RAN[cpu].load(SeqCst) {
            LOCAL_ERR.lock().get_or_insert(format!(
                "cpu {cpu} round {round}: setrun of an RT thread returned before it ran"
            ));
        } else if !RT_SAW_TS_QUEUED[cpu].load(SeqCst) {
            LOCAL_ERR.lock().get_or_insert(format!(
                "cpu {cpu} round {round}: the preempted TS thread was not waiting on a queue"
            ));
        }
        for _ in 0..10 {
            work();
        }
    }
    LOCAL_DONE.fetch_add(1, SeqCst);
}

fn local_rt(cpu: usize) {
    if this_cpu() != cpu {
        LOCAL_ERR
            .lock()
            .get_or_insert(format!("an RT thread bound to cpu {cpu} ran on cpu {}", this_cpu()));
    }
    let ts = TS_THREAD[cpu].get().expect("the TS thread");
    RT_SAW_TS_QUEUED[cpu].store(ts.state() == ThreadState::Run && !disp::is_running(ts), SeqCst);
    RT_RAN[cpu].store(true, SeqCst);
}

/// A TS thread that makes an RT thread runnable on its own CPU is preempted at once:
/// the RT thread has run, and the TS thread waited on its queue meanwhile, by the
/// time `setrun` returns to the TS thread.
fn rt_preempts_ts_at_once_on_its_cpu() -> TestResult {
    let _cpu0 = OnCpu0::bind();
    *LOCAL_ERR.lock() = None;
    LOCAL_DONE.store(0, SeqCst);
    let n = ncpus();
    for (c, slot) in TS_THREAD.iter().enumerate().take(n) {
        slot.set(None);
        spawn("local-ts", local_ts, c, SchedClass::Ts, class::TS_DEFAULT_PRI, Some(c));
    }
    wait_until("the TS threads", 30, || LOCAL_DONE.load(SeqCst) == n)?;
    if let Some(e) = LOCAL_ERR.lock().take() {
        return Err(e);
    }
    invariants()
}

static REMOTE_STOP: AtomicBool = AtomicBool::new(false);
static REMOTE_SPINS: AtomicU64 = AtomicU64::new(0);
static REMOTE_DONE: AtomicUsize = AtomicUsize::new(0);
static REMOTE_RT_TICKS: AtomicU64 = AtomicU64::new(u64::MAX);
static REMOTE_RT_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);
static REMOTE_RT_SAW_QUEUED: AtomicBool = AtomicBool::new(false);
static REMOTE_VICTIM: StaticRef<KThread> = StaticRef::none();
const REMOTE_TRIALS: usize = 8;

fn remote_victim(_: usize) {
    REMOTE_VICTIM.set(Some(curthread()));
    while !REMOTE_STOP.load(SeqCst) {
        work();
        REMOTE_SPINS.fetch_add(1, SeqCst);
    }
    REMOTE_DONE.fetch_add(1, SeqCst);
}

fn remote_rt(_: usize) {
    let c = this_cpu();
    REMOTE_RT_CPU.store(c, SeqCst);
    let victim = REMOTE_VICTIM.get().expect("the victim");
    REMOTE_RT_SAW_QUEUED
        .store(victim.state() == ThreadState::Run && !disp::is_running(victim), SeqCst);
    REMOTE_RT_TICKS.store(cpu_by_id(c).ticks(), SeqCst);
}

/// An RT thread made runnable on another CPU, where a SYS thread (which the clock
/// never slices) runs, preempts it by the cross-call: it runs there before that CPU's
/// next clock tick. Without the cross-call it would wait for the tick every time;
/// with it, it does not. (Eight trials, of which one must beat the tick: on the
/// parallel simulation a loaded host may deliver the cross-call late now and then.)
/// Needs two CPUs; passes trivially on one.
fn rt_preempts_remote_cpu_by_cross_call() -> TestResult {
    let _cpu0 = OnCpu0::bind();
    let n = ncpus();
    if n < 2 {
        return Ok(());
    }
    remote_trials(n)?;
    invariants()
}

fn remote_trials(n: usize) -> TestResult {
    let mut report = Vec::new();
    for c in 1..n {
        REMOTE_STOP.store(false, SeqCst);
        REMOTE_SPINS.store(0, SeqCst);
        REMOTE_DONE.store(0, SeqCst);
        REMOTE_VICTIM.set(None);
        spawn("victim", remote_victim, c, SchedClass::Sys, 65, Some(c));
        let mut before_tick = 0;
        let mut result = wait_until("the SYS thread to spin", 30, || REMOTE_SPINS.load(SeqCst) > 0);
        for trial in 0..REMOTE_TRIALS {
            if result.is_err() {
                break;
            }
            REMOTE_RT_TICKS.store(u64::MAX, SeqCst);
            REMOTE_RT_CPU.store(usize::MAX, SeqCst);
            REMOTE_RT_SAW_QUEUED.store(false, SeqCst);
            // Start a quarter period after a tick of that CPU, so that its next tick is
            // most of a period away. (The CPUs' clocks may tick in phase, and this
            // thread wakes from its sleeps on CPU 0's ticks.)
            result = after_a_tick(c);
            if result.is_err() {
                break;
            }
            let ticks0 = cpu_by_id(c).ticks();
            spawn("remote-rt", remote_rt, 0, SchedClass::Rt, 100, Some(c));
            result = wait_until("the RT thread", 30, || REMOTE_RT_TICKS.load(SeqCst) != u64::MAX);
            if result.is_err() {
                break;
            }
            let (at, on) = (REMOTE_RT_TICKS.load(SeqCst), REMOTE_RT_CPU.load(SeqCst));
            if on != c {
                result =
                    Err(format!("trial {trial}: an RT thread bound to cpu {c} ran on cpu {on}"));
                break;
            }
            if !REMOTE_RT_SAW_QUEUED.load(SeqCst) {
                result = Err(format!(
                    "trial {trial}: cpu {c}'s SYS thread was not preempted onto its queue"
                ));
                break;
            }
            before_tick += usize::from(at == ticks0);
            report.push(at - ticks0);
        }
        let joined = stop_and_join(&REMOTE_STOP, &REMOTE_DONE, 1, "the SYS thread to stop");
        result?;
        joined?;
        ensure!(
            before_tick > 0,
            "cpu {c}: the RT thread ran before the next clock tick in none of {REMOTE_TRIALS} trials \
             (ticks waited per trial: {report:?}): the cross-call does not preempt"
        );
    }
    Ok(())
}

/// Spins (making machine calls) until CPU `c` has just taken a clock tick and a
/// quarter of a clock period has passed since.
fn after_a_tick(c: usize) -> TestResult {
    let period = 1_000_000_000 / u64::from(clock::hz());
    let deadline = M::now_ns() + 10_000_000_000;
    let t = cpu_by_id(c).ticks();
    while cpu_by_id(c).ticks() == t {
        ensure!(
            M::now_ns() < deadline,
            "cpu {c} took no clock tick for 10 s; {}",
            dispatcher_state()
        );
        work();
    }
    let at = M::now_ns() + period / 4;
    while M::now_ns() < at {
        work();
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Round robin.

const RR_THREADS: usize = 3;
const RR_ROUNDS: usize = 20;
static RR_LOG: Logs<{ RR_THREADS * RR_ROUNDS }> = Logs::new();
static RR_LBOLT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

fn build_rr(cpu: usize) {
    RR_LBOLT[cpu].store(clock::lbolt(), SeqCst);
    for k in 0..RR_THREADS {
        spawn("rr-yield", rr_body, cpu * 16 + k, SchedClass::Rt, 110, Some(cpu));
    }
}

fn rr_body(arg: usize) {
    let (cpu, k) = (arg / 16, arg % 16);
    for _ in 0..RR_ROUNDS {
        RR_LOG.push(cpu, k + 1);
        work();
        disp::yield_now();
    }
}

/// Three RT threads of one priority on one CPU that yield after each step take their
/// steps in strict rotation, A B C A B C ...: `yield` puts a thread at the back of its
/// priority's queue.
fn round_robin_by_yield() -> TestResult {
    let _cpu0 = OnCpu0::bind();
    RR_LOG.clear();
    let n = ncpus();
    for c in 0..n {
        gated(c, GATE_RR);
    }
    wait_until("the yielding RT threads", 30, || {
        (0..n).all(|c| RR_LOG.len(c) == RR_THREADS * RR_ROUNDS)
    })?;
    let now = clock::lbolt();
    for (c, start) in RR_LBOLT.iter().enumerate().take(n) {
        let log = RR_LOG.get(c);
        for k in 1..=RR_THREADS {
            let steps = log.iter().filter(|&&x| x == k).count();
            ensure!(steps == RR_ROUNDS, "cpu {c}: thread {k} took {steps} steps of {RR_ROUNDS}");
        }
        // A quantum running out in between would also rotate, one step early; that
        // needs RT_QUANTUM ticks of running, far more than these steps take.
        if now - start.load(SeqCst) < RT_QUANTUM as u64 {
            let strict = log.iter().enumerate().all(|(i, &x)| x == log[i % RR_THREADS]);
            let first: Vec<usize> = log[..RR_THREADS].to_vec();
            ensure!(
                strict && first == [1, 2, 3],
                "cpu {c}: steps in the order {log:?}, not in rotation 1 2 3 1 2 3 ..."
            );
        }
    }
    invariants()
}

/// The groups of CPU-bound threads whose turns are counted: RT, then TS.
const QRR_GROUPS: usize = 2;
const QRR_THREADS: usize = 2;
/// Turns each thread must get.
const QRR_TURNS: u64 = 3;
const NOBODY: usize = usize::MAX;
static QRR_LAST: [AtomicUsize; QRR_GROUPS] = [const { AtomicUsize::new(NOBODY) }; QRR_GROUPS];
static QRR_TURN: [[AtomicU64; QRR_THREADS]; QRR_GROUPS] =
    [const { [const { AtomicU64::new(0) }; QRR_THREADS] }; QRR_GROUPS];
static QRR_DONE: AtomicUsize = AtomicUsize::new(0);

fn qrr_group_done(g: usize) -> bool {
    QRR_TURN[g].iter().all(|t| t.load(SeqCst) >= QRR_TURNS)
}

/// The RT pair; made runnable by a gate (the first would otherwise preempt the test
/// thread on its CPU, which would then never make the second runnable).
fn build_qrr(cpu: usize) {
    for k in 0..QRR_THREADS {
        spawn("rr-rt", qrr_body, k, SchedClass::Rt, 120, Some(cpu));
    }
}

fn qrr_body(arg: usize) {
    let (g, k) = (arg / 16, arg % 16);
    // Never yields, never sleeps: only the end of a quantum changes who runs.
    while !qrr_group_done(g) {
        work();
        if QRR_LAST[g].swap(k, SeqCst) != k {
            QRR_TURN[g][k].fetch_add(1, SeqCst);
        }
    }
    QRR_DONE.fetch_add(1, SeqCst);
}

/// CPU-bound threads of one priority that never yield take turns on their CPU, each
/// several times: two RT threads when their quantum ends (RT round robin), and two TS
/// threads as theirs ends and they sink through the priorities together. (RT on the
/// last CPU, TS on CPU 0; on one CPU the TS pair runs once the RT pair is done.)
fn round_robin_by_quantum_rt_and_ts() -> TestResult {
    let _cpu0 = OnCpu0::bind();
    for g in 0..QRR_GROUPS {
        QRR_LAST[g].store(NOBODY, SeqCst);
        for t in &QRR_TURN[g] {
            t.store(0, SeqCst);
        }
    }
    QRR_DONE.store(0, SeqCst);
    let (rt_cpu, ts_cpu) = (ncpus() - 1, 0);
    for k in 0..QRR_THREADS {
        spawn("rr-ts", qrr_body, 16 + k, SchedClass::Ts, class::TS_DEFAULT_PRI, Some(ts_cpu));
    }
    gated(rt_cpu, GATE_QRR);
    wait_until("every CPU-bound thread to get its turns", 60, || {
        QRR_DONE.load(SeqCst) == QRR_GROUPS * QRR_THREADS
    })
    .map_err(|e| {
        let turns: Vec<Vec<u64>> =
            QRR_TURN.iter().map(|g| g.iter().map(|t| t.load(SeqCst)).collect()).collect();
        format!("{e}; turns (RT, TS) = {turns:?}")
    })?;
    invariants()
}

// ---------------------------------------------------------------------------------
// Sleepers and the starved.

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

const SLEEPS: usize = 10;
/// Ticks a woken sleeper may wait for a CPU. Without its raised priority after the
/// sleep it would wait behind the CPU-bound threads for whole quanta every time (18
/// to over a hundred ticks, depending on where they have sunk). Most wakeups must be
/// this quick, not all: a loaded host can hold up the parallel simulation's CPUs.
const WAKE_LATENCY_MAX: u64 = 5;
/// Of the 11 wakeups, at least this many within `WAKE_LATENCY_MAX`.
const WAKE_QUICK_MIN: usize = 8;
/// The load's priority, above the sleeper's own (0) and below the one it wakes at.
const LOAD_PRI: u8 = 40;
static SLEEP_LAT: Logs<{ SLEEPS + 1 }> = Logs::new();
static SLEEPER_READY: AtomicBool = AtomicBool::new(false);
static SLEEPER_GO: AtomicBool = AtomicBool::new(false);
static SLEEPER_GO_AT: AtomicU64 = AtomicU64::new(0);
static SLEEPER_DONE: AtomicBool = AtomicBool::new(false);

fn go_chan() -> usize {
    &SLEEPER_GO as *const AtomicBool as usize
}

fn sleeper(_: usize) {
    SLEEPER_READY.store(true, SeqCst);
    // Asleep, off every run queue, until the load is in place: a thread that waited
    // on a run queue long enough would be boosted for good by the starvation sweep,
    // which would hide what this test is about.
    sleepq::sleep(go_chan(), || SLEEPER_GO.load(SeqCst));
    SLEEP_LAT.push(0, (clock::lbolt() - SLEEPER_GO_AT.load(SeqCst)) as usize);
    for _ in 0..SLEEPS {
        // Due when lbolt reaches `due` (a tick may pass between here and the sleep:
        // the latency may read one tick high).
        let due = clock::lbolt() + 2;
        sleepq::delay(2);
        SLEEP_LAT.push(0, (clock::lbolt().saturating_sub(due)) as usize);
        check_from_worker();
    }
    SLEEPER_DONE.store(true, SeqCst);
}

/// A TS thread of priority 0 that sleeps is not starved by CPU-bound TS threads of
/// priority 40: each time it wakes (once by a wakeup, then ten times from timed
/// sleeps) it runs within a few ticks, because it returns from the sleep at a high TS
/// priority (`slpret`), above them. It is bound to the last CPU, two of them to each
/// CPU. Its timed wakeups come from CPU 0's clock, and reach its CPU by a cross-call.
fn sleeper_not_starved_by_cpu_bound_load() -> TestResult {
    let _cpu0 = OnCpu0::bind();
    LOAD_STOP.store(false, SeqCst);
    LOAD_DONE.store(0, SeqCst);
    LOAD_SPINS.store(0, SeqCst);
    SLEEP_LAT.clear();
    SLEEPER_READY.store(false, SeqCst);
    SLEEPER_GO.store(false, SeqCst);
    SLEEPER_DONE.store(false, SeqCst);
    *BROKEN.lock() = None;
    let c = ncpus() - 1;
    // The sleeper first: at priority 0 it could not start under the load.
    spawn("sleeper", sleeper, 0, SchedClass::Ts, 0, Some(c));
    // Asleep on its channel, not merely started: made runnable but preempted before
    // it slept, it would wait on a run queue under the load.
    let mut r = wait_until("the sleeper to sleep", 30, || {
        SLEEPER_READY.load(SeqCst) && sleepq::sleepers(go_chan()) == 1
    });
    // Two per CPU, bound: unbound ones could pile up on one CPU and wait there long
    // enough for the starvation sweep to boost them above the sleeper, legitimately.
    let nload = 2 * ncpus();
    let load: Vec<&KThread> = (0..nload)
        .map(|k| spawn("load", load_body, 0, SchedClass::Ts, LOAD_PRI, Some(k % ncpus())))
        .collect();
    if r.is_ok() {
        // Every load thread has run: the CPU-bound threads compete with the sleeper.
        r = wait_until("every load thread to run", 30, || load.iter().all(|t| t.nswitch() > 0));
    }
    SLEEPER_GO_AT.store(clock::lbolt(), SeqCst);
    SLEEPER_GO.store(true, SeqCst);
    sleepq::wakeup(go_chan());
    if r.is_ok() {
        r = wait_until("the sleeper's sleeps", 60, || SLEEPER_DONE.load(SeqCst))
            .map_err(|e| format!("{e}; wakeup latencies so far {:?}", SLEEP_LAT.get(0)));
    }
    let joined = stop_and_join(&LOAD_STOP, &LOAD_DONE, nload, "the load to stop");
    r?;
    joined?;
    broken()?;
    let lat = SLEEP_LAT.get(0);
    let quick = lat.iter().filter(|&&l| l as u64 <= WAKE_LATENCY_MAX).count();
    ensure!(
        lat.len() == SLEEPS + 1 && quick >= WAKE_QUICK_MIN,
        "the sleeper waited {lat:?} ticks for a CPU after its wakeups ({quick} within {WAKE_LATENCY_MAX}, \
         {WAKE_QUICK_MIN} needed)"
    );
    invariants()
}

const BOOST_HOGS: usize = 3;
static BOOST_STOP: AtomicBool = AtomicBool::new(false);
static BOOST_DONE: AtomicUsize = AtomicUsize::new(0);
static BOOST_HOG: [StaticRef<KThread>; BOOST_HOGS] = [const { StaticRef::none() }; BOOST_HOGS];
/// The starved thread's priority when it first ran (0: not yet), plus one.
static BOOST_PRI: AtomicUsize = AtomicUsize::new(0);
static BOOST_HOG_MAXPRI: AtomicUsize = AtomicUsize::new(0);
static BOOST_WAITED: AtomicU64 = AtomicU64::new(0);
static BOOST_START: AtomicU64 = AtomicU64::new(0);

fn build_boost(cpu: usize) {
    BOOST_START.store(clock::lbolt(), SeqCst);
    for (k, slot) in BOOST_HOG.iter().enumerate() {
        slot.set(Some(spawn("hog", boost_hog, k, SchedClass::Ts, class::TS_MAXPRI, Some(cpu))));
    }
    spawn("starved", boost_starved, 0, SchedClass::Ts, 0, Some(cpu));
}

fn boost_hog(_: usize) {
    while !BOOST_STOP.load(SeqCst) {
        work();
    }
    BOOST_DONE.fetch_add(1, SeqCst);
}

fn boost_starved(_: usize) {
    let hogs = BOOST_HOG
        .iter()
        .filter_map(StaticRef::get)
        .map(|t| usize::from(t.pri()))
        .max()
        .unwrap_or(0);
    BOOST_HOG_MAXPRI.store(hogs, SeqCst);
    BOOST_WAITED.store(clock::lbolt() - BOOST_START.load(SeqCst), SeqCst);
    BOOST_PRI.store(usize::from(curthread().pri()) + 1, SeqCst);
    BOOST_DONE.fetch_add(1, SeqCst);
}

/// A TS thread at priority 0 on a CPU kept busy by three CPU-bound TS threads that
/// start at 59 is not starved: after waiting `maxwait` ticks the once-a-second sweep
/// boosts it to `lwait`, and it runs at that priority while the CPU-bound threads are
/// still above 0 (before plain round robin at priority 0 could have let it run).
fn starved_ts_thread_is_boosted() -> TestResult {
    let _cpu0 = OnCpu0::bind();
    BOOST_STOP.store(false, SeqCst);
    BOOST_DONE.store(0, SeqCst);
    BOOST_PRI.store(0, SeqCst);
    BOOST_HOG_MAXPRI.store(0, SeqCst);
    let cpu = ncpus() - 1;
    gated(cpu, GATE_BOOST);
    let r = wait_until("the starved thread to run", 60, || BOOST_PRI.load(SeqCst) != 0);
    BOOST_STOP.store(true, SeqCst);
    let joined = wait_until("the hogs to stop", 30, || BOOST_DONE.load(SeqCst) == BOOST_HOGS + 1);
    r?;
    joined?;
    let e = class::ts_dptbl(0);
    let (pri, hogs, waited) =
        (BOOST_PRI.load(SeqCst) - 1, BOOST_HOG_MAXPRI.load(SeqCst), BOOST_WAITED.load(SeqCst));
    ensure!(
        pri == usize::from(e.lwait),
        "the starved thread first ran at priority {pri} after {waited} ticks, not boosted to {}",
        e.lwait
    );
    ensure!(hogs > 0, "the CPU-bound threads had all sunk to 0 when the starved thread ran");
    ensure!(
        waited > e.maxwait,
        "the starved thread ran after {waited} ticks, before it had waited maxwait {}",
        e.maxwait
    );
    // The sweep runs once a second: it must have run by maxwait plus two seconds.
    let bound = e.maxwait + 2 * u64::from(clock::hz());
    ensure!(waited <= bound, "the starved thread waited {waited} ticks (at most {bound} expected)");
    invariants()
}

// ---------------------------------------------------------------------------------
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
fn bound_threads_stay_on_their_cpu() -> TestResult {
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
    let r = wait_until("the bound threads", 60, || BIND_DONE.load(SeqCst) == n);
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

fn build_steal(cpu: usize) {
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
fn idle_cpus_take_queued_threads() -> TestResult {
    let _cpu0 = OnCpu0::bind();
    let n = ncpus();
    STEAL_CPUS.store(0, SeqCst);
    STEAL_STOP.store(false, SeqCst);
    STEAL_DONE.store(0, SeqCst);
    gated(n - 1, GATE_STEAL);
    let all = (1 << n) - 1;
    let r =
        wait_until("the queued threads to reach every CPU", 30, || STEAL_CPUS.load(SeqCst) == all)
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
fn every_runnable_thread_runs() -> TestResult {
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
    wait_until("every thread of the crowd to finish", 60, || LIVE_DONE.load(SeqCst) == n).map_err(
        |e| {
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
        },
    )?;
    broken()?;
    invariants()
}
