//! What the kernel gives a thread library, from user programs on several CPUs (S3,
//! S4, S8, S9): `_lwp_park`/`_lwp_unpark`, the schedctl pages and their pool
//! count, and LWP mutexes — taken by the thread library's own code
//! (`lwp_thread::lwpmutex`, run here through [`SimSys`] against this same kernel).
//! On the seeded schedule (`user_seeded`) every interleaving of a seed replays, and
//! many seeds are swept: a lost wakeup is a park that never returns, a boot that
//! times out with its seed.

use arch::sim::user;
use arch::{Machine, PAGE_SIZE, USER_LIMIT};
use kern::proc::WaitStatus;
use kern::M;
use kern_selftest::{ensure, ensure_eq, reap, Test, TestResult};
use lwp_abi::*;
use lwp_thread::lwpmutex::{self, LwpSys, SyncKind, Took};

use super::lwps::{create_lwp, lwp_exit, until, wait_lwp, yield_now};
use super::{errno, exit, new_space, peek, poke, start, sys, DATA, HOLE, RO, WORKER_PC};

/// The tests, in the order they run.
pub static SYNC: &[Test] = &[
    Test::new("usync_park_unpark_ping_pong", park_ping_pong),
    Test::new("usync_park_arguments", park_arguments),
    Test::new("usync_schedctl_shows_each_lwp_state", schedctl_states),
    Test::new("usync_pool_asleep_unparks_the_waiting_lwp", pool_asleep),
    Test::new("usync_lwp_mutex_counts_exactly", lwp_mutex_counts),
    Test::new("usync_lwp_mutex_errors", lwp_mutex_errors),
    Test::new("usync_adaptive_spins_while_the_owner_runs_blocks_when_not", adaptive),
];

// What lives where in the second page of `DATA` (whose words lie where: the table
// in `user_sim`).
const SYNCD: u64 = DATA + PAGE_SIZE;
/// The LWP whose turn it is (ping-pong), and each side's id and turns taken.
const TURN: u64 = SYNCD;
const SIDE: u64 = SYNCD + 8;
const TAKEN: u64 = SYNCD + 16;
/// The rounds to play, the kind of LWP mutex, and flags.
const ROUNDS: u64 = SYNCD + 32;
const KIND: u64 = SYNCD + 40;
const FLAG: u64 = SYNCD + 48;
const FLAG2: u64 = SYNCD + 56;
/// An LWP mutex: its lock word, then its type word.
const MUTEX: u64 = SYNCD + 64;
/// The count the mutex guards, and how many are inside (4-byte words, by `cas`).
const COUNT: u64 = SYNCD + 80;
const INSIDE: u64 = SYNCD + 88;
/// What a lock found, per worker (`Took`: spins, then slept).
const TOOK: u64 = SYNCD + 128;
/// A `Timespec`.
const TS: u64 = SYNCD + 256;
/// How many times LWPs paused in a spin (`SimSys::pause`; not exact if several do).
const PAUSES: u64 = SYNCD + 320;

/// A thread library's LWP-level calls, made by a user program of the simulation.
pub struct SimSys;

impl LwpSys for SimSys {
    fn lwp_self() -> u32 {
        sys(SYS_LWP_SELF, &[]).map_or(0, |(id, _)| id as u32)
    }
    fn cas(addr: u64, old: u32, new: u32) -> u32 {
        user::cas_u32(addr, old, new)
    }
    fn load(addr: u64) -> u32 {
        user::load_u32(addr)
    }
    fn store(addr: u64, v: u32) {
        user::store_u32(addr, v)
    }
    fn on_cpu(id: u32) -> bool {
        user::load_u32(sc_shared_addr(id) + SC_STATE) == SC_ONPROC
    }
    fn timedlock(addr: u64) -> Result<(), u64> {
        sys(SYS_LWP_MUTEX_TIMEDLOCK, &[addr, 0]).map(drop)
    }
    fn unlock(addr: u64) -> Result<(), u64> {
        sys(SYS_LWP_MUTEX_UNLOCK, &[addr]).map(drop)
    }
    fn yield_lwp() {
        let _ = sys(SYS_YIELD, &[]);
    }
    fn pause() {
        // A spin's moment, counted: a load and a store, machine calls where the
        // seeded schedule may run another CPU.
        user::store_u64(PAUSES, user::load_u64(PAUSES) + 1);
    }
}

