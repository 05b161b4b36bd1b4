//! The fuzzer on the simulation machine (issue #9; S1, S3, S13, S15, S16): the same
//! runs as under QEMU (`lwp_fuzz`, checked by `kern_selftest::fuzz`), by a user
//! program of the simulation, on several CPUs at once, where LWPs of one process
//! make their calls truly in parallel.
//!
//! The program is host code that plays user code (`arch::sim::user`): its [`Env`]
//! makes system calls with `user::syscall` and reaches the process's memory with
//! user loads and stores, so the fuzzer's shared words, staging areas and buffers
//! are in the process's address space, laid out as `DATA` says. Its counts are a
//! load and a store (see `Env::add`). A new LWP needs no stack here (the machine
//! has no register windows): every one is given the stub stack's top, which the
//! kernel only checks. What it may not do is the simulation's rule for user
//! programs: keep a host allocation or lock across a system call, which may end the
//! LWP (its console lines are formatted on the stack).
//!
//! The address space of each process: the programs' text page, `DATA` (read-write),
//! a read-write page ending at `TOP` with nothing above it, and nothing else: the
//! kernel's addresses and `UNMAPPED` are unmapped here too.
//!
//! Kernel state is static, so each test binary boots once: `tests/fuzz_Ncpu.rs` on
//! N CPUs in parallel, `tests/fuzz_seeded.rs` a seed at a time on the seeded
//! schedule, where a failure replays from its seed.

use arch::kmem::Shared;
use std::fmt::{self, Write};
use std::time::Duration;

use arch::sim::user::{self, TEXT};
use arch::sim::{Outcome, SimConfig};
use arch::{Machine, Prot, UserRegs, PAGE_SIZE, USER_LIMIT};
use kern::proc::Pid;
use kern::M;
use kern_selftest::fuzz::{self, Programs};
use kern_selftest::{skip, Suite, Test, TestResult};
use lwp_abi::{SYS_LWP_CREATE, SYS_LWP_EXIT, SYS_NANOSLEEP, SYS_WRITE};
use lwp_fuzz::{word, Env, Layout, NSLOTS, STAGE_LEN};

/// The tests: the runs of the boot argument `fuzz=SEED,COUNT`.
pub static FUZZ: &[Test] = &[Test::new("fuzz_runs", fuzz_runs)];

/// Boots `config`'s machine, runs the fuzzing suite, prints the console, and fails
/// unless it passed. `SIM_FUZZ=SEED,COUNT` in the environment runs those calls
/// instead of the boot arguments' (`hz=1000` stays).
pub fn boot_and_check(config: SimConfig) {
    let ncpus = config.ncpus;
    let boot_args = match std::env::var("SIM_FUZZ") {
        Ok(run) => &*Box::leak(format!("hz=1000 fuzz={run}").into_boxed_str()),
        Err(_) => config.boot_args,
    };
    let config = SimConfig { boot_args, timeout: Some(Duration::from_secs(600)), ..config };
    static SUITES: [Suite; 1] = [("fuzz", FUZZ)];
    let out: Outcome = crate::boot_suites(config, &SUITES);
    println!("{}", out.console);
    assert!(!out.timed_out, "the kernel hung on {ncpus} CPU(s)");
    assert!(
        out.console.contains("selftest: 2 passed, 0 failed, 0 skipped"),
        "the fuzzer failed on {ncpus} CPU(s)"
    );
    assert!(out.success, "the kernel halted with failure on {ncpus} CPU(s)");
}

fn fuzz_runs() -> TestResult {
    assert_eq!(lwp_fuzz::LIMIT, USER_LIMIT, "the fuzzer's idea of the user limit");
    match fuzz::bootarg() {
        Some((seed, count)) => fuzz::run(&SimPrograms, seed, count),
        None => skip!("no boot argument fuzz=SEED,COUNT"),
    }
}

// What lives where in `DATA`.
const DATA: u64 = 0x2000_0000;
const DATA_LEN: u64 = 4 * PAGE_SIZE;
/// The shared words.
const SHARED: u64 = DATA;
/// Each slot's staging area.
const STAGE: u64 = DATA + 0x400;
/// The buffer of garbage.
const OUTBUF: u64 = DATA + 0x800;
const OUTBUF_LEN: u64 = 512;
/// The console line.
const LINE: u64 = DATA + 0xc00;
const LINE_TEXT: &[u8] = b"fuzz: the console line\n";
/// Each slot's room for a line of its own to say.
const SAY: u64 = DATA + 0x1000;
const SAY_LEN: u64 = 256;
const HUGE_TS: u64 = DATA + 0x1800;
const MAILBOX: u64 = DATA + 0x1810;
/// The stub stack, which nobody reads.
const STUB_STACK_TOP: u64 = DATA + 0x1d00;
/// The end of a read-write page with nothing mapped above it.
const TOP: u64 = 0x3000_0000;
/// A megabyte with nothing in it.
const UNMAPPED: u64 = 0x4000_0000;

const _: () = assert!(SHARED + 8 * word::N as u64 <= STAGE);
const _: () = assert!(STAGE + STAGE_LEN * NSLOTS as u64 <= OUTBUF);
const _: () = assert!(SAY + SAY_LEN * NSLOTS as u64 <= HUGE_TS);

/// Starts the fuzzer in processes with address spaces of their own.
struct SimPrograms;

