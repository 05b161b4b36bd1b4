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
//! | 12 | every register (the user's `%g7`, `%y`, `%ccr`, `%asi` too) and the register windows of code interrupted by a handler are as they were once it returns | S5.1 |
//! | 13 | target of another process (the argument's rest: its pid): its handler learns that pid and `SI_USER`, nothing of an LWP; the other's `_lwp_kill` of LWP ids 2 and 3 reaches none of its LWPs | S15 |
//! | 14 | the other process, sending to the pid `rest` after its own, once that one says (SIGUSR2) it is ready: `_lwp_kill` of ids 2, 3 (it has none of its own) is ESRCH; then its LWP 2 sends SIGUSR1 with `kill` | S15 |
//! | 15 | spinning and sleeping LWPs, until a signal ends the process (the kernel's job-control and SIGKILL tests) | S14 |
//! | 16 | LWPs in every state — spinning, in `nanosleep`, `sigsuspend`, `sigtimedwait`, `_lwp_wait`, suspended — until SIGKILL | S14 |
//!
//! Exit codes: 0 passed; otherwise the number of the failed check (see `check!`),
//! 200 an unknown argument, 101 a panic.

#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

use core::arch::asm;
use core::cell::UnsafeCell;
use core::hint::black_box;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};

use lwp_user::abi::*;
use lwp_user::addr::UNMAPPED;
use lwp_user::errno::{EAGAIN, EFAULT, EINTR, EINVAL, ENOMEM, ENOSYS, EPERM, ESRCH};
use lwp_user::signal::{
    alarm, getcontext, getitimer, kill, setitimer, sigaction, sigaction_raw, sigaltstack, sigmask,
    sigpending, sigprocmask, sigqueue, sigsuspend, sigtimedwait, timeval_ms, Disposition,
};
use lwp_user::{
    check, clock_ns, getpid, lwp_kill, lwp_self, lwp_wait, nanosleep, ok, say, spawn, syscall6,
    yield_now,
};

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
const REG_O0: usize = 11;

// ---- 1: S10 -----------------------------------------------------------------------

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

fn handler_in_other_lwp() {
    let other = ok!(1, spawn(spin_until_stage, 1, 0));
    catch(SIGUSR1, h_record, SA_SIGINFO);
    block(&[SIGUSR1]);
    ok!(1, kill(pid(), SIGUSR1));
    check!(1, await_for(2000, || ran() == 1), "the handler did not run");
    check!(
        2,
        ran_by(other) == 1 && ran_by(1) == 0,
        "LWP 1 installed it; LWP {} ran it",
        LAST[1].load(SeqCst)
    );
    let (code, from) = (LAST[2].load(SeqCst) as i32, LAST[3].load(SeqCst));
    check!(3, code == SI_USER && from == pid(), "siginfo: code {code}, pid {from}");
    GO.store(1, SeqCst);
    ok!(4, lwp_wait(other));
}

// ---- 2: S11 -----------------------------------------------------------------------

const SENDS: u64 = 1000;
/// What LWP A and B are told to do: 1 block SIGUSR1, 2 unblock it; the stage done.
static CMD: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];
static DONE: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

/// LWP `k` (1: A, 2: B) of check 2: masks SIGUSR1 if it is A, then yields, acting
/// on commands, until `GO`.
fn masker(k: u64) {
    if k == 1 {
        block(&[SIGUSR1]);
    }
    DONE[k as usize].store(1, SeqCst);
    while GO.load(SeqCst) == 0 {
        let c = CMD[k as usize].swap(0, SeqCst);
        match c {
            1 => block(&[SIGUSR1]),
            2 => unblock(&[SIGUSR1]),
            _ => {}
        }
        if c != 0 {
            DONE[k as usize].fetch_add(1, SeqCst);
        }
        ok!(93, yield_now());
    }
}

fn masks() {
    catch(SIGUSR1, h_record, 0);
    let a = ok!(10, spawn(masker, 1, 0));
    let b = ok!(10, spawn(masker, 2, 0));
    block(&[SIGUSR1]);
    check!(10, await_for(2000, || DONE[1].load(SeqCst) == 1 && DONE[2].load(SeqCst) == 1), "start");
    for i in 0..SENDS {
        ok!(11, kill(pid(), SIGUSR1));
        check!(11, await_for(2000, || ran() == i + 1), "send {i}: {} handler runs", ran());
    }
    check!(
        12,
        ran_by(b) == SENDS && ran_by(a) == 0 && ran_by(1) == 0,
        "runs by A {}, B {}, LWP 1 {}",
        ran_by(a),
        ran_by(b),
        ran_by(1)
    );
    // Masked by every LWP: pending on the process, taken by the first to unmask it.
    CMD[2].store(1, SeqCst);
    check!(13, await_for(2000, || DONE[2].load(SeqCst) == 2), "B did not block");
    ok!(13, kill(pid(), SIGUSR1));
    nap(30);
    check!(14, ran() == SENDS, "a signal masked by every LWP was taken");
    check!(14, ok!(14, sigpending()) == set(&[SIGUSR1]), "not pending on the process");
    CMD[1].store(2, SeqCst);
    check!(15, await_for(2000, || ran() == SENDS + 1), "A unmasked it and did not take it");
    check!(15, ran_by(a) == 1 && ran_by(b) == SENDS, "A {}, B {}", ran_by(a), ran_by(b));
    check!(16, ok!(16, sigpending()).sigbits == [0; 4], "still pending");
    GO.store(1, SeqCst);
    ok!(17, lwp_wait(a));
    ok!(17, lwp_wait(b));
}

