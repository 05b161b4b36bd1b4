//! User programs on the simulation machine, through the same kernel code as under
//! QEMU (S1, S3, S13, S15, S16): a process whose LWPs, created from user code with
//! `_lwp_create`, run in parallel and share its memory; `_lwp_wait` for any LWP and
//! for a given one; bad pointers to every system call that takes one give `EFAULT`
//! (and other bad parameters `EINVAL`) while the process goes on; a bad call number
//! kills the process with SIGSYS, and a fault with its signal, other LWPs spinning
//! in user code included; LWP ids of another process are `ESRCH`; `_lwp_create`
//! answers for the LWP it made while other LWPs continue its id.
//!
//! User programs are host functions that play SPARC user code (`arch::sim::user`):
//! they reach the kernel only through system calls and their own memory. The tests
//! are kernel self-tests ([`USER`]), run by the kernel's `main` on its boot thread:
//! each builds an address space, starts a process in it with `proc_create_user`,
//! reaps it with `proc_wait`, and checks its wait status and what it left in its
//! memory (the test keeps a reference to the space, so it outlives the process).
//! A failed assertion inside a user program fails the boot with its message.
//!
//! Kernel state is static, so each test binary boots once: `user_Ncpu.rs` boot
//! these tests on N CPUs, `user_seeded.rs` on the seeded schedule. The signal
//! tests are [`signals`]; `user_signal_seeds.rs` runs them over many seeds.
//! Descriptors and pipes are [`pipes`]; credentials and scheduling classes,
//! [`creds`]; anonymous memory and the growing stack, [`vm`]; resource usage and
//! profiling, [`rusage`]. Every suite's programs make and wait for their LWPs
//! with [`lwps`], and keep their words in `DATA` as the table below says.

extern crate alloc;

pub mod creds;
mod lwps;
pub mod pipes;
pub mod rusage;
pub mod signals;
pub mod sync;
pub mod vm;

use arch::kmem::Shared;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arch::sim::user::{self, TEXT};
use arch::sim::{DiskConfig, Outcome, SimConfig};
use arch::{FaultKind, Machine, Prot, UserRegs, PAGE_SIZE, USER_LIMIT};
use kern::cred::Cred;
use kern::proc::{prfind, AddrSpace, PStat, Pid, WaitStatus};
use kern::vm::Vm;
use kern::{sleepq, swap, M};
use kern_selftest::{ensure, ensure_eq, reap, skip, wait_until, Suite, Test, TestResult};
use lwp_abi::*;
use lwps::{create_lwp, lwp_exit, set_context, until, wait_lwp};

/// The tests, in the order they run.
pub static USER: &[Test] = &[
    Test::new("user_lwps_run_in_parallel_and_share_memory", lwps_run_in_parallel_and_share_memory),
    Test::new("user_bad_pointers_give_efault_and_the_process_goes_on", bad_pointers_give_efault),
    Test::new("user_traps_kill_the_process_with_their_signal", traps_kill_the_process),
    Test::new("user_lwp_ids_of_another_process_are_esrch", lwp_ids_of_another_process_are_esrch),
    Test::new("user_lwps_swapped_out_and_back", lwps_swapped_out_and_back),
    Test::new(
        "user_lwp_create_answers_for_the_lwp_it_made",
        lwp_create_answers_for_the_lwp_it_made,
    ),
];