fn lwp_self() -> u32 {
    SimSys::lwp_self()
}

fn park(ts: u64, unpark: u32) -> Result<(u64, u64), u64> {
    sys(SYS_LWP_PARK, &[ts, u64::from(unpark)])
}

fn unpark(id: u32) -> Result<(u64, u64), u64> {
    sys(SYS_LWP_UNPARK, &[u64::from(id)])
}

fn sleep_ms(ms: u64) {
    user::store_u64(TS, 0);
    user::store_u64(TS + 8, ms * 1_000_000);
    assert_eq!(sys(SYS_NANOSLEEP, &[TS]), Ok((0, 0)));
}

/// The state LWP `id`'s schedctl slot shows.
fn sc_state(id: u32) -> u32 {
    user::load_u32(sc_shared_addr(id) + SC_STATE)
}

/// A process of `program(arg)`, with `worker` as its workers' program, run to its
/// end: it must exit 0.
fn runs(program: fn(u64), worker: fn(u64), arg: u64) -> TestResult {
    let space = new_space()?;
    poke(&space, WORKER_PC, user::program(worker))?;
    let pid = start(&space, program, arg)?;
    ensure_eq!(reap(pid)?, WaitStatus::Exited(0));
    Ok(())
}

// ---- park and unpark ------------------------------------------------------------

/// Two LWPs hand a turn back and forth 300 times each through `_lwp_park` and
/// `_lwp_unpark`, running in parallel on several CPUs: every turn taken, none lost
/// (a lost wakeup never returns).
fn park_ping_pong() -> TestResult {
    let space = new_space()?;
    poke(&space, WORKER_PC, user::program(pp_side))?;
    poke(&space, ROUNDS, 300)?;
    let pid = start(&space, pp_main, 0)?;
    ensure_eq!(reap(pid)?, WaitStatus::Exited(0));
    ensure_eq!((peek(&space, TAKEN)?, peek(&space, TAKEN + 8)?), (300, 300));
    Ok(())
}

/// Side `k` (0 main, 1 the worker): waits for its turn, parking, and hands it over.
fn pp_play(k: u64) {
    let me = lwp_self();
    let other = user::load_u32(SIDE + 4 * (1 - k));
    for _ in 0..user::load_u64(ROUNDS) {
        while user::load_u32(TURN) != me {
            assert_eq!(park(0, 0), Ok((0, 0)));
        }
        user::store_u64(TAKEN + 8 * k, user::load_u64(TAKEN + 8 * k) + 1);
        user::store_u32(TURN, other);
        assert_eq!(unpark(other), Ok((0, 0)));
    }
}

fn pp_side(_: u64) {
    // The main side wrote both ids before it handed the first turn over.
    until("the other side's id", || user::load_u32(SIDE + 4) != 0);
    pp_play(1);
    // The main side's last unpark may come after this side's last turn: it must
    // find this LWP alive.
    until("the main side's last turn", || user::load_u64(FLAG) != 0);
    lwp_exit()
}

fn pp_main(_: u64) {
    user::store_u32(SIDE, lwp_self());
    let other = create_lwp(0, user::load_u64(WORKER_PC), 0, 0);
    user::store_u32(SIDE + 4, other);
    user::store_u32(TURN, lwp_self());
    pp_play(0);
    user::store_u64(FLAG, 1);
    wait_lwp(other.into());
    exit(0)
}

/// An early unpark is kept, unparks do not count up, a timed park times out, and
/// bad arguments get their errors (S15: ids name this process's LWPs only).
fn park_arguments() -> TestResult {
    runs(park_arguments_main, pp_side, 0)
}