// ---- 3: S12 -----------------------------------------------------------------------

const ALT: usize = 16 * 1024;
#[repr(C, align(16))]
struct AltStacks(UnsafeCell<[[u8; ALT]; 3]>);
// SAFETY: only the addresses are used here; the kernel writes handler frames there.
unsafe impl Sync for AltStacks {}
static ALTSTACKS: AltStacks = AltStacks(UnsafeCell::new([[0; ALT]; 3]));

fn altstack(k: usize) -> (u64, u64) {
    let base = ALTSTACKS.0.get() as u64 + (k * ALT) as u64;
    (base, base + ALT as u64)
}

/// Per LWP: the address of a handler's local, and what `sigaltstack` said in it.
static LOCAL: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static ONSTACK: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

fn h_where(sig: u64, info: Option<&SigInfoT>, _: &mut UContext) {
    let local = black_box(0u64);
    let lwp = me() as usize;
    LOCAL[lwp].store(&local as *const u64 as u64, SeqCst);
    let mut oss = StackT::default();
    let now = sigaltstack(None, Some(&mut oss));
    let change = StackT { ss_sp: altstack(2).0, ss_size: ALT as u64, ss_flags: 0, ss_pad: 0 };
    let refused = sigaltstack(Some(&change), None);
    let flags = if now.is_ok() { u64::from(oss.ss_flags) } else { 99 };
    ONSTACK[lwp].store(flags | if refused == Err(EPERM) { 0x100 } else { 0 }, SeqCst);
    record(sig, info);
}

/// Sets alternate stack `k` for the calling LWP, sends itself SIGUSR2 and checks
/// where the handler ran.
fn on_own_altstack(k: u64) {
    let (lo, hi) = altstack(k as usize);
    let ss = StackT { ss_sp: lo, ss_size: ALT as u64, ss_flags: 0, ss_pad: 0 };
    ok!(20, sigaltstack(Some(&ss), None));
    let lwp = me();
    ok!(21, lwp_kill(lwp, SIGUSR2));
    let at = LOCAL[lwp as usize].load(SeqCst);
    check!(
        22,
        (lo..hi).contains(&at),
        "LWP {lwp}'s handler ran at {at:#x}, not on {lo:#x}..{hi:#x}"
    );
    let on = ONSTACK[lwp as usize].load(SeqCst);
    check!(23, on == u64::from(SS_ONSTACK) | 0x100, "on the stack sigaltstack said {on:#x}");
    let mut oss = StackT::default();
    ok!(24, sigaltstack(None, Some(&mut oss)));
    check!(24, oss.ss_sp == lo && oss.ss_flags == 0, "off it: {oss:?}");
}

fn altstacks() {
    catch(SIGUSR2, h_where, SA_ONSTACK);
    catch(SIGUSR1, h_where, 0);
    let a = ok!(20, spawn(on_own_altstack, 0, 0));
    ok!(20, lwp_wait(a));
    let b = ok!(20, spawn(on_own_altstack, 1, 0));
    ok!(20, lwp_wait(b));
    // Without SA_ONSTACK the handler runs on the LWP's own stack.
    let (lo, hi) = altstack(2);
    ok!(
        25,
        sigaltstack(Some(&StackT { ss_sp: lo, ss_size: ALT as u64, ss_flags: 0, ss_pad: 0 }), None)
    );
    ok!(25, lwp_kill(1, SIGUSR1));
    let at = LOCAL[1].load(SeqCst);
    check!(25, !(lo..hi).contains(&at) && at != 0, "a handler without SA_ONSTACK ran at {at:#x}");
    // Disabled: SA_ONSTACK handlers run on the LWP's stack too.
    let off = StackT { ss_sp: 0, ss_size: 0, ss_flags: SS_DISABLE, ss_pad: 0 };
    ok!(26, sigaltstack(Some(&off), None));
    ok!(26, lwp_kill(1, SIGUSR2));
    let at = LOCAL[1].load(SeqCst);
    check!(26, !(lo..hi).contains(&at), "with the stack disabled, the handler ran at {at:#x}");
}

// ---- 4, 5, 6: S13 -----------------------------------------------------------------

static WORD: AtomicU64 = AtomicU64::new(0x600d_cafe);

/// SIGSEGV's handler repairs the cause: the load's address register (`%o0`)
/// points at `WORD` when the load is made again.
fn h_repair(sig: u64, info: Option<&SigInfoT>, uc: &mut UContext) {
    record(sig, info);
    uc.uc_mcontext.gregs[REG_O0] = WORD.as_ptr() as u64;
}

/// An 8-byte load from `addr`, through `%o0`.
fn load_o0(addr: u64) -> u64 {
    let v: u64;
    // SAFETY: meant to fault; the handler points %o0 at WORD, and the load is
    // made again from there. It only reads.
    unsafe {
        asm!("ldx [%o0], %o1", inout("o0") addr => _, out("o1") v, options(nostack, readonly))
    };
    v
}

