//! Sharing a CPU (S3): round robin by yield and by quantum, a sleeper not starved
//! by CPU-bound threads, a starved time-sharing thread boosted.

use alloc::format;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};

use arch::cell::StaticRef;

use crate::{ensure, spawn, TestResult};
use kern::class::{self, SchedClass, RT_QUANTUM};
use kern::cpu::MAX_CPUS;
use kern::thread::{curthread, KThread};
use kern::{clock, disp, sleepq};

use super::{
    broken, check_from_worker, gated, invariants, load_body, ncpus, stop_and_join, wait_checked,
    work, Logs, OnCpu0, BROKEN, GATE_BOOST, GATE_QRR, GATE_RR, LOAD_DONE, LOAD_SPINS, LOAD_STOP,
};

// Round robin.

const RR_THREADS: usize = 3;
const RR_ROUNDS: usize = 20;
static RR_LOG: Logs<{ RR_THREADS * RR_ROUNDS }> = Logs::new();
static RR_LBOLT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

pub(super) fn build_rr(cpu: usize) {
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
pub(super) fn round_robin_by_yield() -> TestResult {
    let _cpu0 = OnCpu0::bind();
    RR_LOG.clear();
    let n = ncpus();
    for c in 0..n {
        gated(c, GATE_RR);
    }
    wait_checked("the yielding RT threads", 30, || {
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
pub(super) fn build_qrr(cpu: usize) {
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
pub(super) fn round_robin_by_quantum_rt_and_ts() -> TestResult {
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
    wait_checked("every CPU-bound thread to get its turns", 60, || {
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
pub(super) fn sleeper_not_starved_by_cpu_bound_load() -> TestResult {
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
    let mut r = wait_checked("the sleeper to sleep", 30, || {
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
        r = wait_checked("every load thread to run", 30, || load.iter().all(|t| t.nswitch() > 0));
    }
    SLEEPER_GO_AT.store(clock::lbolt(), SeqCst);
    SLEEPER_GO.store(true, SeqCst);
    sleepq::wakeup(go_chan());
    if r.is_ok() {
        r = wait_checked("the sleeper's sleeps", 60, || SLEEPER_DONE.load(SeqCst))
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
        "the sleeper waited {lat:?} ticks for a CPU after its wakeups \
         ({quick} within {WAKE_LATENCY_MAX}, {WAKE_QUICK_MIN} needed)"
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

pub(super) fn build_boost(cpu: usize) {
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
/// start at 59 is not starved: after waiting `maxwait` seconds (0) the once-a-second sweep
/// boosts it to `lwait`, and it runs at that priority while the CPU-bound threads are
/// still above 0 (before plain round robin at priority 0 could have let it run).
pub(super) fn starved_ts_thread_is_boosted() -> TestResult {
    let _cpu0 = OnCpu0::bind();
    BOOST_STOP.store(false, SeqCst);
    BOOST_DONE.store(0, SeqCst);
    BOOST_PRI.store(0, SeqCst);
    BOOST_HOG_MAXPRI.store(0, SeqCst);
    let cpu = ncpus() - 1;
    gated(cpu, GATE_BOOST);
    let r = wait_checked("the starved thread to run", 60, || BOOST_PRI.load(SeqCst) != 0);
    BOOST_STOP.store(true, SeqCst);
    let joined = wait_checked("the hogs to stop", 30, || BOOST_DONE.load(SeqCst) == BOOST_HOGS + 1);
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
    // maxwait is in seconds, rounded: boosted once it waited more than that.
    let hz = u64::from(clock::hz());
    let maxwait = u64::from(e.maxwait) * hz + hz / 2;
    ensure!(
        waited >= maxwait,
        "the starved thread ran after {waited} ticks, before it had waited maxwait {} s",
        e.maxwait
    );
    // The sweep runs once a second: it must have run by maxwait plus two seconds.
    let bound = maxwait + 2 * hz;
    ensure!(waited <= bound, "the starved thread waited {waited} ticks (at most {bound} expected)");
    invariants()
}