fn park_arguments_main(_: u64) {
    let me = lwp_self();
    assert_eq!(unpark(me), Ok((0, 0)));
    assert_eq!(unpark(me), Ok((0, 0)));
    assert_eq!(park(0, 0), Ok((0, 0)), "an unpark before the park is kept");
    user::store_u64(TS, 0);
    user::store_u64(TS + 8, 2_000_000);
    assert_eq!(park(TS, 0), Err(errno(Errno::ETIME)), "two unparks gave one permit");
    user::store_u64(TS + 8, 1_000_000_000);
    assert_eq!(park(TS, 0), Err(errno(Errno::EINVAL)), "a second of nanoseconds");
    for bad in [HOLE, USER_LIMIT - 8, u64::MAX - 7] {
        assert_eq!(park(bad, 0), Err(errno(Errno::EFAULT)), "a timeout at {bad:#x}");
    }
    for id in [0, 999] {
        assert_eq!(unpark(id), Err(errno(Errno::ESRCH)), "unpark({id})");
    }
    assert_eq!(park(0, 999), Err(errno(Errno::ESRCH)), "a park that unparks nobody");
    exit(0)
}

// ---- schedctl ---------------------------------------------------------------------

/// Each LWP's slot shows where it is: its own `SC_ONPROC`; a spinner's `SC_ONPROC`
/// while it runs on another CPU (several CPUs) or `SC_RUN` while it waits for this
/// one (one CPU); a sleeper's `SC_SLEEP`; a suspended LWP's `SC_STOPPED`; an exited
/// one's `SC_FREE`.
fn schedctl_states() -> TestResult {
    let space = new_space()?;
    poke(&space, WORKER_PC, user::program(sc_worker))?;
    let pid = start(&space, sc_main, M::ncpus() as u64)?;
    ensure_eq!(reap(pid)?, WaitStatus::Exited(0));
    Ok(())
}

/// Worker 0 spins until `FLAG` is set; worker 1 sleeps 30 ms; both say they have
/// their slot first (`FLAG2`, a bit each).
fn sc_worker(i: u64) {
    let (addr, _) = sys(SYS_SCHEDCTL, &[0]).expect("schedctl");
    assert_eq!(addr, sc_shared_addr(lwp_self()));
    let _ = user::cas_u32(FLAG2 + 4 * i, 0, 1);
    if i == 0 {
        while user::load_u64(FLAG) == 0 {}
    } else {
        sleep_ms(30);
    }
    lwp_exit()
}

fn sc_main(ncpus: u64) {
    let (addr, _) = sys(SYS_SCHEDCTL, &[0]).expect("schedctl");
    let me = lwp_self();
    assert_eq!(addr, sc_shared_addr(me));
    assert_eq!(sc_state(me), SC_ONPROC, "one's own slot");
    let pc = user::load_u64(WORKER_PC);
    let spinner = create_lwp(0, pc, 0, 0);
    until("the spinner to start", || user::load_u32(FLAG2) != 0);
    if ncpus > 1 {
        until("the spinner on its CPU", || sc_state(spinner) == SC_ONPROC);
    } else {
        let s = sc_state(spinner);
        assert_eq!(s, SC_RUN, "on one CPU a spinner waits for it while this LWP runs");
    }
    let sleeper = create_lwp(1, pc, 1, 0);
    until("the sleeper to start", || user::load_u32(FLAG2 + 4) != 0);
    until("the sleeper asleep", || sc_state(sleeper) == SC_SLEEP);
    assert_eq!(sys(SYS_LWP_SUSPEND, &[u64::from(spinner)]), Ok((0, 0)));
    assert_eq!(sc_state(spinner), SC_STOPPED, "a suspended LWP");
    assert_eq!(sys(SYS_LWP_CONTINUE, &[u64::from(spinner)]), Ok((0, 0)));
    user::store_u64(FLAG, 1);
    for id in [spinner, sleeper] {
        wait_lwp(id.into());
        assert_eq!(sc_state(id), SC_FREE, "an exited LWP");
    }
    exit(0)
}

/// SIGWAITING's stand-in: with a pool LWP idle (parked) and another asleep in the
/// kernel (for an LWP mutex that main holds), the pool still has an LWP awake and
/// the `SC_WAITING` LWP is not unparked; with the sleeper alone in the pool, it is —
/// while the sleeper still sleeps — and the process's counts say why.
fn pool_asleep() -> TestResult {
    runs(pool_main, pool_worker, 0)
}