/// Each trap of check 4, in LWP 2: (signal, what `si_code` it has).
fn traps_in_lwp2(_: u64) {
    let lwp = me();
    let expect = |n: u8, sig: u64, code: i32| {
        let got = (LAST[0].load(SeqCst), LAST[1].load(SeqCst), LAST[2].load(SeqCst) as i32);
        check!(n, got == (sig, u64::from(lwp), code), "signal {sig}: (sig, LWP, code) {got:?}");
    };
    let v = load_o0(UNMAPPED);
    expect(30, SIGSEGV, SEGV_MAPERR);
    check!(30, v == 0x600d_cafe && LAST[4].load(SeqCst) == UNMAPPED, "repaired load read {v:#x}");
    let misaligned = WORD.as_ptr() as u64 + 4;
    // SAFETY: meant to fault; the handler skips it.
    unsafe { asm!("ldx [{a}], %g0", a = in(reg) misaligned, options(nostack, readonly)) };
    expect(31, SIGBUS, BUS_ADRALN);
    // SAFETY: traps; the handler skips it.
    unsafe { asm!("illtrap 0", options(nostack, nomem)) };
    expect(32, SIGILL, ILL_ILLOPC);
    // SAFETY: a division by zero traps; the handler skips it.
    unsafe {
        asm!(
            "sdivx {n}, {d}, {q}",
            n = in(reg) 7u64,
            d = in(reg) black_box(0u64),
            q = lateout(reg) _,
            options(nostack, nomem),
        )
    };
    expect(33, SIGFPE, FPE_INTDIV);
    // SAFETY: the software trap for division by zero; the handler skips it.
    unsafe { asm!("ta 2", options(nostack, nomem)) };
    expect(34, SIGFPE, FPE_INTDIV);
    // SAFETY: the breakpoint trap; the handler skips it.
    unsafe { asm!("ta 1", options(nostack, nomem)) };
    expect(35, SIGTRAP, TRAP_BRKPT);
    // SAFETY: no pointers; the kernel knows no call 9999.
    let r = unsafe { syscall6(9999, [0; 6]) };
    check!(36, r == Err(ENOSYS) && LAST[0].load(SeqCst) == SIGSYS, "call 9999: {r:?}");
    check!(
        37,
        LAST[1].load(SeqCst) == u64::from(lwp),
        "SIGSYS ran in LWP {}",
        LAST[1].load(SeqCst)
    );
    check!(38, ran_by(lwp) == 7 && ran_by(1) == 0, "handler runs {} in LWP {lwp}", ran_by(lwp));
}

fn traps() {
    catch(SIGSEGV, h_repair, SA_SIGINFO);
    for sig in [SIGBUS, SIGILL, SIGFPE, SIGTRAP] {
        catch(sig, h_skip, SA_SIGINFO);
    }
    // A bad system call has trapped and returned already: nothing to skip.
    catch(SIGSYS, h_record, SA_SIGINFO);
    // LWP 1 masks them all: a trap signal is the LWP's that caused it, whatever
    // the others' masks say.
    let id = ok!(39, spawn(traps_in_lwp2, 0, 0));
    block(&[SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS]);
    ok!(39, lwp_wait(id));
}

fn masked_trap(_: u64) {
    catch(SIGSEGV, h_skip, 0);
    block(&[SIGSEGV]);
    load_o0(UNMAPPED);
}

fn ignored_trap(_: u64) {
    ok!(41, sigaction(SIGILL, Disposition::Ignore, 0, SigSet::EMPTY));
    // SAFETY: an illegal instruction: the process should die of it.
    unsafe { asm!("illtrap 0", options(nostack, nomem)) };
}

/// Runs `f` in LWP 2; the process should die there.
fn dies_in_lwp2(f: fn(u64), code: u8) {
    let id = ok!(code, spawn(f, 0, 0));
    let r = lwp_wait(id);
    check!(code, false, "LWP 2 lived on: {r:?}");
}

// ---- 7: S14 -----------------------------------------------------------------------

/// LWP 3 of check 7: unmasks what LWP 1 masks, runs its own user-time timers, and
/// spins until `GO`.
fn taker(_: u64) {
    unblock(&[SIGINT, SIGTERM, SIGALRM, SIGVTALRM, SIGPROF]);
    DONE[0].store(1, SeqCst);
    while GO.load(SeqCst) == 0 {
        black_box(ok!(93, clock_ns()));
    }
}