/// Boots the tests on `config`'s machine (faster clock: quicker time slices for
/// LWPs spinning in user code) and fails unless all of them passed.
pub fn boot_and_check(config: SimConfig) {
    let ncpus = config.ncpus;
    let config = SimConfig {
        boot_args: "hz=1000",
        timeout: Some(Duration::from_secs(120)),
        disk: Some(DiskConfig::new(sim_tests::SWAP_DISK_SECTORS)),
        // Small enough that exhausting it is quick; a stack limit of 2 MiB.
        pool_bytes: 16 << 20,
        ..config
    };
    static SUITES: [Suite; 7] = [
        ("user", USER),
        ("usync", sync::SYNC),
        ("signals", signals::SIGNALS),
        ("pipes", pipes::PIPES),
        ("creds", creds::CREDS),
        ("vm", vm::VM),
        ("rusage", rusage::RUSAGE),
    ];
    let out: Outcome = sim_tests::boot_suites(config, &SUITES);
    println!("{}", out.console);
    assert!(!out.timed_out, "the kernel hung on {ncpus} CPU(s)");
    // Each suite's tests and its memory check.
    let n = USER.len()
        + sync::SYNC.len()
        + signals::SIGNALS.len()
        + pipes::PIPES.len()
        + creds::CREDS.len()
        + vm::VM.len()
        + rusage::RUSAGE.len()
        + SUITES.len();
    assert!(
        out.console.contains(&format!("selftest: {n} passed, 0 failed, 0 skipped")),
        "user tests failed on {ncpus} CPU(s)"
    );
    assert!(out.success, "the kernel halted with failure on {ncpus} CPU(s)");
}

// Every process's address space: the text page of the registered programs, `DATA`
// (read-write), a read-only page `RO`, and a stack page per LWP, with unmapped
// gaps between them; nothing at `HOLE`.
const RW: Prot = Prot::READ.union(Prot::WRITE);
const DATA: u64 = 0x2000_0000;
const DATA_LEN: u64 = 2 * PAGE_SIZE;
const RO: u64 = 0x2100_0000;
const HOLE: u64 = 0x3000_0000;
const STACKS: u64 = 0x4000_0000;
/// LWPs a process may have: main (stack 0) and workers 0.. (stacks 1..).
const MAX_WORKERS: u64 = 7;

// Who keeps words where in `DATA` (two pages; words big-endian), by offset. Each
// test's process has a `DATA` of its own, so the words of tests that never share
// a process may lie on one another (a row says "on" whose); a test's words never
// lie on those of the helpers it uses: `lwps`' (`IDS`, `CTX`: every suite's),
// and `signals`' handlers, `sigaction` and `sleep_ms` (`SA`, `RAN_BY`, `LAST`,
// `LWP_TS`: `pipes`, `rusage` and `vm` use them too).
//
// | offsets         | whose                      | words                                     |
// |-----------------|----------------------------|-------------------------------------------|
// | 0x000 - 0x0b0   | `user` (here)              | `WORKER_PC` .. `MSG`                      |
// | 0x100 - 0x240   | `user`                     | `STARTED`, `COUNT`                        |
// | 0x300 - 0x340   | `lwps`                     | `IDS`                                     |
// | 0x400 - 0x440   | `user`                     | `OTHER_IDS`                               |
// | 0x500 - 0x5c0   | `lwps`                     | `CTX`                                     |
// | 0x600 - 0x710   | `user`                     | `WTIMES`, `FAILS`, `LAST_ERROR`           |
// | 0x800 - 0x1340  | `creds`: priocntl          | `TBL`, `TBL2` (on `user`'s, `signals`')   |
// | 0x900 - 0xbb0   | `user`: swapped sleepers   | `WRU`                                     |
// | 0x1000 - 0x1100 | `signals`                  | `SA`, `SET`, `SS`, `INFO`, `TS`, `ITV`    |
// | 0x1200 - 0x12b0 | `signals`                  | `RAN_BY`, `LAST`                          |
// | 0x1300 - 0x13a0 | `signals`                  | `CMD`, `DONE`, `GO`, `COUNT`              |
// | 0x1400 - 0x15f8 | `signals`: contexts, args  | `UC`                                      |
// | 0x1400 - 0x1700 | `signals`: altstack        | `WHERE` .. `LWP_OSS` (on `UC`)            |
// | 0x1700 - 0x1780 | `signals`                  | `LWP_TS`                                  |
// | 0x1800 - 0x2880 | `signals`: arguments       | `GW` (its first word written)             |
// | 0x1800 - 0x1838 | `creds`                    | `TARGETS` .. `PARMS` (on `GW`)            |
// | 0x1900 - 0x1e30 | `rusage`                   | `RU` .. `SPINS` (on `GW`)                 |
// | 0x1e00 - 0x1f90 | `pipes`                    | `PING` .. `NAP` (on `GW`, `rusage`'s)     |
// | 0x2000 - 0x2148 | `usync`                    | `TURN` .. `PAUSES` (on `GW`)              |
// | 0x2000 - 0x4000 | `rusage`: profil           | `HIST` (on `GW`, `usync`'s)               |
// | 0x2000 - 0x4000 | `vm`: memory exhausted     | `ADDRS`, `FREE` (on `GW`, `usync`'s)      |
/// The worker program's pc, put there by the test.
const WORKER_PC: u64 = DATA;
/// Nonzero: the main program holds its workers back.
const HOLD: u64 = DATA + 8;
/// Set by the main program: the workers may go on.
const GO: u64 = DATA + 16;
/// The sum of the workers' counters, as the main program saw it.
const TOTAL: u64 = DATA + 24;
/// How far a dying program got.
const MARK: u64 = DATA + 32;
/// `_lwp_wait`'s departed id (4 bytes).
const DEPARTED: u64 = DATA + 40;
/// A `Timespec`.
const TS: u64 = DATA + 48;
/// `lwp_times`' result (7 words).
const TIMES: u64 = DATA + 64;
/// A message to write.
const MSG: u64 = DATA + 128;
/// Per worker `i`, at `+ 8 * i`: started (or, for a spinner, its loop count), its
/// counter, its id (4 bytes), the id of another process's LWP.
const STARTED: u64 = DATA + 0x100;
const COUNT: u64 = DATA + 0x200;
const IDS: u64 = DATA + 0x300;
const OTHER_IDS: u64 = DATA + 0x400;
/// Per worker `i`, at `+ 24 * i`: its `LwpContext`.
const CTX: u64 = DATA + 0x500;
/// Per sleeper `i`, at `+ RUSAGE_LEN * i`: its `getrusage` of itself (3 of them).
const WRU: u64 = DATA + 0x900;
const RUSAGE_LEN: u64 = core::mem::size_of::<Rusage>() as u64;
/// Per worker `i`, at `+ LWP_TIMES * i`: its `lwp_times` (room for 4 workers).
const WTIMES: u64 = DATA + 0x600;
const LWP_TIMES: u64 = core::mem::size_of::<LwpTimes>() as u64;
/// How many `_lwp_create`s failed, and with what error last.
const FAILS: u64 = DATA + 0x700;
const LAST_ERROR: u64 = DATA + 0x708;

