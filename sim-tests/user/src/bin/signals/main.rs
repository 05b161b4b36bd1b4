//! `signals`: the signal model from user mode (S10–S15). The argument's low byte
//! selects a check, the rest is a pid for the two that involve another process:
//!
//! | arg | what | SPEC |
//! |---|---|---|
//! | 1 | a handler installed by LWP 1 runs in LWP 2, the one LWP that does not mask the signal; its `siginfo` names the process | S10, S14 |
//! | 2 | 1000 process signals while LWP A masks it and B does not: B takes every one, exactly once each; masked by all, it stays pending until A unmasks it: A takes it | S11, S14 |
//! | 3 | two LWPs with alternate stacks of their own each run an `SA_ONSTACK` handler on their own; on it, `sigaltstack` says so and refuses a change; without `SA_ONSTACK`, or with the stack disabled, the handler runs on the LWP's stack | S12 |
//! | 4 | SIGSEGV, SIGBUS, SIGILL, SIGFPE (hardware and `ta 2`), SIGSYS and SIGTRAP caused by LWP 2 run their handler in LWP 2, which repairs the cause (SIGSEGV: the address register) or skips the instruction, and LWP 2 goes on past it | S13 |
//! | 5 | LWP 2 masks SIGSEGV, for which there is a handler, and faults: the process dies of SIGSEGV | S13 |
//! | 6 | LWP 2 ignores SIGILL and makes an illegal instruction: the process dies of SIGILL | S13 |
//! | 7 | SIGINT, SIGTERM, SIGALRM (`alarm`, `ITIMER_REAL`) to a process where only LWP 3 does not mask them: LWP 3 takes each; its own `ITIMER_VIRTUAL` and `ITIMER_PROF` signal it | S14, S5.5 |
//! | 8 | a caught signal ends `nanosleep` and `_lwp_wait` with EINTR; with `SA_RESTART` `_lwp_wait` goes on to its end | S14 |
//! | 9 | `sigsuspend` returns EINTR after the handler, with the old mask back; `sigtimedwait` takes a masked signal with its `siginfo` (kill, sigqueue), or times out with EAGAIN | S14 |
//! | 10 | every bad argument of every signal call gets its error, and changes nothing | S16 |
//! | 11 | the handler's frame cannot be written (an alternate stack in unmapped memory): the process dies of SIGSEGV | S12 |
//! | 12 | every register (the user's `%g7`, `%y`, `%ccr`, `%asi` too) and the register windows of code interrupted by a handler are as they were once it returns; a system call's results too, when the handler is taken on the call's way out | S5.1 |
//! | 13 | target of another process (the argument's rest: its pid): its handler learns that pid and `SI_USER`, nothing of an LWP; the other's `_lwp_kill` of LWP ids 2 and 3 reaches none of its LWPs | S15 |
//! | 14 | the other process, sending to the pid `rest` after its own, once that one says (SIGUSR2) it is ready: `_lwp_kill` of ids 2, 3 (it has none of its own) is ESRCH; then its LWP 2 sends SIGUSR1 with `kill` | S15 |
//! | 15 | spinning and sleeping LWPs, until a signal ends the process (the kernel's job-control and SIGKILL tests) | S14 |
//! | 16 | LWPs in every state — spinning, in `nanosleep`, `sigsuspend`, `sigtimedwait`, `_lwp_wait`, suspended — until SIGKILL | S14 |
//!
//! Exit codes: 0 passed; otherwise the number of the failed check (see `check!`),
//! 200 an unknown argument, 101 a panic.
//!
//! One file per subject: [`delivery`] (1, 2, 7: which LWP takes a signal),
//! [`altstack`] (3, 11), [`traps`] (4, 5, 6), [`waiting`] (8, 9: interrupted and
//! waiting calls), [`arguments`] (10), [`registers`] (12), [`processes`] (13, 14:
//! between processes; 15, 16: the kernel's targets). Here the argument's dispatch
//! and what every check uses: the calls' wrappers, the handlers that record what
//! they saw, and the LWPs several checks make.

#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

mod altstack;
mod arguments;
mod delivery;
mod processes;
mod registers;
mod traps;
mod waiting;

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};

use lwp_user::abi::*;
use lwp_user::signal::{sigaction, sigprocmask, Disposition};
use lwp_user::{check, clock_ns, getpid, lwp_kill, lwp_self, nanosleep, ok, say, yield_now};

lwp_user::main!(main);

const MS: u64 = 1_000_000;