fn process_signals() {
    let sigs = [SIGINT, SIGTERM, SIGALRM, SIGVTALRM, SIGPROF];
    for sig in sigs {
        catch(sig, h_record, SA_SIGINFO);
    }
    block(&sigs);
    let other = ok!(50, spawn(spin_until_stage, 1, 0));
    let taker = ok!(50, spawn(taker, 0, 0));
    check!(50, await_for(2000, || DONE[0].load(SeqCst) == 1), "LWP 3 did not start");
    for (n, sig) in [(51, SIGINT), (52, SIGTERM)] {
        let before = ran();
        ok!(n, kill(pid(), sig));
        check!(n, await_for(2000, || ran() == before + 1), "signal {sig} not taken");
        check!(
            n,
            LAST[0].load(SeqCst) == sig && ran_by(taker) == ran(),
            "taken by {}",
            LAST[1].load(SeqCst)
        );
    }
    check!(53, ok!(53, alarm(1)) == 0, "an alarm was set already");
    check!(53, ok!(53, alarm(1)) == 1, "alarm(1) says no second is left");
    let before = ran();
    check!(53, await_for(3000, || ran() == before + 1), "no SIGALRM after alarm(1)");
    check!(
        53,
        LAST[0].load(SeqCst) == SIGALRM && ran_by(taker) == ran(),
        "SIGALRM by LWP {}",
        LAST[1].load(SeqCst)
    );
    let every = ITimerVal { it_interval: timeval_ms(20), it_value: timeval_ms(20) };
    ok!(54, setitimer(ITIMER_REAL, &every));
    let left = ok!(54, getitimer(ITIMER_REAL));
    check!(54, left.it_interval == timeval_ms(20) && left.it_value.tv_usec <= 20_000, "{left:?}");
    let before = ran();
    check!(
        54,
        await_for(3000, || ran() >= before + 3),
        "ITIMER_REAL fired {} times",
        ran() - before
    );
    ok!(54, setitimer(ITIMER_REAL, &ITimerVal::default()));
    // Each LWP's count read once: a SIGALRM sent before the timer was disarmed may
    // still be running its handler in LWP 3 meanwhile.
    let elsewhere: u64 = (0..RAN_BY.len() as u32).filter(|&k| k != taker).map(ran_by).sum();
    check!(54, elsewhere == 0, "SIGALRM ran elsewhere");
    // The LWPs' own timers: only that LWP's time counts, and the signal is its own.
    GO.store(1, SeqCst);
    ok!(55, lwp_wait(taker));
    ok!(55, lwp_wait(other));
    unblock(&[SIGVTALRM, SIGPROF]);
    for (n, which, sig) in [(56, ITIMER_VIRTUAL, SIGVTALRM), (57, ITIMER_PROF, SIGPROF)] {
        let once = ITimerVal { it_interval: Timeval::default(), it_value: timeval_ms(30) };
        ok!(n, setitimer(which, &once));
        let before = ran();
        let start = ok!(n, clock_ns());
        // Sleeping adds nothing to the virtual timer's time.
        nap(60);
        check!(n, which != ITIMER_VIRTUAL || ran() == before, "SIGVTALRM while asleep");
        while ran() == before && ok!(n, clock_ns()) - start < 3000 * MS {
            black_box(0);
        }
        check!(
            n,
            ran() == before + 1 && LAST[0].load(SeqCst) == sig && ran_by(1) > 0,
            "timer {which}"
        );
    }
}

// ---- 8: EINTR, SA_RESTART ---------------------------------------------------------

/// Sleeps `arg` ms, then sends SIGUSR1 to LWP 1.
fn poke_lwp1(ms: u64) {
    nap(ms);
    ok!(60, lwp_kill(1, SIGUSR1));
}

fn sleep_then_exit(ms: u64) {
    nap(ms);
}

fn eintr() {
    catch(SIGUSR1, h_record, 0);
    let poker = ok!(60, spawn(poke_lwp1, 30, 0));
    let start = ok!(60, clock_ns());
    let r = nanosleep(&Timespec { tv_sec: 5, tv_nsec: 0 });
    let took = ok!(60, clock_ns()) - start;
    check!(61, r == Err(EINTR) && took < 2000 * MS, "nanosleep: {r:?} after {took} ns");
    check!(61, ran_by(1) == 1, "the handler did not run in LWP 1");
    ok!(61, lwp_wait(poker));
    // Without SA_RESTART: _lwp_wait fails with EINTR.
    let sleeper = ok!(62, spawn(sleep_then_exit, 300, 0));
    let poker = ok!(62, spawn(poke_lwp1, 30, 0));
    let r = lwp_wait(sleeper);
    check!(62, r == Err(EINTR) && ran_by(1) == 2, "_lwp_wait: {r:?}");
    ok!(62, lwp_wait(poker));
    ok!(62, lwp_wait(sleeper));
    // With SA_RESTART: restarted after the handler, it waits to its end.
    catch(SIGUSR1, h_record, SA_RESTART);
    let sleeper = ok!(63, spawn(sleep_then_exit, 300, 0));
    let poker = ok!(63, spawn(poke_lwp1, 30, 0));
    let r = lwp_wait(sleeper);
    check!(63, r == Ok(sleeper) && ran_by(1) == 3, "_lwp_wait with SA_RESTART: {r:?}");
    ok!(63, lwp_wait(poker));
}

// ---- 9: sigsuspend, sigtimedwait --------------------------------------------------

fn send_self(sig_ms: u64) {
    nap(sig_ms >> 8);
    ok!(70, kill(pid(), sig_ms & 0xff));
}