/// How many times each worker adds one to its counter.
const ROUNDS: u64 = 500;

/// The top of LWP stack `k` (0: the main program's).
fn stack_top(k: u64) -> u64 {
    STACKS + (2 * k + 1) * PAGE_SIZE
}

fn errno(e: Errno) -> u64 {
    e.code() as u64
}

// ---- The kernel's side: the tests.

fn new_space() -> Result<Shared<AddrSpace>, String> {
    let space = M::as_create().map_err(|e| format!("as_create: {e:?}"))?;
    let space = Shared::try_new(space).map_err(|_| "no memory for the space")?;
    let map = |va: u64, len: u64, prot: Prot| {
        M::as_map(&space, va, len, prot).map_err(|e| format!("as_map at {va:#x}: {e:?}"))
    };
    map(TEXT.start, TEXT.end - TEXT.start, Prot::READ | Prot::EXEC)?;
    map(DATA, DATA_LEN, RW)?;
    map(RO, PAGE_SIZE, Prot::READ)?;
    for k in 0..=MAX_WORKERS {
        map(stack_top(k) - PAGE_SIZE, PAGE_SIZE, RW)?;
    }
    Ok(space)
}

fn peek(space: &AddrSpace, va: u64) -> Result<u64, String> {
    let mut b = [0u8; 8];
    M::as_read(space, va, &mut b).map_err(|e| format!("as_read at {va:#x}: {e:?}"))?;
    Ok(u64::from_be_bytes(b))
}

fn poke(space: &AddrSpace, va: u64, v: u64) -> TestResult {
    M::as_write(space, va, &v.to_be_bytes()).map_err(|e| format!("as_write at {va:#x}: {e:?}"))
}