/// Worker 0 idles in the pool (parks until unparked); worker 1 sleeps in the kernel
/// for the LWP mutex main holds, then says it has it (`FLAG`).
fn pool_worker(i: u64) {
    sys(SYS_SCHEDCTL, &[SC_POOL]).expect("schedctl");
    let _ = user::cas_u32(FLAG2 + 4 * i, 0, 1);
    if i == 0 {
        assert_eq!(park(0, 0), Ok((0, 0)));
    } else {
        let took = lwpmutex::lock::<SimSys>(MUTEX, SyncKind::Block);
        assert_eq!(took.map(|t| t.slept), Ok(true));
        user::store_u64(FLAG, 1);
        assert_eq!(lwpmutex::unlock::<SimSys>(MUTEX), Ok(()));
    }
    lwp_exit()
}

fn pool_main(_: u64) {
    sys(SYS_SCHEDCTL, &[SC_WAITING]).expect("schedctl");
    user::store_u32(MUTEX + LWP_MUTEX_MAGIC_OFFSET, LWP_MUTEX_MAGIC);
    assert_eq!(lwpmutex::lock::<SimSys>(MUTEX, SyncKind::Block).map(|t| t.slept), Ok(false));
    let pc = user::load_u64(WORKER_PC);
    let (awake, lwps) = (sc_shared_addr(0) + SC_POOL_AWAKE, sc_shared_addr(0) + SC_POOL_LWPS);
    // An idle pool LWP and a sleeping one: one is awake, nobody tells.
    let idle = create_lwp(0, pc, 0, 0);
    until("the idle LWP in the pool", || user::load_u32(FLAG2) != 0);
    let sleeper = create_lwp(1, pc, 1, 0);
    until("the sleeper in the pool", || user::load_u32(FLAG2 + 4) != 0);
    until("the sleeper asleep", || sc_state(sleeper) == SC_SLEEP);
    assert_eq!((user::load_u32(lwps), user::load_u32(awake)), (2, 1), "(pool LWPs, awake)");
    user::store_u64(TS, 0);
    user::store_u64(TS + 8, 20_000_000);
    assert_eq!(park(TS, 0), Err(errno(Errno::ETIME)), "told while an idle LWP was awake");
    // The idle one goes: the sleeper is the pool, and asleep.
    assert_eq!(unpark(idle), Ok((0, 0)));
    wait_lwp(idle.into());
    assert_eq!(park(0, 0), Ok((0, 0)));
    assert_eq!((user::load_u32(lwps), user::load_u32(awake)), (1, 0));
    assert_eq!(user::load_u64(FLAG), 0, "the sleeper got the mutex main holds");
    assert_eq!(lwpmutex::unlock::<SimSys>(MUTEX), Ok(()));
    wait_lwp(sleeper.into());
    assert_eq!(user::load_u64(FLAG), 1);
    exit(0)
}

// ---- LWP mutexes --------------------------------------------------------------------

/// The thread library's LWP mutex (its own code, `lwpmutex`, against this kernel),
/// of each kind: 4 LWPs add 200 each to a count under it, by a load and a store,
/// running in parallel: the count is exact and nobody was ever inside with
/// another; a blocking one's waiters slept in the kernel, a spinning one's never.
fn lwp_mutex_counts() -> TestResult {
    for kind in [SyncKind::Adaptive, SyncKind::Spin, SyncKind::Block] {
        let space = new_space()?;
        poke(&space, WORKER_PC, user::program(counter))?;
        poke(&space, KIND, kind as u64)?;
        let pid = start(&space, counter_main, 4)?;
        ensure_eq!(reap(pid)?, WaitStatus::Exited(0));
        ensure_eq!(peek(&space, COUNT)? >> 32, 800);
        let slept: u64 =
            (0..4).map(|i| peek(&space, TOOK + 8 * i).unwrap_or(0) & 0xffff_ffff).sum();
        match kind {
            SyncKind::Spin => ensure!(slept == 0, "{kind:?}: {slept} sleeps in the kernel"),
            SyncKind::Block => ensure!(slept > 0, "{kind:?}: nobody slept in the kernel"),
            SyncKind::Adaptive => {}
        }
    }
    Ok(())
}