fn suspend_and_wait() {
    catch(SIGUSR1, h_record, 0);
    block(&[SIGUSR1, SIGUSR2]);
    let sender = ok!(70, spawn(send_self, SIGUSR1 | 30 << 8, 0));
    let e = sigsuspend(&SigSet::EMPTY);
    check!(71, e == EINTR && ran_by(1) == 1, "sigsuspend: {e}, handler runs {}", ran_by(1));
    check!(72, ok!(72, sigmask()) == set(&[SIGUSR1, SIGUSR2]), "the old mask is not back");
    ok!(72, lwp_wait(sender));
    // sigtimedwait takes a masked signal: its handler (the default would end the
    // process) never runs.
    let sender = ok!(73, spawn(send_self, SIGUSR2 | 30 << 8, 0));
    let (sig, info) = ok!(73, sigtimedwait(&set(&[SIGUSR2]), None));
    check!(74, sig == SIGUSR2 && info.si_signo == SIGUSR2 as i32, "took {sig}");
    check!(74, info.si_code == SI_USER && info.si_pid as u64 == pid(), "{info:?}");
    ok!(74, lwp_wait(sender));
    ok!(75, sigqueue(pid(), SIGUSR2, 0x1234));
    let (sig, info) = ok!(75, sigtimedwait(&set(&[SIGUSR2]), None));
    check!(75, sig == SIGUSR2 && info.si_code == SI_QUEUE && info.si_value == 0x1234, "{info:?}");
    let start = ok!(76, clock_ns());
    let r = sigtimedwait(&set(&[SIGUSR2]), Some(&Timespec { tv_sec: 0, tv_nsec: 30 * MS as i64 }));
    let took = ok!(76, clock_ns()) - start;
    check!(76, r.map(|(s, _)| s) == Err(EAGAIN) && took >= 30 * MS, "{r:?} after {took} ns");
    check!(77, ran_by(1) == 1, "a handler ran for a signal taken by sigtimedwait");
}

// ---- 10: bad arguments -------------------------------------------------------------

fn bad_arguments() {
    let bad_ptrs = [UNMAPPED, 1 << 43, u64::MAX - 7, 0x404000];
    let einval = Err(EINVAL);
    // Signal numbers.
    for n in [0, NSIG, 1000, u64::MAX] {
        if n != 0 {
            check!(80, kill(pid(), n) == einval, "kill({n})");
            check!(80, sigqueue(pid(), n, 0) == einval, "sigqueue({n})");
            check!(80, lwp_kill(1, n) == einval, "_lwp_kill({n})");
        }
        check!(80, sigaction_raw(n, None, None) == einval, "sigaction({n})");
    }
    // SIGKILL and SIGSTOP cannot be caught or ignored (SIG_DFL is what they have).
    for sig in [SIGKILL, SIGSTOP] {
        check!(81, sigaction(sig, Disposition::Ignore, 0, SigSet::EMPTY) == einval, "ignore {sig}");
        check!(
            81,
            sigaction(sig, Disposition::Catch(h_record), 0, SigSet::EMPTY) == einval,
            "{sig}"
        );
    }
    // ... nor masked.
    block(&[SIGKILL, SIGSTOP, SIGUSR1]);
    check!(81, ok!(81, sigmask()) == set(&[SIGUSR1]), "masked: {:?}", sigmask());
    unblock(&[SIGUSR1]);
    check!(82, sigprocmask(0, SigSet::EMPTY).map(drop) == einval, "how 0");
    check!(82, sigprocmask(4, SigSet::EMPTY).map(drop) == einval, "how 4");
    let raw = |num: u64, a: [u64; 3]| {
        // SAFETY: a system call; bad pointers are the kernel's to refuse.
        unsafe { syscall6(num, [a[0], a[1], a[2], 0, 0, 0]) }
    };
    check!(82, raw(SYS_SIGPROCMASK, [7, 0, 0]) == Ok((0, 0)), "no set: how is not looked at");
    check!(82, raw(SYS_SIGPENDING, [3, 0, 0]) == Err(EINVAL), "sigpending subcode 3");
    check!(82, raw(SYS_CONTEXT, [2, 0, 0]) == Err(EINVAL), "context subcode 2");
    // Alternate stacks.
    let small = StackT { ss_sp: 0x1000, ss_size: MINSIGSTKSZ - 1, ss_flags: 0, ss_pad: 0 };
    check!(83, sigaltstack(Some(&small), None) == Err(ENOMEM), "a stack below MINSIGSTKSZ");
    let flags = StackT { ss_flags: 0x10, ss_size: SIGSTKSZ, ..small };
    check!(83, sigaltstack(Some(&flags), None) == einval, "flags 0x10");
    let mut oss = StackT::default();
    ok!(83, sigaltstack(None, Some(&mut oss)));
    check!(83, oss.ss_flags == SS_DISABLE, "a stack was set: {oss:?}");
    // Processes and LWPs that are not there.
    check!(84, kill(999_999, SIGUSR1) == Err(ESRCH), "kill of no process");
    check!(84, kill(1 << 40, SIGUSR1) == Err(ESRCH), "kill of pid 2^40");
    check!(84, lwp_kill(77, SIGUSR1) == Err(ESRCH), "_lwp_kill of no LWP");
    check!(84, lwp_kill(0, 0) == Err(ESRCH), "_lwp_kill of LWP 0");
    // Timers.
    check!(85, getitimer(3).map(|_| ()) == einval, "timer 3");
    let bad = ITimerVal {
        it_interval: Timeval::default(),
        it_value: Timeval { tv_sec: 0, tv_usec: 1_000_000 },
    };
    check!(85, setitimer(ITIMER_REAL, &bad).map(|_| ()) == einval, "usec 10^6");
    let neg = ITimerVal { it_interval: Timeval { tv_sec: -1, tv_usec: 0 }, ..bad };
    check!(85, setitimer(ITIMER_PROF, &neg).map(|_| ()) == einval, "negative seconds");
    check!(85, ok!(85, getitimer(ITIMER_REAL)) == ITimerVal::default(), "a refused timer was set");
    // Bad pointers: EFAULT, and nothing changed.
    let act = SigAction { sa_flags: 0, sa_pad: 0, sa_handler: SIG_IGN, sa_mask: SigSet::EMPTY };
    let good = &act as *const SigAction as u64;
    for p in bad_ptrs {
        check!(86, raw(SYS_SIGACTION, [SIGUSR1, p, 0]) == Err(EFAULT), "sigaction act {p:#x}");
        check!(86, raw(SYS_SIGACTION, [SIGUSR1, good, p]) == Err(EFAULT), "sigaction oact {p:#x}");
        check!(86, raw(SYS_SIGPROCMASK, [SIG_BLOCK, p, 0]) == Err(EFAULT), "sigprocmask set");
        check!(86, raw(SYS_SIGPROCMASK, [SIG_BLOCK, 0, p]) == Err(EFAULT), "sigprocmask oset");
        check!(86, raw(SYS_SIGPENDING, [SIGPENDING, p, 0]) == Err(EFAULT), "sigpending");
        check!(86, raw(SYS_SIGSUSPEND, [p, 0, 0]) == Err(EFAULT), "sigsuspend");
        check!(86, raw(SYS_SIGALTSTACK, [p, 0, 0]) == Err(EFAULT), "sigaltstack ss");
        check!(86, raw(SYS_SIGALTSTACK, [0, p, 0]) == Err(EFAULT), "sigaltstack oss");
        check!(86, raw(SYS_CONTEXT, [GETCONTEXT, p, 0]) == Err(EFAULT), "getcontext");
        check!(86, raw(SYS_CONTEXT, [SETCONTEXT, p, 0]) == Err(EFAULT), "setcontext");
        check!(86, raw(SYS_SIGTIMEDWAIT, [p, 0, 0]) == Err(EFAULT), "sigtimedwait set");
        check!(86, raw(SYS_GETITIMER, [ITIMER_REAL, p, 0]) == Err(EFAULT), "getitimer");
        check!(86, raw(SYS_SETITIMER, [ITIMER_REAL, p, 0]) == Err(EFAULT), "setitimer");
    }
    // A context whose windows (`gwins`) cannot be read, or number fewer than none
    // or more than a window buffer holds: refused before anything changes (a
    // context that were taken would resume after `getcontext`: `TRIED` tells).
    static TRIED: AtomicBool = AtomicBool::new(false);
    let mut uc = UContext::default();
    ok!(88, getcontext(&mut uc));
    check!(88, !TRIED.swap(true, SeqCst), "a setcontext with bad windows was taken");
    let mut gw = GWindows { wbcnt: 0, _pad: 0, spbuf: [0; 31], wbuf: [RWindow::default(); 31] };
    for (wbcnt, at, want) in [(1, UNMAPPED, EFAULT), (-1, 0, EINVAL), (8, 0, EINVAL)] {
        gw.wbcnt = wbcnt;
        uc.uc_mcontext.gwins = if at == 0 { &gw as *const GWindows as u64 } else { at };
        let r = raw(SYS_CONTEXT, [SETCONTEXT, &uc as *const UContext as u64, 0]);
        check!(88, r == Err(want), "setcontext with {wbcnt} windows at {at:#x}: {r:?}");
    }
    let mut old = SigAction::default();
    ok!(87, sigaction_raw(SIGUSR1, None, Some(&mut old)));
    check!(87, old.sa_handler == SIG_DFL, "a refused sigaction changed SIGUSR1: {old:?}");
    check!(87, ok!(87, sigmask()).sigbits == [0; 4], "a refused sigprocmask changed the mask");
    let text = lwp_user::addr::text();
    let any = set(&[SIGUSR2]);
    let anyp = &any as *const SigSet as u64;
    check!(87, raw(SYS_SIGTIMEDWAIT, [anyp, text, 0]) == Err(EFAULT), "sigtimedwait info in text");
    let soon = ITimerVal { it_interval: Timeval::default(), it_value: timeval_ms(500) };
    let soonp = &soon as *const ITimerVal as u64;
    check!(88, raw(SYS_SETITIMER, [ITIMER_REAL, soonp, text]) == Err(EFAULT), "old value in text");
    check!(
        88,
        ok!(88, getitimer(ITIMER_REAL)) == ITimerVal::default(),
        "and yet the timer was set"
    );
    say!("every bad argument refused");
}