/// Starts a process running `program(arg)` in `space` as root.
fn start(space: &Shared<AddrSpace>, program: fn(u64), arg: u64) -> Result<Pid, String> {
    start_as(space, program, arg, None)
}

/// Starts a process running `program(arg)` in `space` with credentials `cred`
/// (root's if `None`), whose main stack is the page below `stack_top(0)`, growing
/// down on demand (`kern::vm`).
fn start_as(
    space: &Shared<AddrSpace>,
    program: fn(u64),
    arg: u64,
    cred: Option<Cred>,
) -> Result<Pid, String> {
    let regs = UserRegs::for_entry(user::program(program), stack_top(0), arg);
    let vm = Vm::with_stack(stack_top(0) - PAGE_SIZE, stack_top(0));
    kern::proc::life::proc_create_user(space.share(), vm, regs, cred)
        .map_err(|e| format!("proc_create_user: {e:?}"))
}

/// Which CPUs ran the workers' user code (test instrumentation, not the ABI).
static WORKER_CPUS: AtomicU64 = AtomicU64::new(0);

/// S3: the LWPs of one process run in parallel (on several CPUs when the machine
/// has them: they all spin in user code at once, waiting for `GO`) and share its
/// memory: each worker's counter reaches the main program and the kernel.
fn lwps_run_in_parallel_and_share_memory() -> TestResult {
    let n = MAX_WORKERS;
    WORKER_CPUS.store(0, Ordering::Relaxed);
    let space = new_space()?;
    poke(&space, WORKER_PC, user::program(worker))?;
    let pid = start(&space, lwps_main, n)?;
    ensure_eq!(reap(pid)?, WaitStatus::Exited(42));
    for i in 0..n {
        ensure_eq!(peek(&space, COUNT + 8 * i)?, ROUNDS);
    }
    ensure_eq!(peek(&space, TOTAL)?, n * ROUNDS);
    let cpus = WORKER_CPUS.load(Ordering::Relaxed).count_ones();
    ensure!(M::ncpus() == 1 || cpus >= 2, "the workers ran on {cpus} of {} CPUs", M::ncpus());
    Ok(())
}

/// S16: every system call that takes a pointer refuses a bad one with `EFAULT` (and
/// other bad parameters with `EINVAL`), creates nothing, and the process goes on.
fn bad_pointers_give_efault() -> TestResult {
    let space = new_space()?;
    poke(&space, WORKER_PC, user::program(worker))?;
    let pid = start(&space, efault_main, 0)?;
    ensure_eq!(reap(pid)?, WaitStatus::Exited(7));
    ensure!(
        arch::sim::console_output().contains(EFAULT_MSG),
        "the process's last write did not reach the console"
    );
    Ok(())
}

/// S13: a bad call number kills the process with SIGSYS, and a fault with its
/// signal; its other LWP, spinning in user code meanwhile, goes too.
fn traps_kill_the_process() -> TestResult {
    let cases = [(0, SIGSYS), (1, SIGSEGV), (2, SIGSEGV), (3, SIGBUS), (4, SIGILL), (5, SIGFPE)];
    for (how, sig) in cases {
        let space = new_space()?;
        poke(&space, WORKER_PC, user::program(spinner))?;
        let pid = start(&space, dying_main, how)?;
        let status = reap(pid)?;
        ensure!(
            status == WaitStatus::Killed(sig as u8),
            "case {how}: {status:?}, expected signal {sig}"
        );
        ensure!(peek(&space, MARK)? == 1, "case {how}: the program went on after its trap");
        // Nothing runs in the space any more: the spinner's count stands still.
        let spins = peek(&space, STARTED)?;
        ensure!(spins > 0, "case {how}: the spinner never ran");
        sleepq::delay(5);
        ensure!(peek(&space, STARTED)? == spins, "case {how}: the spinner outlived its process");
    }
    Ok(())
}

