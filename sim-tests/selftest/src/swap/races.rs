//! Swapping races (S5, S3): busy and sleeping LWPs of several processes,
//! suspended and continued, one process exiting under them, while everything
//! swappable goes out again and again — each LWP runs only with its own `lwp`
//! structure. The seeded sweep runs it on a disk that fails by chance.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arch::Machine;

use super::with_mode;
use crate::lwp::reap_within;
use crate::portable::{rec, rec_by_loop};
use crate::{ensure, ensure_eq, TestResult};
use kern::lwp::{lwp_continue, lwp_create, lwp_suspend, lwp_wait, stop_point, LwpFlags};
use kern::proc::life::{proc_create, proc_exit};
use kern::proc::{prfind, WaitStatus};
use kern::swap::{self, Mode};
use kern::sync::Mutex;
use kern::thread::{curlwp, curproc};
use kern::{sleepq, M};

const RACE_PROCS: usize = 3;
const RACE_WORKERS: usize = 3;
const RACE_ROUNDS: u64 = 20;

/// Wrong things the workers saw.
static RACE_BAD: AtomicU64 = AtomicU64::new(0);
static RACE_WHY: Mutex<Option<String>> = Mutex::new(None);
/// Rounds each worker finished (a worker runs its rounds once: never twice).
static RACE_ROUND: [AtomicU64; RACE_PROCS * RACE_WORKERS] =
    [const { AtomicU64::new(0) }; RACE_PROCS * RACE_WORKERS];
static RACE_FINISHED: [AtomicBool; RACE_PROCS * RACE_WORKERS] =
    [const { AtomicBool::new(false) }; RACE_PROCS * RACE_WORKERS];

fn race_bad(why: String) {
    RACE_BAD.fetch_add(1, Ordering::SeqCst);
    RACE_WHY.lock().get_or_insert(why);
}

/// A worker: rounds of deep recursion (register windows) checked against a loop,
/// short sleeps (where it may go out), stop points; its `lwp` structure carries its
/// round from one to the next, and must still carry it after every sleep.
fn race_worker(n: usize) {
    for round in 0..RACE_ROUNDS {
        let carried = curlwp().and_then(|l| {
            l.with_data(|d| {
                let was = (d.lwp_arg[0], d.lwp_ru.msgsnd, d.lwp_utime);
                d.lwp_arg[0] = n as u64 + 1;
                d.lwp_ru.msgsnd = round;
                d.lwp_utime = 1000 * n as u64 + round;
                was
            })
        });
        let want = match round {
            0 => Some((0, 0, 0)),
            r => Some((n as u64 + 1, r - 1, 1000 * n as u64 + r - 1)),
        };
        if carried != want {
            race_bad(format!(
                "worker {n} round {round}: its structure holds {carried:?}, not {want:?}"
            ));
        }
        let seed = (n as u64) << 32 | round;
        let depth = 20 + 10 * (n as u64 % 3);
        if rec(depth, seed) != rec_by_loop(depth, seed) {
            race_bad(format!("worker {n} round {round}: a register window changed"));
        }
        if RACE_ROUND[n].swap(round + 1, Ordering::SeqCst) != round {
            race_bad(format!("worker {n} ran round {round} twice or out of order"));
        }
        // The race needs swap-outs between rounds however slowly the disk goes (a
        // loaded host slows it against the clock): the sleep lasts until one more
        // has been made, by anyone, or 20 ticks have passed.
        let outs = swap::stats().swapouts;
        sleepq::delay(1 + (round % 2));
        for _ in 0..20 {
            if swap::stats().swapouts != outs {
                break;
            }
            sleepq::delay(1);
        }
        stop_point();
    }
    if RACE_FINISHED[n].swap(true, Ordering::SeqCst) {
        race_bad(format!("worker {n} finished twice"));
    }
}

