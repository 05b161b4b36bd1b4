//! The kernel's side of the fuzzer (issue #9; S1, S13, S15, S16): runs of the
//! fuzzer (`lwp_fuzz`, a user program) in processes of their own, a few at a time,
//! beside a guard process, and the checks that each run ended with the wait status
//! its fate says, that the guard is intact (still active while they run; its own
//! checks of its memory and LWPs; exit 0 when told), and that the kernel's memory
//! is back afterwards (no thread, LWP, process or callout left, no heap grown);
//! and, at every tick meanwhile, that the dispatcher's queues are consistent.
//!
//! Each machine says how to start the fuzzer ([`Programs`]): the sparc64 image runs
//! the `fuzz` program it carries, the host simulation its fuzzing program. A run
//! that takes too long is reported with the state of each of its LWPs.
//!
//! Runs are numbered from a first seed: the `i`th has seed `seed + i`, [`PER_PROC`]
//! calls (the last may have fewer) and the fate of its seed, so that a failure
//! names the seed and call count that replay it alone ([`Programs::replay`]).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use arch::Machine;
use kern::proc::{self, PStat, Pid, WaitStatus};
use kern::{kprintln, lwp, rctl, sleepq, M};
use lwp_fuzz::{Ending, Role};

use crate::{dispatcher_state, memory_back, reap, wait_for, TestResult};

/// How a machine starts the fuzzer's processes.
pub trait Programs {
    /// Starts a process of the fuzzer with argument `arg` (`lwp_fuzz::Role::arg`).
    fn start(&self, arg: u64) -> Result<Pid, String>;
    /// The guard's mailbox (`lwp_fuzz::Layout::mailbox`), in its address space.
    fn mailbox(&self) -> u64;
    /// The command that runs the run of `seed` with `calls` calls alone.
    fn replay(&self, seed: u32, calls: u32) -> String;
}

/// Calls per process.
pub const PER_PROC: u32 = 2500;
/// Processes of the fuzzer at a time (and the guard).
pub const AT_ONCE: usize = 4;
/// The LWP limit per process while the fuzzer runs (unless the boot arguments set
/// one): storms reach it.
const LWPS_PER_PROC: u32 = 48;
/// Machine time a process may take.
const PROC_SECS: u64 = 120;

/// The boot argument `fuzz=SEED,COUNT`: `COUNT` calls from seed `SEED`.
pub fn bootarg() -> Option<(u32, u64)> {
    let (seed, count) = kern::boot::bootarg(M::boot_args(), "fuzz")?.split_once(',')?;
    Some((seed.parse().ok()?, count.parse().ok()?))
}

/// Runs `count` calls in processes of the fuzzer from seed `seed`, [`AT_ONCE`] at a
/// time beside the guard, and checks them, the guard, and the kernel's memory.
pub fn run(m: &dyn Programs, seed: u32, count: u64) -> TestResult {
    let limits = rctl::limits();
    let lwps_per_proc = match kern::boot::bootarg(M::boot_args(), "lwps_per_proc") {
        Some(_) => limits.lwps_per_proc,
        None => limits.lwps_per_proc.min(LWPS_PER_PROC),
    };
    let old = rctl::set(rctl::Limits { lwps_per_proc, ..limits });
    let r = run_limited(m, seed, count);
    rctl::set(old);
    r
}

fn run_limited(m: &dyn Programs, seed: u32, count: u64) -> TestResult {
    let before = kern::kmem::census();
    let t0 = M::now_ns();
    let guard = m.start(Role::Guard.arg())?;
    let result = wait_for("the guard's LWPs", 10, || lwpcnt(guard) >= 4)
        .and_then(|()| runs(m, guard, seed, count));
    let stopped = stop_guard(m, guard);
    let nprocs = result?;
    stopped?;
    memory_back(&before)?;
    let secs = (M::now_ns() - t0) / 1_000_000_000;
    kprintln!(
        "fuzz: {nprocs} processes, {count} calls from seed {seed} in {secs} s: each ended as \
         its fate says, the guard is intact, the kernel's memory is back"
    );
    Ok(())
}

fn lwpcnt(pid: Pid) -> u32 {
    proc::prfind(pid).map_or(0, |p| p.lwpcnt())
}

/// A process of the fuzzer that runs.
struct Running {
    pid: Pid,
    role: Role,
    since: u64,
}