/// S15: the ids of another process's live LWPs name nothing here.
fn lwp_ids_of_another_process_are_esrch() -> TestResult {
    let n = 3;
    let a = new_space()?;
    poke(&a, WORKER_PC, user::program(worker))?;
    poke(&a, HOLD, 1)?;
    let pa = start(&a, lwps_main, n)?;
    wait_until("the other process's LWPs", 60, || {
        let started: Result<Vec<u64>, String> = (0..n).map(|i| peek(&a, STARTED + 8 * i)).collect();
        Ok(started?.iter().all(|&s| s != 0))
    })?;
    let b = new_space()?;
    for i in 0..n {
        // The id is 4 bytes at the start of its slot.
        poke(&b, OTHER_IDS + 8 * i, peek(&a, IDS + 8 * i)? >> 32)?;
    }
    let pb = start(&b, other_main, n)?;
    ensure_eq!(reap(pb)?, WaitStatus::Exited(0));
    poke(&a, HOLD, 0)?;
    ensure_eq!(reap(pa)?, WaitStatus::Exited(42));
    Ok(())
}

/// Rounds each sleeper makes.
const SLEEPS: u64 = 30;

/// S5: LWPs of two processes that sleep in the kernel round after round, while
/// everything swappable is swapped out at every tick: their registers go out with
/// their `lwp` structures (the machine's handle taken back and given again, on
/// whatever CPU), and each LWP finds its system calls' results, its count of system
/// calls and its CPU times as they were, and its swaps counted (S5.4); each
/// process ends as it should.
fn lwps_swapped_out_and_back() -> TestResult {
    if !swap::has_device() {
        skip!("no swap device on this machine");
    }
    let st0 = swap::stats();
    let spaces = [new_space()?, new_space()?];
    let mut pids = Vec::new();
    for space in &spaces {
        poke(space, WORKER_PC, user::program(sleeper))?;
        pids.push(start(space, sleepers_main, 3)?);
    }
    let alive = || pids.iter().any(|&pid| prfind(pid).is_some_and(|p| p.stat() != PStat::Zombie));
    let deadline = M::now_ns() + 60_000_000_000;
    while alive() && M::now_ns() < deadline {
        swap::swapout_all();
        sleepq::delay(1);
    }
    let mut swapped = 0;
    for (space, &pid) in spaces.iter().zip(&pids) {
        ensure_eq!(reap(pid)?, WaitStatus::Exited(42));
        for i in 0..3 {
            ensure_eq!(peek(space, COUNT + 8 * i)?, SLEEPS);
            swapped += peek(space, WRU + RUSAGE_LEN * i + 8 * 10)?;
        }
    }
    let st1 = swap::stats();
    let (outs, ins) = (st1.swapouts - st0.swapouts, st1.swapins - st0.swapins);
    ensure!(outs >= SLEEPS, "only {outs} swap-outs");
    ensure!(swapped > 0 && swapped <= outs, "the sleepers count {swapped} of {outs} swap-outs");
    ensure_eq!(ins, outs);
    ensure_eq!(st1.lwps_out, st0.lwps_out);
    Ok(())
}

/// S16: `_lwp_create` answers for the LWP it made, whatever other LWPs do to it
/// meanwhile. Fuzzing found that another LWP's `_lwp_continue` of the new id could
/// start the new LWP before its creator had finished with it: it ran, exited and,
/// detached, was gone, and the creator's own continue then failed, so that
/// `_lwp_create` said ESRCH for an LWP it had made (or started another LWP given
/// the id meanwhile). Here one LWP makes detached LWPs that exit at once, while
/// another continues their ids as fast as it can: every creation must succeed.
fn lwp_create_answers_for_the_lwp_it_made() -> TestResult {
    let space = new_space()?;
    poke(&space, WORKER_PC, user::program(continuer))?;
    let pid = start(&space, create_race_main, 400)?;
    let status = reap(pid)?;
    let (fails, errno) = (peek(&space, FAILS)?, peek(&space, LAST_ERROR)?);
    ensure!(fails == 0, "{fails} of 400 _lwp_create calls failed, the last with error {errno}");
    ensure_eq!(status, WaitStatus::Exited(42));
    Ok(())
}

// ---- The user programs.

fn sys(num: u64, args: &[u64]) -> Result<(u64, u64), u64> {
    let mut a = [0; 6];
    a[..args.len()].copy_from_slice(args);
    user::syscall(num, a)
}