/// LWP 1 of race process `k`: makes the workers, suspends and continues them in
/// turn while they work; process 0 exits (with 3) half-way, ending its workers
/// wherever they are — out, perhaps.
fn race_main(k: usize) {
    let Some(p) = curproc() else { return };
    let mut ids = [None; RACE_WORKERS];
    for (j, id) in ids.iter_mut().enumerate() {
        *id = lwp_create(p, race_worker, k * RACE_WORKERS + j, LwpFlags::empty()).ok();
    }
    let mut x = k as u64 + 1;
    for step in 0.. {
        if k == 0 && RACE_ROUND[0].load(Ordering::SeqCst) >= RACE_ROUNDS / 2 {
            proc_exit(3);
        }
        let done =
            (0..RACE_WORKERS).all(|j| RACE_FINISHED[k * RACE_WORKERS + j].load(Ordering::SeqCst));
        if done || step > 2000 {
            break;
        }
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        if let Some(id) = ids[(x >> 33) as usize % RACE_WORKERS] {
            if lwp_suspend(id).is_ok() {
                sleepq::delay(x >> 62);
                let _ = lwp_continue(id);
            }
        }
        sleepq::delay(1);
        // The process may be ending (killed for a structure that could not come back).
        stop_point();
    }
    if k == 0 {
        proc_exit(3);
    }
    for id in ids.into_iter().flatten() {
        let _ = lwp_wait(Some(id));
    }
}

/// Busy and sleeping LWPs of several processes, suspended and continued all along,
/// one process exiting under them, while everything swappable is swapped out again
/// and again (S5): every LWP runs only with its own structure (the dispatcher
/// checks it at every switch, the workers their structure's contents and their
/// register windows), none runs a round twice, every process ends as it should —
/// and, on a disk that fails by chance (the seeded sweep), a process ends killed
/// only for an LWP whose structure could not be read back.
pub(super) fn swap_races_with_suspends_and_kills() -> TestResult {
    need_device!();
    with_mode(Mode::Off, || {
        RACE_BAD.store(0, Ordering::SeqCst);
        *RACE_WHY.lock() = None;
        for n in 0..RACE_PROCS * RACE_WORKERS {
            RACE_ROUND[n].store(0, Ordering::SeqCst);
            RACE_FINISHED[n].store(false, Ordering::SeqCst);
        }
        let st0 = swap::stats();
        let mut pids = Vec::new();
        for k in 0..RACE_PROCS {
            pids.push(proc_create(race_main, k).map_err(|e| format!("proc_create: {e}"))?);
        }
        let deadline = M::now_ns() + 60_000_000_000;
        while pids
            .iter()
            .any(|&pid| prfind(pid).is_some_and(|p| p.stat() != kern::proc::PStat::Zombie))
            && M::now_ns() < deadline
        {
            crate::swapout_procs(&pids);
            sleepq::delay(1);
        }
        let mut killed = 0;
        for (k, &pid) in pids.iter().enumerate() {
            let status = reap_within(pid, 30)?;
            let want = if k == 0 { WaitStatus::Exited(3) } else { WaitStatus::Exited(0) };
            if status == WaitStatus::Killed(lwp_abi::SIGKILL as u8) {
                killed += 1;
            } else {
                ensure_eq!(status, want);
            }
        }
        let st1 = swap::stats();
        kern::kprintln!(
            "  measured: {} swap-outs, {} swap-ins, {} given up, {} discarded, {} write errors, \
             {} read errors, {} lost, {killed} processes killed",
            st1.swapouts - st0.swapouts,
            st1.swapins - st0.swapins,
            st1.cancelled - st0.cancelled,
            st1.discarded - st0.discarded,
            st1.write_errors - st0.write_errors,
            st1.read_errors - st0.read_errors,
            st1.lost - st0.lost
        );
        ensure!(
            RACE_BAD.load(Ordering::SeqCst) == 0,
            "{} wrong things seen, first: {}",
            RACE_BAD.load(Ordering::SeqCst),
            RACE_WHY.lock().clone().unwrap_or_default()
        );
        ensure!(
            killed as u64 <= st1.lost - st0.lost,
            "{killed} processes killed, {} LWPs lost",
            st1.lost - st0.lost
        );
        // (Processes killed early, for writes the disk lost, leave little to swap.)
        ensure!(
            killed > 0 || st1.swapouts - st0.swapouts >= RACE_ROUNDS,
            "only {} swap-outs",
            st1.swapouts - st0.swapouts
        );
        // Every structure that went out came back (or was discarded with its LWP).
        ensure_eq!(st1.swapins - st0.swapins, st1.swapouts - st0.swapouts);
        ensure_eq!((st1.lwps_out, st1.slots_used), (st0.lwps_out, st0.slots_used));
        if killed == 0 {
            // Process 0 exited half-way; the others' workers all finished.
            for (n, finished) in RACE_FINISHED.iter().enumerate().skip(RACE_WORKERS) {
                ensure!(finished.load(Ordering::SeqCst), "worker {n} did not finish");
            }
        }
        Ok(())
    })
}