/// Runs the processes, [`AT_ONCE`] at a time; how many there were. After a failure
/// no new one starts, and the others are waited for before it is returned.
fn runs(m: &dyn Programs, guard: Pid, seed: u32, count: u64) -> Result<u64, String> {
    let nprocs = count.div_ceil(u64::from(PER_PROC));
    let mut running: Vec<Running> = Vec::new();
    let mut next = 0;
    let mut failure = None;
    while (next < nprocs && failure.is_none()) || !running.is_empty() {
        while running.len() < AT_ONCE && next < nprocs && failure.is_none() {
            let calls = (count - next * u64::from(PER_PROC)).min(u64::from(PER_PROC)) as u32;
            let role = Role::run(seed.wrapping_add(next as u32), calls);
            match m.start(role.arg()) {
                Ok(pid) => running.push(Running { pid, role, since: M::now_ns() }),
                Err(e) => failure = Some(format!("{role}: {e}")),
            }
            next += 1;
        }
        sleepq::delay(1);
        // The dispatcher's queues stay consistent under the load, at every tick.
        if let Err(e) = kern::disp::check_invariants() {
            return Err(format!("while the fuzzer runs: {e}"));
        }
        let stat = proc::prfind(guard).map(|p| p.stat());
        if stat != Some(PStat::Active) && failure.is_none() {
            failure = Some(format!("the guard {guard} is {stat:?} while the fuzzer runs"));
        }
        let mut i = 0;
        while i < running.len() {
            let r = &running[i];
            let zombie = proc::prfind(r.pid).is_some_and(|p| p.stat() == PStat::Zombie);
            if zombie {
                let r = running.swap_remove(i);
                if let Err(e) = check_ending(m, &r) {
                    failure.get_or_insert(e);
                }
                continue;
            }
            if M::now_ns() - r.since > PROC_SECS * 1_000_000_000 {
                return Err(format!(
                    "{} ({}) did not end within {PROC_SECS} s: {}; {}",
                    r.pid,
                    r.role,
                    lwp_states(r.pid),
                    dispatcher_state()
                ));
            }
            i += 1;
        }
    }
    failure.map_or(Ok(nprocs), Err)
}

/// Reaps a process that has ended and compares its status with its fate's.
fn check_ending(m: &dyn Programs, r: &Running) -> TestResult {
    let got = reap(r.pid)?;
    let Role::Fuzz { seed, calls, fate } = r.role else { return Ok(()) };
    let want = match fate.ending() {
        Ending::Exited(code) => WaitStatus::Exited(code),
        Ending::Killed(sig) => WaitStatus::Killed(sig),
    };
    if got == want {
        return Ok(());
    }
    Err(format!(
        "{} ({}) ended {got:?}, expected {want:?} (its line above says why); \
         replay it alone: {}",
        r.pid,
        r.role,
        m.replay(seed, calls)
    ))
}

/// Each LWP of process `pid`: its thread's state and priority, how often it has
/// been switched, its system call (the last one: S5.2), what it sleeps on, what it
/// was asked.
fn lwp_states(pid: Pid) -> String {
    let Some(p) = proc::prfind(pid) else { return format!("{pid} is gone") };
    let mut s = format!("{p:?}:");
    for id in p.lwp_ids() {
        let Some(t) = lwp::idtot(p, id) else {
            s += &format!(" [{id}: zombie]");
            continue;
        };
        let call = lwp::idtolwp(p, id).and_then(|l| l.with_data(|d| d.lwp_sysnum));
        s += &format!(
            " [{id}: {:?}, pri {}, {} switches, call {call:?}, wchan {:?}, {:?}]",
            t.state(),
            t.pri(),
            t.nswitch(),
            t.wchan(),
            t.proc_flag()
        );
    }
    s
}

/// Tells the guard to end (its mailbox) and checks that it exits 0.
fn stop_guard(m: &dyn Programs, guard: Pid) -> TestResult {
    // A guard that has died already has no address space: its status says why.
    if let Some(space) = proc::prfind(guard).and_then(|p| p.addr_space()) {
        M::as_write(&space, m.mailbox(), &1u64.to_be_bytes())
            .map_err(|e| format!("the guard's mailbox: {e:?}"))?;
    }
    wait_for("the guard to exit", 10, || {
        proc::prfind(guard).is_none_or(|p| p.stat() == PStat::Zombie)
    })?;
    let status = reap(guard)?;
    if status != WaitStatus::Exited(0) {
        return Err(format!("the guard ended {status:?} (its line above says why)"));
    }
    Ok(())
}