fn exit(code: u64) -> ! {
    let _ = sys(SYS_EXIT, &[code]);
    unreachable!("exit returned");
}

/// Worker `i`: says it has started, spins in user code until `GO`, adds one to its
/// counter `ROUNDS` times (a load and a store each), and ends its LWP.
fn worker(i: u64) {
    user::store_u64(STARTED + 8 * i, 1);
    while user::load_u64(GO) == 0 {
        WORKER_CPUS.fetch_or(1 << M::cpu_id(), Ordering::Relaxed);
    }
    let count = COUNT + 8 * i;
    for _ in 0..ROUNDS {
        user::store_u64(count, user::load_u64(count) + 1);
    }
    lwp_exit()
}

/// Worker `i` that counts its loops forever, in user code.
fn spinner(i: u64) {
    let count = STARTED + 8 * i;
    loop {
        user::store_u64(count, user::load_u64(count) + 1);
    }
}

/// Creates `n` workers, lets them go once all have started (and `HOLD` is clear),
/// reaps all but one as they exit and the last by its id, sums their counters into
/// `TOTAL`, and exits with 42.
fn lwps_main(n: u64) {
    let pc = user::load_u64(WORKER_PC);
    let ids: BTreeSet<u32> = (0..n).map(|i| create_lwp(i, pc, i, 0)).collect();
    assert_eq!(ids.len() as u64, n, "LWP ids repeat");
    assert!(!ids.contains(&0) && !ids.contains(&1), "new LWPs got ids {ids:?}");
    assert_eq!(sys(SYS_LWP_SELF, &[]), Ok((1, 0)));
    until("the workers to start", || (0..n).all(|i| user::load_u64(STARTED + 8 * i) != 0));
    until("HOLD to clear", || user::load_u64(HOLD) == 0);
    user::store_u64(GO, 1);
    let mut departed = BTreeSet::new();
    for _ in 1..n {
        assert_eq!(sys(SYS_LWP_WAIT, &[0, DEPARTED]), Ok((0, 0)));
        assert!(departed.insert(user::load_u32(DEPARTED)), "an LWP was reaped twice");
    }
    let last: Vec<u32> = ids.difference(&departed).copied().collect();
    assert_eq!(last.len(), 1, "reaped {departed:?} of {ids:?}");
    assert_eq!(sys(SYS_LWP_WAIT, &[u64::from(last[0]), DEPARTED]), Ok((0, 0)));
    assert_eq!(user::load_u32(DEPARTED), last[0]);
    assert_eq!(
        sys(SYS_LWP_WAIT, &[u64::from(last[0]), 0]),
        Err(errno(Errno::ESRCH)),
        "reaped twice"
    );
    assert_eq!(
        sys(SYS_LWP_WAIT, &[0, 0]),
        Err(errno(Errno::EDEADLK)),
        "nobody is left to wait for"
    );
    user::store_u64(TOTAL, (0..n).map(|i| user::load_u64(COUNT + 8 * i)).sum());
    exit(42)
}

const EFAULT_MSG: &str = "user: bad pointers refused, the process goes on\n";