fn pid() -> u64 {
    ok!(90, getpid())
}

fn me() -> u32 {
    ok!(90, lwp_self())
}

fn set(sigs: &[u64]) -> SigSet {
    SigSet::of(sigs)
}

/// Sleeps about `ms` milliseconds; a signal may cut it short.
fn nap(ms: u64) {
    let ts = Timespec { tv_sec: 0, tv_nsec: (ms * MS) as i64 };
    let _ = nanosleep(&ts);
}

/// Yields until `done()` holds; false if it did not within `ms` milliseconds.
fn await_for(ms: u64, done: impl Fn() -> bool) -> bool {
    let start = ok!(90, clock_ns());
    while !done() {
        if ok!(90, clock_ns()) - start > ms * MS {
            return done();
        }
        ok!(90, yield_now());
    }
    true
}

fn catch(sig: u64, h: lwp_user::signal::Handler, flags: u32) {
    ok!(91, sigaction(sig, Disposition::Catch(h), flags, SigSet::EMPTY));
}

fn block(sigs: &[u64]) {
    ok!(92, sigprocmask(SIG_BLOCK, set(sigs)));
}

fn unblock(sigs: &[u64]) {
    ok!(92, sigprocmask(SIG_UNBLOCK, set(sigs)));
}

// ---- What handlers saw ----------------------------------------------------------

/// Handler runs, by the LWP that ran it.
static RAN_BY: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
/// The last handler run: its signal, LWP, `si_code`, `si_pid`, `si_addr`, `si_value`.
static LAST: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];

fn ran() -> u64 {
    RAN_BY.iter().map(|r| r.load(SeqCst)).sum()
}

fn ran_by(lwp: u32) -> u64 {
    RAN_BY[lwp as usize].load(SeqCst)
}

fn record(sig: u64, info: Option<&SigInfoT>) {
    let lwp = me();
    LAST[0].store(sig, SeqCst);
    LAST[1].store(u64::from(lwp), SeqCst);
    if let Some(i) = info {
        LAST[2].store(i.si_code as u64, SeqCst);
        LAST[3].store(i.si_pid as u64, SeqCst);
        LAST[4].store(i.si_addr, SeqCst);
        LAST[5].store(i.si_value, SeqCst);
    }
    RAN_BY[lwp as usize].fetch_add(1, SeqCst);
}

fn h_record(sig: u64, info: Option<&SigInfoT>, _: &mut UContext) {
    record(sig, info);
}

/// Skips the instruction the context was interrupted at.
fn skip(uc: &mut UContext) {
    let g = &mut uc.uc_mcontext.gregs;
    g[REG_PC] = g[REG_NPC];
    g[REG_NPC] += 4;
}

fn h_skip(sig: u64, info: Option<&SigInfoT>, uc: &mut UContext) {
    record(sig, info);
    skip(uc);
}

const REG_PC: usize = 1;
const REG_NPC: usize = 2;

// ---- LWPs several checks make ---------------------------------------------------

static GO: AtomicU64 = AtomicU64::new(0);

/// Yields until `GO` reaches `stage`.
fn wait_go(stage: u64) {
    while GO.load(SeqCst) < stage {
        ok!(93, yield_now());
    }
}

fn spin_until_stage(stage: u64) {
    wait_go(stage);
}

/// Sleeps `arg` ms, then sends SIGUSR1 to LWP 1.
fn poke_lwp1(ms: u64) {
    nap(ms);
    ok!(60, lwp_kill(1, SIGUSR1));
}

static STAGE: AtomicU32 = AtomicU32::new(0);

fn main(arg: u64) {
    let (which, rest) = (arg & 0xff, arg >> 8);
    STAGE.store(which as u32, SeqCst);
    match which {
        1 => delivery::handler_in_other_lwp(),
        2 => delivery::masks(),
        3 => altstack::altstacks(),
        4 => traps::traps(),
        5 => traps::dies_in_lwp2(traps::masked_trap, 40),
        6 => traps::dies_in_lwp2(traps::ignored_trap, 42),
        7 => delivery::process_signals(),
        8 => waiting::eintr(),
        9 => waiting::suspend_and_wait(),
        10 => arguments::bad_arguments(),
        11 => altstack::bad_frame(),
        12 => registers::registers(),
        13 => processes::target(rest),
        14 => processes::sender(pid() + rest),
        15 => processes::stop_target(),
        16 => processes::kill_target(),
        _ => check!(200, false, "no check {which}"),
    }
    if which != 10 {
        say!("check {which} passed");
    }
}