fn kind() -> SyncKind {
    match user::load_u64(KIND) {
        1 => SyncKind::Spin,
        2 => SyncKind::Block,
        _ => SyncKind::Adaptive,
    }
}

/// Worker `i`: once all have started (`FLAG`), 200 increments under the mutex;
/// counts its sleeps in the kernel. Every 16th round it yields its CPU inside, so
/// that the others contend on one CPU too; a blocking mutex's first taker holds it
/// until a waiter sleeps for it (the waiters bit), so that one does on any CPUs.
fn counter(i: u64) {
    sys(SYS_SCHEDCTL, &[0]).expect("schedctl");
    until("every counter to start", || user::load_u64(FLAG) != 0);
    let kind = kind();
    let mut slept = 0;
    for round in 0..200 {
        let took = lwpmutex::lock::<SimSys>(MUTEX, kind).expect("lock");
        slept += u32::from(took.slept);
        assert_eq!(user::cas_u32(INSIDE, 0, 1), 0, "two inside the LWP mutex");
        let v = user::load_u32(COUNT);
        if kind == SyncKind::Block && v == 0 {
            until("a waiter asleep", || user::load_u32(MUTEX) & LWP_MUTEX_WAITERS != 0);
        }
        if round % 16 == 0 {
            yield_now();
        }
        user::store_u32(COUNT, v + 1);
        assert_eq!(user::cas_u32(INSIDE, 1, 0), 1);
        lwpmutex::unlock::<SimSys>(MUTEX).expect("unlock");
    }
    user::store_u32(TOOK + 8 * i + 4, slept);
    lwp_exit()
}

fn counter_main(n: u64) {
    sys(SYS_SCHEDCTL, &[0]).expect("schedctl");
    user::store_u32(MUTEX + LWP_MUTEX_MAGIC_OFFSET, LWP_MUTEX_MAGIC);
    let pc = user::load_u64(WORKER_PC);
    let ids: Vec<u32> = (0..n).map(|i| create_lwp(i, pc, i, 0)).collect();
    user::store_u64(FLAG, 1);
    for id in ids {
        wait_lwp(id.into());
    }
    exit(0)
}

/// The kernel's answers to LWP mutexes misused: another LWP's unlock (`EPERM`),
/// the owner's relock (`EDEADLK`), a misaligned, uninitialized or destroyed one
/// (`EINVAL`), one in unmapped or read-only memory (`EFAULT`), and a timed lock of
/// a held one that times out (`ETIME`).
fn lwp_mutex_errors() -> TestResult {
    runs(errors_main, errors_worker, 0)
}

/// The worker, while main holds the mutex: its unlock and its timed lock fail.
fn errors_worker(_: u64) {
    assert_eq!(sys(SYS_LWP_MUTEX_UNLOCK, &[MUTEX]), Err(errno(Errno::EPERM)));
    user::store_u64(TS + 16, 0);
    user::store_u64(TS + 24, 3_000_000);
    assert_eq!(sys(SYS_LWP_MUTEX_TIMEDLOCK, &[MUTEX, TS + 16]), Err(errno(Errno::ETIME)));
    user::store_u64(FLAG, 1);
    lwp_exit()
}