// ---- 11: a frame that cannot be written -------------------------------------------

fn bad_frame() {
    let ss = StackT { ss_sp: UNMAPPED, ss_size: SIGSTKSZ, ss_flags: 0, ss_pad: 0 };
    ok!(89, sigaltstack(Some(&ss), None));
    catch(SIGUSR1, h_record, SA_ONSTACK);
    let _ = lwp_kill(1, SIGUSR1);
    check!(89, false, "a handler ran on an unmapped stack: {} runs", ran());
}

// ---- 12: every register back ------------------------------------------------------

static FLAG: AtomicU64 = AtomicU64::new(0);
/// The registers as `registers_after_signal` found them: `%g1`..`%g7`, `%l0`..`%l7`,
/// `%i0`..`%i5`, `%o0`..`%o4`, `%y`, `%asi`, `%ccr`.
static SEEN: [AtomicU64; 29] = [const { AtomicU64::new(0) }; 29];

/// What each slot of `SEEN` should hold (`%i4`, `%i5`: the two addresses).
fn expected(i: usize) -> u64 {
    match i {
        0..=6 => 0x101 + i as u64,
        7..=14 => 0x110 + (i - 7) as u64,
        15..=18 => 0x120 + (i - 15) as u64,
        19 => SEEN.as_ptr() as u64,
        20 => FLAG.as_ptr() as u64,
        21..=25 => 0x130 + (i - 21) as u64,
        26 => 0x55,
        27 => 0x88,
        _ => 0x05,
    }
}