fn efault_main(_: u64) {
    let efault = Err(errno(Errno::EFAULT));
    let einval = Err(errno(Errno::EINVAL));
    let pc = user::load_u64(WORKER_PC);
    let ctx = set_context(0, pc, stack_top(1));
    // Unmapped, past user space, wrapping round, running off the end of DATA (not
    // for write, which may write what it can read of a buffer).
    let unreadable = [HOLE, USER_LIMIT, u64::MAX - 7, DATA + DATA_LEN - 8];
    for p in unreadable {
        if p != DATA + DATA_LEN - 8 {
            assert_eq!(sys(SYS_WRITE, &[1, p, 8]), efault, "write from {p:#x}");
        }
        assert_eq!(sys(SYS_LWP_CREATE, &[p, 0, IDS]), efault, "_lwp_create from {p:#x}");
        assert_eq!(sys(SYS_NANOSLEEP, &[p]), efault, "nanosleep from {p:#x}");
    }
    // The same, and mapped but not writable: read-only data, text.
    let unwritable = [HOLE, USER_LIMIT, u64::MAX - 7, DATA + DATA_LEN - 2, RO, TEXT.start];
    for p in unwritable {
        assert_eq!(sys(SYS_LWP_CREATE, &[ctx, 0, p]), efault, "_lwp_create's id to {p:#x}");
        assert_eq!(sys(SYS_LWP_WAIT, &[0, p]), efault, "_lwp_wait's id to {p:#x}");
        assert_eq!(sys(SYS_LWP_TIMES, &[p]), efault, "lwp_times to {p:#x}");
    }
    // Bad parameters that are not pointers.
    assert_eq!(sys(SYS_LWP_CREATE, &[ctx, 0xdead_0000, IDS]), einval, "flags");
    set_context(1, pc + 2, stack_top(1));
    assert_eq!(sys(SYS_LWP_CREATE, &[CTX + 24, 0, IDS]), einval, "a misaligned pc");
    set_context(1, pc, stack_top(1) - 8);
    assert_eq!(sys(SYS_LWP_CREATE, &[CTX + 24, 0, IDS]), einval, "a misaligned stack");
    user::store_u64(TS, 0);
    user::store_u64(TS + 8, 1_000_000_000);
    assert_eq!(sys(SYS_NANOSLEEP, &[TS]), einval, "a nanosecond count of a whole second");
    // None of them made an LWP.
    for id in 2..6 {
        assert_eq!(sys(SYS_LWP_KILL, &[id, 0]), Err(errno(Errno::ESRCH)), "LWP {id} exists");
    }
    // And the process goes on: the same calls with good pointers work.
    user::store_u64(TS + 8, 1_000_000);
    assert_eq!(sys(SYS_NANOSLEEP, &[TS]), Ok((0, 0)));
    assert_eq!(sys(SYS_LWP_TIMES, &[TIMES]), Ok((0, 0)));
    assert_eq!(user::load_u64(TIMES + 40), 1000, "lwp_times' hz");
    for (k, b) in EFAULT_MSG.bytes().enumerate() {
        user::store_u8(MSG + k as u64, b);
    }
    let len = EFAULT_MSG.len() as u64;
    assert_eq!(sys(SYS_WRITE, &[1, MSG, len]), Ok((len, 0)));
    exit(7)
}

/// Starts a spinner, waits until it spins, then traps as `how` says: a bad call
/// number, an unmapped load, a store to read-only memory, a misaligned load, an
/// illegal instruction, a division by zero. `MARK` is 1 at the trap, 2 past it.
fn dying_main(how: u64) {
    create_lwp(0, user::load_u64(WORKER_PC), 0, 0);
    until("the spinner to spin", || user::load_u64(STARTED) != 0);
    user::store_u64(MARK, 1);
    match how {
        0 => drop(sys(1_000_000, &[])),
        1 => drop(user::load_u64(HOLE)),
        2 => user::store_u64(RO, 1),
        3 => drop(user::load_u64(DATA + 4)),
        4 => user::fault(FaultKind::IllegalInstruction, TEXT.start),
        _ => user::fault(FaultKind::DivisionByZero, TEXT.start),
    }
    user::store_u64(MARK, 2);
    exit(0)
}

/// Starts the continuer, then makes `n` detached LWPs that exit at once, counting
/// in `FAILS` the creations that fail but for a full process (`EAGAIN`); stops the
/// continuer and exits 42.
fn create_race_main(n: u64) {
    let pc = user::load_u64(WORKER_PC);
    let continuer = create_lwp(0, pc, 0, 0);
    let ctx = set_context(1, user::program(exits_at_once), stack_top(2));
    for _ in 0..n {
        match sys(SYS_LWP_CREATE, &[ctx, LWP_DETACHED, IDS + 8]) {
            Ok(_) => {}
            Err(e) if e == errno(Errno::EAGAIN) => {}
            Err(e) => {
                user::store_u64(FAILS, user::load_u64(FAILS) + 1);
                user::store_u64(LAST_ERROR, e);
            }
        }
    }
    user::store_u64(GO, 1);
    wait_lwp(continuer.into());
    exit(42)
}