impl Programs for SimPrograms {
    fn start(&self, arg: u64) -> Result<Pid, String> {
        let space = M::as_create().map_err(|e| format!("as_create: {e:?}"))?;
        let space = Shared::try_new(space).map_err(|_| "no memory for the space")?;
        let map = |va: u64, len: u64, prot: Prot| {
            M::as_map(&space, va, len, prot).map_err(|e| format!("as_map at {va:#x}: {e:?}"))
        };
        map(TEXT.start, TEXT.end - TEXT.start, Prot::READ | Prot::EXEC)?;
        map(DATA, DATA_LEN, Prot::READ | Prot::WRITE)?;
        map(TOP - PAGE_SIZE, PAGE_SIZE, Prot::READ | Prot::WRITE)?;
        let write = |va: u64, bytes: &[u8]| {
            M::as_write(&space, va, bytes).map_err(|e| format!("as_write at {va:#x}: {e:?}"))
        };
        write(LINE, LINE_TEXT)?;
        write(HUGE_TS, &i64::MAX.to_be_bytes())?;
        write(HUGE_TS + 8, &999_999_999i64.to_be_bytes())?;
        let regs = UserRegs::for_entry(user::program(fuzz_program), TOP, arg);
        kern::proc::life::proc_create_user(space, kern::vm::Vm::new(), regs, None)
            .map_err(|e| format!("proc_create_user: {e:?}"))
    }

    fn mailbox(&self) -> u64 {
        MAILBOX
    }

    fn replay(&self, seed: u32, calls: u32) -> String {
        let n = M::ncpus();
        format!("SIM_FUZZ={seed},{calls} cargo test -p sim-tests --test fuzz_{n}cpu -- --nocapture")
    }
}

// ---- The user programs.

/// The fuzzer's first LWP.
fn fuzz_program(arg: u64) {
    lwp_fuzz::start(&mut Sim::new(0), arg);
}

/// Every LWP the fuzzer spawns: its slot is in its argument.
fn lwp_program(arg: u64) {
    lwp_fuzz::lwp_start(&mut Sim::new((arg >> 8) as u8 as usize), arg);
    let _ = user::syscall(SYS_LWP_EXIT, [0; 6]);
    unreachable!("_lwp_exit returned");
}

/// The stub: `_lwp_exit` at once.
fn stub(_: u64) {
    let _ = user::syscall(SYS_LWP_EXIT, [0; 6]);
    unreachable!("_lwp_exit returned");
}

/// The sleeper: `nanosleep(arg)`, then `_lwp_exit`.
fn sleeper(ts: u64) {
    let _ = user::syscall(SYS_NANOSLEEP, [ts, 0, 0, 0, 0, 0]);
    let _ = user::syscall(SYS_LWP_EXIT, [0; 6]);
    unreachable!("_lwp_exit returned");
}

/// One LWP's view of its process.
struct Sim {
    slot: usize,
    layout: Layout,
}

impl Sim {
    fn new(slot: usize) -> Sim {
        Sim {
            slot: slot.min(NSLOTS - 1),
            layout: Layout {
                text: TEXT.start,
                data_end: DATA + DATA_LEN,
                top: TOP,
                unmapped: UNMAPPED,
                outbuf: OUTBUF,
                outbuf_len: OUTBUF_LEN,
                line: LINE,
                line_len: LINE_TEXT.len() as u64,
                stub_pc: user::program(stub),
                sleeper_pc: user::program(sleeper),
                stub_stack_top: STUB_STACK_TOP,
                huge_ts: HUGE_TS,
                mailbox: MAILBOX,
            },
        }
    }
}

/// A line formatted on the stack (no host allocation may outlive a system call).
struct LineBuf {
    buf: [u8; SAY_LEN as usize],
    len: usize,
}

impl Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.buf.len() - 1 - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

impl Env for Sim {
    fn syscall(&mut self, num: u64, args: [u64; 6]) -> Result<(u64, u64), u64> {
        user::syscall(num, args)
    }

    fn get(&self, w: usize) -> u64 {
        user::load_u64(SHARED + 8 * w as u64)
    }

    fn set(&self, w: usize, v: u64) {
        user::store_u64(SHARED + 8 * w as u64, v)
    }

    fn add(&self, w: usize, n: u64) -> u64 {
        let v = self.get(w) + n;
        self.set(w, v);
        v
    }

    fn stage(&mut self, words: &[u64]) -> u64 {
        let at = STAGE + STAGE_LEN * self.slot as u64;
        for (i, &w) in words.iter().enumerate() {
            user::store_u64(at + 8 * i as u64, w);
        }
        at
    }

    fn peek(&self, at: u64) -> u64 {
        user::load_u64(at)
    }

    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn spawn(&mut self, _slot: usize, arg: u64, flags: u64) -> Result<u32, u64> {
        let ctx = self.stage(&[user::program(lwp_program), STUB_STACK_TOP, arg, 0]);
        user::syscall(SYS_LWP_CREATE, [ctx, flags, ctx + 24, 0, 0, 0])?;
        Ok((user::load_u64(ctx + 24) >> 32) as u32)
    }

    fn say(&mut self, line: fmt::Arguments) {
        let mut b = LineBuf { buf: [0; SAY_LEN as usize], len: 0 };
        let _ = b.write_fmt(line);
        b.buf[b.len] = b'\n';
        let at = SAY + SAY_LEN * self.slot as u64;
        for (i, &c) in b.buf[..=b.len].iter().enumerate() {
            user::store_u8(at + i as u64, c);
        }
        let _ = user::syscall(SYS_WRITE, [1, at, b.len as u64 + 1, 0, 0, 0]);
    }
}