/// Gives every register it can a value of its own, spins until `FLAG` (a handler
/// sets it), then stores every register in `SEEN` and puts the globals back.
fn registers_after_signal() {
    // SAFETY: a window of its own (`save`), whose locals and ins are its own; the
    // caller's outs (our ins) are declared clobbered; the globals are saved on the
    // frame and put back; %y, %asi and %ccr are the program's to change (the
    // compiler keeps nothing in them across an asm block, ccr is clobbered).
    unsafe {
        asm!(
            "save %sp, -240, %sp",
            "stx %g1, [%sp + 2047 + 176]",
            "stx %g2, [%sp + 2047 + 184]",
            "stx %g3, [%sp + 2047 + 192]",
            "stx %g4, [%sp + 2047 + 200]",
            "stx %g5, [%sp + 2047 + 208]",
            "stx %g6, [%sp + 2047 + 216]",
            "stx %g7, [%sp + 2047 + 224]",
            "mov 0x101, %g1", "mov 0x102, %g2", "mov 0x103, %g3", "mov 0x104, %g4",
            "mov 0x105, %g5", "mov 0x106, %g6", "mov 0x107, %g7",
            "mov 0x110, %l0", "mov 0x111, %l1", "mov 0x112, %l2", "mov 0x113, %l3",
            "mov 0x114, %l4", "mov 0x115, %l5", "mov 0x116, %l6", "mov 0x117, %l7",
            "mov 0x120, %i0", "mov 0x121, %i1", "mov 0x122, %i2", "mov 0x123, %i3",
            "mov 0x130, %o0", "mov 0x131, %o1", "mov 0x132, %o2", "mov 0x133, %o3",
            "mov 0x134, %o4",
            "wr %g0, 0x55, %y",
            "wr %g0, 0x88, %asi",
            "wr %g0, 0x05, %ccr",
            "1:",
            "ldx [%i5], %o5",
            "brz %o5, 1b",
            " nop",
            "stx %g1, [%i4 + 0]", "stx %g2, [%i4 + 8]", "stx %g3, [%i4 + 16]",
            "stx %g4, [%i4 + 24]", "stx %g5, [%i4 + 32]", "stx %g6, [%i4 + 40]",
            "stx %g7, [%i4 + 48]",
            "stx %l0, [%i4 + 56]", "stx %l1, [%i4 + 64]", "stx %l2, [%i4 + 72]",
            "stx %l3, [%i4 + 80]", "stx %l4, [%i4 + 88]", "stx %l5, [%i4 + 96]",
            "stx %l6, [%i4 + 104]", "stx %l7, [%i4 + 112]",
            "stx %i0, [%i4 + 120]", "stx %i1, [%i4 + 128]", "stx %i2, [%i4 + 136]",
            "stx %i3, [%i4 + 144]", "stx %i4, [%i4 + 152]", "stx %i5, [%i4 + 160]",
            "stx %o0, [%i4 + 168]", "stx %o1, [%i4 + 176]", "stx %o2, [%i4 + 184]",
            "stx %o3, [%i4 + 192]", "stx %o4, [%i4 + 200]",
            "rd %y, %o5", "stx %o5, [%i4 + 208]",
            "rd %asi, %o5", "stx %o5, [%i4 + 216]",
            "rd %ccr, %o5", "stx %o5, [%i4 + 224]",
            "ldx [%sp + 2047 + 176], %g1",
            "ldx [%sp + 2047 + 184], %g2",
            "ldx [%sp + 2047 + 192], %g3",
            "ldx [%sp + 2047 + 200], %g4",
            "ldx [%sp + 2047 + 208], %g5",
            "ldx [%sp + 2047 + 216], %g6",
            "ldx [%sp + 2047 + 224], %g7",
            "restore",
            inout("o4") SEEN.as_ptr() as u64 => _,
            inout("o5") FLAG.as_ptr() as u64 => _,
            out("o0") _, out("o1") _, out("o2") _, out("o3") _,
            out("g2") _, out("g3") _, out("g4") _, out("g5") _,
        )
    };
}

/// Recurses `depth` frames deep, each keeping a value of its own, then runs the
/// register check; true if every frame's value came back.
fn deep(depth: u64) -> bool {
    let mine = black_box(depth * 0x1111);
    let below = if depth == 0 {
        registers_after_signal();
        true
    } else {
        deep(depth - 1)
    };
    below && black_box(mine) == depth * 0x1111
}

/// The handler of check 12: clobbers every global, deep in windows of its own.
fn h_clobber(sig: u64, info: Option<&SigInfoT>, _: &mut UContext) {
    fn churn(n: u64) -> u64 {
        // SAFETY: the globals the handler's own code does not keep anything in.
        unsafe {
            asm!(
                "mov -1, %g2", "mov -1, %g3", "mov -1, %g4", "mov -1, %g5",
                "wr %g0, 0, %y",
                out("g2") _, out("g3") _, out("g4") _, out("g5") _,
            )
        };
        if n == 0 {
            0
        } else {
            black_box(churn(n - 1)) + 1
        }
    }
    black_box(churn(20));
    record(sig, info);
    FLAG.store(1, SeqCst);
}