fn errors_main(_: u64) {
    let einval = Err(errno(Errno::EINVAL));
    let efault = Err(errno(Errno::EFAULT));
    // Uninitialized (a zero type word), then made.
    assert_eq!(sys(SYS_LWP_MUTEX_TIMEDLOCK, &[MUTEX, 0]), einval);
    user::store_u32(MUTEX + LWP_MUTEX_MAGIC_OFFSET, LWP_MUTEX_MAGIC);
    assert_eq!(lwpmutex::lock::<SimSys>(MUTEX, SyncKind::Block).map(|t: Took| t.slept), Ok(false));
    assert_eq!(sys(SYS_LWP_MUTEX_TIMEDLOCK, &[MUTEX, 0]), Err(errno(Errno::EDEADLK)));
    let id = create_lwp(0, user::load_u64(WORKER_PC), 0, 0);
    until("the worker's refusals", || user::load_u64(FLAG) != 0);
    wait_lwp(id.into());
    assert_eq!(sys(SYS_LWP_MUTEX_UNLOCK, &[MUTEX]), Ok((0, 0)));
    assert_eq!(sys(SYS_LWP_MUTEX_UNLOCK, &[MUTEX]), Err(errno(Errno::EPERM)), "a free one");
    for (addr, want) in
        [(MUTEX + 2, einval), (HOLE, efault), (RO, efault), (USER_LIMIT - 4, efault)]
    {
        assert_eq!(sys(SYS_LWP_MUTEX_TIMEDLOCK, &[addr, 0]), want, "lock at {addr:#x}");
        assert_eq!(sys(SYS_LWP_MUTEX_UNLOCK, &[addr]), want, "unlock at {addr:#x}");
    }
    lwpmutex::destroy::<SimSys>(MUTEX).expect("destroy");
    assert_eq!(sys(SYS_LWP_MUTEX_TIMEDLOCK, &[MUTEX, 0]), einval, "a destroyed one");
    assert_eq!(sys(SYS_LWP_MUTEX_UNLOCK, &[MUTEX]), einval);
    exit(0)
}

/// Adaptive spinning (S9), counted: while the owner's LWP runs on another CPU —
/// spinning in user code with the mutex held — the waiter spins and does not
/// sleep (two CPUs or more); while the owner sleeps in the kernel with it held, the
/// waiter sleeps in the kernel too, on any number of CPUs.
fn adaptive() -> TestResult {
    let space = new_space()?;
    poke(&space, WORKER_PC, user::program(adaptive_owner))?;
    let pid = start(&space, adaptive_main, 0)?;
    ensure_eq!(reap(pid)?, WaitStatus::Exited(0));
    let (running, asleep) = (peek(&space, TOOK)?, peek(&space, TOOK + 8)?);
    let (spins, slept) = (running >> 32, running & 1);
    if M::ncpus() > 1 {
        ensure!(spins > 0 && slept == 0, "owner on a CPU: {spins} spins, slept {slept}");
    }
    ensure_eq!(asleep & 1, 1);
    Ok(())
}

/// Worker 0: holds the mutex once while it spins on its CPU — until the main LWP
/// has either spun for it (`PAUSES`) or gone to sleep for it (the waiters bit) —
/// then once while it sleeps 20 ms in the kernel.
fn adaptive_owner(_: u64) {
    sys(SYS_SCHEDCTL, &[0]).expect("schedctl");
    for sleep in [false, true] {
        lwpmutex::lock::<SimSys>(MUTEX, SyncKind::Adaptive).expect("lock");
        user::store_u64(FLAG, 1);
        if sleep {
            sleep_ms(20);
        } else {
            while user::load_u64(PAUSES) == 0 && user::load_u32(MUTEX) & LWP_MUTEX_WAITERS == 0 {}
        }
        user::store_u64(FLAG, 0);
        lwpmutex::unlock::<SimSys>(MUTEX).expect("unlock");
        until("the main LWP's lock", || user::load_u64(FLAG2) != 0);
        user::store_u64(FLAG2, 0);
    }
    lwp_exit()
}

fn adaptive_main(_: u64) {
    sys(SYS_SCHEDCTL, &[0]).expect("schedctl");
    user::store_u32(MUTEX + LWP_MUTEX_MAGIC_OFFSET, LWP_MUTEX_MAGIC);
    let owner = create_lwp(0, user::load_u64(WORKER_PC), 0, 0);
    for round in 0..2 {
        while user::load_u64(FLAG) == 0 {}
        if round == 1 {
            // Asleep with it: wait until its slot says so.
            until("the owner asleep", || sc_state(owner) == SC_SLEEP);
        }
        let took = lwpmutex::lock::<SimSys>(MUTEX, SyncKind::Adaptive).expect("lock");
        lwpmutex::unlock::<SimSys>(MUTEX).expect("unlock");
        user::store_u64(TOOK + 8 * round, u64::from(took.spins) << 32 | u64::from(took.slept));
        user::store_u64(FLAG2, 1);
    }
    wait_lwp(owner.into());
    exit(0)
}
