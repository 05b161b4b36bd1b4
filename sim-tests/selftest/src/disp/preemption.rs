//! Priorities and preemption (S3): the highest priority runs first, FIFO within a
//! priority; a preempted thread resumes first; a yield gives way only to equal or
//! higher priorities; an RT thread preempts at once on its own CPU, and on another
//! CPU by a cross-call.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};

use arch::cell::StaticRef;
use arch::Machine;

use crate::{dispatcher_state, ensure, ensure_eq, spawn, TestResult};
use kern::class::{self, SchedClass};
use kern::cpu::{cpu_by_id, MAX_CPUS};
use kern::sync::Mutex;
use kern::thread::{curthread, KThread, ThreadState};
use kern::{clock, disp, M};

use super::{
    gated, invariants, ncpus, stop_and_join, this_cpu, wait_checked, work, Logs, OnCpu0,
    GATE_FRONT, GATE_PRIORITY_ORDER, GATE_YIELD,
};

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

pub(super) fn build_priority_order(cpu: usize) {
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
pub(super) fn highest_priority_runs_first() -> TestResult {
    let _cpu0 = OnCpu0::bind();
    ORDER.clear();
    WRONG_CPU.store(0, SeqCst);
    let n = ncpus();
    for c in 0..n {
        gated(c, GATE_PRIORITY_ORDER);
    }
    wait_checked("every thread to run", 30, || (0..n).all(|c| ORDER.len(c) == PRI_SET.len()))?;
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

pub(super) fn build_front(cpu: usize) {
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
pub(super) fn preempted_thread_resumes_first() -> TestResult {
    let _cpu0 = OnCpu0::bind();
    FRONT.clear();
    let n = ncpus();
    for c in 0..n {
        gated(c, GATE_FRONT);
    }
    wait_checked("the three threads on every CPU", 30, || (0..n).all(|c| FRONT.len(c) == 3))?;
    for c in 0..n {
        let got = FRONT.get(c);
        ensure!(
            got == [EV_R, EV_A, EV_B],
            "cpu {c}: events {got:?}, expected [R, A, B] = [{EV_R}, {EV_A}, {EV_B}] \
             (A preempted by R, then A before B)"
        );
    }
    invariants()
}

// ---------------------------------------------------------------------------------
// yield gives way to equal or higher priorities only.

static HIGH_DONE: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
static LOW_RAN: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
static EQUAL_RAN: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
static YIELD_ERR: Mutex<Option<String>> = Mutex::new(None);

fn yield_fail(msg: String) {
    YIELD_ERR.lock().get_or_insert(msg);
}

pub(super) fn build_yield(cpu: usize) {
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
pub(super) fn yield_gives_way_only_to_equal_or_higher() -> TestResult {
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
    wait_checked("the yielding threads", 30, || {
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
static LOCAL_ERR: Mutex<Option<String>> = Mutex::new(None);
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
pub(super) fn rt_preempts_ts_at_once_on_its_cpu() -> TestResult {
    let _cpu0 = OnCpu0::bind();
    *LOCAL_ERR.lock() = None;
    LOCAL_DONE.store(0, SeqCst);
    let n = ncpus();
    for (c, slot) in TS_THREAD.iter().enumerate().take(n) {
        slot.set(None);
        spawn("local-ts", local_ts, c, SchedClass::Ts, class::TS_DEFAULT_PRI, Some(c));
    }
    wait_checked("the TS threads", 30, || LOCAL_DONE.load(SeqCst) == n)?;
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
pub(super) fn rt_preempts_remote_cpu_by_cross_call() -> TestResult {
    let _cpu0 = OnCpu0::bind();
    let n = ncpus();
    if n < 2 {
        crate::skip!("one CPU: no other CPU to send a cross-call to");
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
        let mut result =
            wait_checked("the SYS thread to spin", 30, || REMOTE_SPINS.load(SeqCst) > 0);
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
            result = wait_checked("the RT thread", 30, || REMOTE_RT_TICKS.load(SeqCst) != u64::MAX);
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
            "cpu {c}: the RT thread ran before the next clock tick in none of \
             {REMOTE_TRIALS} trials (ticks waited per trial: {report:?}): the cross-call \
             does not preempt"
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