fn registers() {
    catch(SIGUSR1, h_clobber, 0);
    let poker = ok!(95, spawn(poke_lwp1, 20, 0));
    let windows = deep(12);
    check!(95, ran_by(1) == 1, "the handler ran {} times in LWP 1", ran_by(1));
    for (i, seen) in SEEN.iter().enumerate() {
        let (got, want) = (seen.load(SeqCst), expected(i));
        check!(96, got == want, "register slot {i}: {got:#x}, expected {want:#x}");
    }
    check!(97, windows, "a caller's frame lost its value across the handler");
    ok!(98, lwp_wait(poker));
}

// ---- 13, 14: another process (S15) ------------------------------------------------

fn target(sender: u64) {
    catch(SIGUSR1, h_record, SA_SIGINFO);
    // LWPs 2 and 3 do not mask it (LWP 1 does, once they are made): either may take it.
    let a = ok!(100, spawn(spin_until_stage, 1, 0));
    let b = ok!(100, spawn(spin_until_stage, 1, 0));
    block(&[SIGUSR1]);
    check!(101, a == 2 && b == 3, "LWPs {a}, {b}");
    // Ready: the sender hears it from this process, as a signal.
    ok!(102, kill(sender, SIGUSR2));
    check!(102, await_for(10_000, || ran() == 1), "nothing from pid {sender}");
    let (code, from, by) =
        (LAST[2].load(SeqCst) as i32, LAST[3].load(SeqCst), LAST[1].load(SeqCst));
    check!(103, code == SI_USER && from == sender, "siginfo: code {code}, pid {from}");
    check!(104, by == 2 || by == 3, "taken by LWP {by}");
    // The sender's _lwp_kill of ids 2 and 3 named nothing here.
    nap(50);
    check!(105, ran() == 1, "{} signals arrived", ran());
    GO.store(1, SeqCst);
}

fn sender_lwp(target: u64) {
    ok!(113, kill(target, SIGUSR1));
}

fn sender(target: u64) {
    catch(SIGUSR2, h_record, SA_SIGINFO);
    // The target's LWPs 2 and 3 are no LWPs of this process.
    for id in [2, 3] {
        check!(110, lwp_kill(id, SIGUSR1) == Err(ESRCH), "_lwp_kill({id}) reached something");
    }
    check!(111, await_for(10_000, || ran() == 1), "pid {target} never said it was ready");
    let (code, from) = (LAST[2].load(SeqCst) as i32, LAST[3].load(SeqCst));
    check!(112, code == SI_USER && from == target, "ready from pid {from}, code {code}");
    // Sent by an LWP that is not LWP 1: the target cannot tell.
    let id = ok!(113, spawn(sender_lwp, target, 0));
    ok!(113, lwp_wait(id));
}

// ---- 15, 16: for the kernel's tests ------------------------------------------------

static COUNT: AtomicU64 = AtomicU64::new(0);

fn count_forever(_: u64) {
    loop {
        COUNT.fetch_add(1, SeqCst);
    }
}

fn nap_forever(_: u64) {
    loop {
        nap(10);
    }
}

fn suspend_forever(_: u64) {
    loop {
        sigsuspend(&SigSet::EMPTY);
    }
}

fn timedwait_forever(_: u64) {
    block(&[SIGUSR2]);
    loop {
        let _ = sigtimedwait(&set(&[SIGUSR2]), None);
    }
}

fn stop_target() {
    ok!(120, spawn(count_forever, 0, 0));
    ok!(120, spawn(count_forever, 0, 0));
    ok!(120, spawn(nap_forever, 0, 0));
    let _ = lwp_wait(0);
    check!(121, false, "lwp_wait returned");
}

fn kill_target() {
    ok!(130, spawn(count_forever, 0, 0));
    ok!(130, spawn(nap_forever, 0, 0));
    ok!(130, spawn(suspend_forever, 0, 0));
    ok!(130, spawn(timedwait_forever, 0, 0));
    ok!(130, spawn(count_forever, 0, LWP_SUSPENDED));
    static WAITER_READY: AtomicBool = AtomicBool::new(false);
    fn waiter(_: u64) {
        WAITER_READY.store(true, SeqCst);
        let _ = lwp_wait(1);
    }
    ok!(130, spawn(waiter, 0, 0));
    while !WAITER_READY.load(SeqCst) {
        ok!(130, yield_now());
    }
    nap_forever(0);
}

static STAGE: AtomicU32 = AtomicU32::new(0);

fn main(arg: u64) {
    let (which, rest) = (arg & 0xff, arg >> 8);
    STAGE.store(which as u32, SeqCst);
    match which {
        1 => handler_in_other_lwp(),
        2 => masks(),
        3 => altstacks(),
        4 => traps(),
        5 => dies_in_lwp2(masked_trap, 40),
        6 => dies_in_lwp2(ignored_trap, 42),
        7 => process_signals(),
        8 => eintr(),
        9 => suspend_and_wait(),
        10 => bad_arguments(),
        11 => bad_frame(),
        12 => registers(),
        13 => target(rest),
        14 => sender(pid() + rest),
        15 => stop_target(),
        16 => kill_target(),
        _ => check!(200, false, "no check {which}"),
    }
    if which != 10 {
        say!("check {which} passed");
    }
}