/// Continues LWPs 3 to 10 over and over until `GO`.
fn continuer(_: u64) {
    while user::load_u64(GO) == 0 {
        for id in 3..=10 {
            let _ = sys(SYS_LWP_CONTINUE, &[id]);
        }
    }
    lwp_exit()
}

/// An LWP that exits as soon as it runs.
fn exits_at_once(_: u64) {
    lwp_exit()
}

/// Aims every call that takes an LWP id at the `n` LWPs of another process (ids
/// in `OTHER_IDS`): none of them is found. Its own LWP 1 is.
fn other_main(n: u64) {
    let esrch = Err(errno(Errno::ESRCH));
    for i in 0..n {
        let id = user::load_u64(OTHER_IDS + 8 * i);
        assert!(id > 1, "LWP id {id}");
        assert_eq!(sys(SYS_LWP_KILL, &[id, 0]), esrch, "_lwp_kill({id})");
        assert_eq!(sys(SYS_LWP_SUSPEND, &[id]), esrch, "_lwp_suspend({id})");
        assert_eq!(sys(SYS_LWP_CONTINUE, &[id]), esrch, "_lwp_continue({id})");
        assert_eq!(sys(SYS_LWP_WAIT, &[id, DEPARTED]), esrch, "_lwp_wait({id})");
        assert_eq!(sys(SYS_LWP_UNPARK, &[id]), esrch, "_lwp_unpark({id})");
    }
    assert_eq!(sys(SYS_LWP_SELF, &[]), Ok((1, 0)));
    assert_eq!(sys(SYS_LWP_KILL, &[1, 0]), Ok((0, 0)));
    exit(0)
}

/// Sleeper `i`: `SLEEPS` rounds of a short `nanosleep` and an `lwp_times` whose count
/// of system calls must be two more than the round before's (S5.4) and whose CPU
/// times never go back (S5.6); its round count in `COUNT`.
fn sleeper(i: u64) {
    let times = WTIMES + LWP_TIMES * i;
    assert_eq!(sys(SYS_LWP_TIMES, &[times]), Ok((0, 0)));
    let mut before = [user::load_u64(times), user::load_u64(times + 8), user::load_u64(times + 32)];
    for round in 0..SLEEPS {
        assert_eq!(sys(SYS_NANOSLEEP, &[TS]), Ok((0, 0)), "sleeper {i} round {round}");
        assert_eq!(sys(SYS_LWP_TIMES, &[times]), Ok((0, 0)));
        let now = [user::load_u64(times), user::load_u64(times + 8), user::load_u64(times + 32)];
        assert_eq!(now[2], before[2] + 2, "sleeper {i}: its count of system calls");
        assert!(now[0] >= before[0] && now[1] >= before[1], "sleeper {i}: its times went back");
        before = now;
        user::store_u64(COUNT + 8 * i, round + 1);
    }
    // Every swap-out was read back in before it ran: a fault that needed I/O and
    // a block read each, a block written each (S5.4).
    let ru = WRU + RUSAGE_LEN * i;
    assert_eq!(sys(SYS_RUSAGESYS, &[RUSAGESYS_GETRUSAGE_LWP, ru]), Ok((0, 0)));
    let w = |k: u64| user::load_u64(ru + 8 * k);
    let (majflt, nswap, inblock, oublock) = (w(9), w(10), w(11), w(12));
    assert!(
        majflt == nswap && inblock == majflt && oublock >= nswap,
        "sleeper {i}: {nswap} swap-outs, {majflt} faults, {inblock} reads, {oublock} writes"
    );
    lwp_exit()
}

/// Sets a 2 ms sleep, creates `n` sleepers, waits for each, and exits with 42.
fn sleepers_main(n: u64) {
    user::store_u64(TS, 0);
    user::store_u64(TS + 8, 2_000_000);
    let pc = user::load_u64(WORKER_PC);
    let ids: Vec<u32> = (0..n).map(|i| create_lwp(i, pc, i, 0)).collect();
    for id in ids {
        wait_lwp(id.into());
    }
    exit(42)
}
