//! Signals between user programs on the simulation machine (S10–S15), through the
//! same kernel code as under QEMU: handlers are host functions the machine enters
//! as it would a handler's `pc` (`arch::sim::user::handler`), with the signal, its
//! `siginfo` and its `ucontext` in user memory, and returns from through
//! `setcontext`. Run on 1, 2, 4 and 8 CPUs and, in `user_signal_seeds`, over many
//! seeds: which LWP takes a signal must not depend on the interleaving.

use arch::kmem::Shared;

use arch::sim::user::{self, TEXT};
use arch::{FaultKind, Machine, Prot, UserRegs, PAGE_SIZE, USER_LIMIT};
use core::mem::offset_of;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use kern::proc::{self, AddrSpace, Pid, WaitOpts, WaitStatus};
use kern::{sleepq, M};
use kern_selftest::{ensure, ensure_eq, reap, wait_until, Test, TestResult};
use lwp_abi::*;

use super::{errno, new_space, peek, stack_top, sys, DATA, HOLE, RO};

/// The tests, in the order they run.
pub static SIGNALS: &[Test] = &[
    Test::new("sig_handler_installed_by_one_lwp_runs_in_another", handler_in_other_lwp),
    Test::new("sig_masks_choose_the_lwp_every_time", masks_choose_the_lwp),
    Test::new("sig_alternate_stacks_per_lwp", alternate_stacks_per_lwp),
    Test::new("sig_traps_go_to_the_lwp_that_caused_them", traps_in_their_lwp),
    Test::new("sig_masked_trap_still_kills", masked_trap_kills),
    Test::new("sig_process_signals_to_the_unmasked_lwp", process_signals),
    Test::new("sig_eintr_and_sa_restart", eintr_and_restart),
    Test::new("sig_sigsuspend_and_sigtimedwait", sigsuspend_and_sigtimedwait),
    Test::new("sig_stop_continue_kill", stop_continue_kill),
    Test::new("sig_between_processes_names_only_the_process", between_processes),
    Test::new("sig_bad_arguments", bad_arguments),
    Test::new("sig_bad_frame_is_sigsegv", bad_frame),
    Test::new("sig_contexts_carry_fp_registers", contexts_carry_fp),
    Test::new("sig_init_adopts_and_reaps_orphans", init_adopts_and_reaps_orphans),
];

// What lives where in `DATA`, above the other tests' words.
const SA: u64 = DATA + 0x1000;
const SET: u64 = DATA + 0x1020;
const SS: u64 = DATA + 0x1040;
const INFO: u64 = DATA + 0x1080;
const TS: u64 = DATA + 0x10c0;
const ITV: u64 = DATA + 0x10e0;
/// Handler runs, by the LWP that ran it (8 words).
const RAN_BY: u64 = DATA + 0x1200;
/// The last handler run: signal, LWP, `si_code`, `si_pid`, `si_addr`, `ucontext`.
const LAST: u64 = DATA + 0x1280;
/// Per worker: a command for it, and what it has done.
const CMD: u64 = DATA + 0x1300;
const DONE: u64 = DATA + 0x1340;
/// Set when the workers may end; a count of what a program did.
const GO: u64 = DATA + 0x1380;
const COUNT: u64 = DATA + 0x1388;
/// A `ucontext_t` for the programs' `getcontext`/`setcontext`.
const UC: u64 = DATA + 0x1400;
/// A `gwindows_t` for `setcontext`'s windows.
const GW: u64 = DATA + 0x1800;
/// Alternate stacks: two pages of their own, mapped by `space()`.
const ALT: u64 = 0x5000_0000;

/// How many process signals the masks test sends each boot.
const SENDS: u64 = 200;

/// A process's address space: the other tests', and the alternate stacks.
fn space() -> Result<Shared<AddrSpace>, String> {
    let s = new_space()?;
    M::as_map(&s, ALT, 2 * PAGE_SIZE, Prot::READ | Prot::WRITE)
        .map_err(|e| format!("as_map of the alternate stacks: {e:?}"))?;
    Ok(s)
}

fn start(space: &Shared<AddrSpace>, program: fn(u64), arg: u64) -> Result<Pid, String> {
    let regs = UserRegs::for_entry(user::program(program), stack_top(0), arg);
    proc::life::proc_create_user(Shared::clone(space), kern::vm::Vm::new(), regs, None)
        .map_err(|e| format!("proc_create_user: {e:?}"))
}

// ---- The programs' side -----------------------------------------------------------

fn me() -> u64 {
    sys(SYS_LWP_SELF, &[]).expect("_lwp_self").0
}

fn pid() -> u64 {
    sys(SYS_GETPID, &[]).expect("getpid").0
}

pub(super) fn yield_now() {
    sys(SYS_YIELD, &[]).expect("yield");
}

/// Yields until `done()`; panics (failing the boot) after many rounds.
pub(super) fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..2_000_000 {
        if done() {
            return;
        }
        yield_now();
    }
    panic!("user: waited too long for {what}");
}

fn sigset(sigs: &[u64]) -> SigSet {
    SigSet::of(sigs)
}

fn put_set(at: u64, s: SigSet) {
    for (i, w) in s.sigbits.iter().enumerate() {
        user::store_u32(at + 4 * i as u64, *w);
    }
}

fn get_set(at: u64) -> SigSet {
    SigSet { sigbits: core::array::from_fn(|i| user::load_u32(at + 4 * i as u64)) }
}

/// `sigaction(sig, handler, flags)`: `SIG_DFL`, `SIG_IGN` or a handler's pc.
pub(super) fn sigaction(sig: u64, handler: u64, flags: u32) -> Result<(u64, u64), u64> {
    user::store_u32(SA + offset_of!(SigAction, sa_flags) as u64, flags);
    user::store_u64(SA + offset_of!(SigAction, sa_handler) as u64, handler);
    put_set(SA + offset_of!(SigAction, sa_mask) as u64, SigSet::EMPTY);
    sys(SYS_SIGACTION, &[sig, SA, 0])
}

pub(super) fn catch(sig: u64, h: user::Handler, flags: u32) {
    sigaction(sig, user::handler(h), flags).expect("sigaction");
}

/// `_lwp_sigmask(how, set)`: the old mask.
fn sigmask(how: u64, s: SigSet) -> Result<SigSet, u64> {
    let w = s.sigbits.map(u64::from);
    let (r0, r1) = sys(SYS_LWP_SIGMASK, &[how, w[0], w[1], w[2], w[3]])?;
    Ok(SigSet { sigbits: [r0 as u32, (r0 >> 32) as u32, r1 as u32, (r1 >> 32) as u32] })
}

fn block(sigs: &[u64]) {
    sigmask(SIG_BLOCK, sigset(sigs)).expect("block");
}

fn unblock(sigs: &[u64]) {
    sigmask(SIG_UNBLOCK, sigset(sigs)).expect("unblock");
}

fn kill(pid: u64, sig: u64) -> Result<(u64, u64), u64> {
    sys(SYS_KILL, &[pid, sig])
}

pub(super) fn ran_by(lwp: u64) -> u64 {
    user::load_u64(RAN_BY + 8 * lwp)
}

fn ran() -> u64 {
    (0..8).map(ran_by).sum()
}

fn gregs(ucp: u64) -> u64 {
    ucp + (offset_of!(UContext, uc_mcontext) + offset_of!(MContext, gregs)) as u64
}

/// What every handler here records: who ran it, and what it was told.
fn record(sig: u64, sip: u64, ucp: u64) {
    let lwp = me();
    user::store_u64(LAST, sig);
    user::store_u64(LAST + 8, lwp);
    if sip != 0 {
        let si = |f: usize| user::load_u32(sip + f as u64) as i32 as i64 as u64;
        user::store_u64(LAST + 16, si(offset_of!(SigInfoT, si_code)));
        user::store_u64(LAST + 24, si(offset_of!(SigInfoT, si_pid)));
        user::store_u64(LAST + 32, user::load_u64(sip + offset_of!(SigInfoT, si_addr) as u64));
    }
    user::store_u64(LAST + 40, ucp);
    let slot = RAN_BY + 8 * lwp.min(7);
    user::store_u64(slot, user::load_u64(slot) + 1);
}

pub(super) fn h_record(sig: u64, sip: u64, ucp: u64) {
    record(sig, sip, ucp);
}

/// Records, and skips the instruction the context was interrupted at.
pub(super) fn h_skip(sig: u64, sip: u64, ucp: u64) {
    record(sig, sip, ucp);
    let g = gregs(ucp);
    let npc = user::load_u64(g + 8 * reg_npc());
    user::store_u64(g + 8 * reg_pc(), npc);
    user::store_u64(g + 8 * reg_npc(), npc + 4);
}

fn reg_pc() -> u64 {
    arch::reg::PC as u64
}

fn reg_npc() -> u64 {
    arch::reg::NPC as u64
}

pub(super) fn last(i: u64) -> u64 {
    user::load_u64(LAST + 8 * i)
}

/// Makes an LWP running `program(i)` on stack `i + 1`; its id.
fn worker(i: u64, program: fn(u64)) -> u64 {
    super::create_worker(i, user::program(program)).into()
}

pub(super) fn wait_lwp(id: u64) {
    assert_eq!(sys(SYS_LWP_WAIT, &[id, 0]), Ok((0, 0)), "_lwp_wait({id})");
}

fn exit(code: u64) -> ! {
    super::exit(code)
}

fn wait_go(_: u64) {
    until("GO", || user::load_u64(GO) != 0);
    let _ = sys(SYS_LWP_EXIT, &[]);
}

// ---- S10 --------------------------------------------------------------------------

fn s10_main(_: u64) {
    let other = worker(0, wait_go);
    catch(SIGUSR1, h_record, SA_SIGINFO);
    block(&[SIGUSR1]);
    kill(pid(), SIGUSR1).expect("kill");
    until("the handler", || ran() == 1);
    assert_eq!((ran_by(other), ran_by(1)), (1, 0), "LWP 1 installed it, LWP {} ran it", last(1));
    assert_eq!((last(2) as i32, last(3)), (SI_USER, pid()), "siginfo");
    user::store_u64(GO, 1);
    wait_lwp(other);
    exit(0)
}

/// S10: a handler installed by LWP 1 runs in LWP 2, which does not mask the
/// signal; its `siginfo` names the sending process (`SI_USER`).
fn handler_in_other_lwp() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, s10_main, 0)?)?, WaitStatus::Exited(0));
    Ok(())
}

// ---- S11, S14 ---------------------------------------------------------------------

/// Worker `k`: masks SIGUSR1 if `k` is 0 (A), then acts on commands (1 block, 2
/// unblock) until `GO`.
fn masker(k: u64) {
    if k == 0 {
        block(&[SIGUSR1]);
    }
    user::store_u64(DONE + 8 * k, 1);
    while user::load_u64(GO) == 0 {
        match user::load_u64(CMD + 8 * k) {
            0 => {}
            c => {
                user::store_u64(CMD + 8 * k, 0);
                if c == 1 {
                    block(&[SIGUSR1])
                } else {
                    unblock(&[SIGUSR1])
                }
                user::store_u64(DONE + 8 * k, user::load_u64(DONE + 8 * k) + 1);
            }
        }
        yield_now();
    }
    let _ = sys(SYS_LWP_EXIT, &[]);
}

fn masks_main(_: u64) {
    catch(SIGUSR1, h_record, 0);
    let a = worker(0, masker);
    let b = worker(1, masker);
    block(&[SIGUSR1]);
    until("A and B", || user::load_u64(DONE) == 1 && user::load_u64(DONE + 8) == 1);
    for i in 0..SENDS {
        kill(pid(), SIGUSR1).expect("kill");
        until("the handler", || ran() > i);
        assert_eq!(ran(), i + 1, "send {i} ran its handler twice");
    }
    assert_eq!((ran_by(a), ran_by(b), ran_by(1)), (0, SENDS, 0), "runs by A, B, LWP 1");
    // Masked by all: pending on the process, and the first to unmask it takes it.
    user::store_u64(CMD + 8, 1);
    until("B to block", || user::load_u64(DONE + 8) == 2);
    kill(pid(), SIGUSR1).expect("kill");
    sleep_ms(20);
    assert_eq!(ran(), SENDS, "a signal every LWP masks was taken");
    assert_eq!(sys(SYS_SIGPENDING, &[SIGPENDING, SET]), Ok((0, 0)));
    assert_eq!(get_set(SET), sigset(&[SIGUSR1]), "not pending on the process");
    user::store_u64(CMD, 2);
    until("A to take it", || ran() == SENDS + 1);
    assert_eq!((ran_by(a), ran_by(b)), (1, SENDS), "A unmasked it first");
    user::store_u64(GO, 1);
    wait_lwp(a);
    wait_lwp(b);
    exit(0)
}

/// S11, S14: process signals sent while LWP A masks them and B does not are taken
/// by B, each exactly once (a send waits for the previous one's handler: none is
/// lost or taken twice); masked by every LWP, one stays pending on the process
/// until A unmasks it, and A takes it.
fn masks_choose_the_lwp() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, masks_main, 0)?)?, WaitStatus::Exited(0));
    Ok(())
}

// ---- S12 --------------------------------------------------------------------------

/// Where a handler was given its context, per LWP; what `sigaltstack` said in it.
const WHERE: u64 = DATA + 0x1400;
const ONSTACK: u64 = DATA + 0x1440;
/// Per LWP: a `stack_t` to give `sigaltstack`, and one it fills (LWPs run at once).
const LWP_SS: u64 = DATA + 0x1500;
const LWP_OSS: u64 = DATA + 0x1600;

fn ss_of(lwp: u64) -> (u64, u64) {
    (LWP_SS + 32 * lwp, LWP_OSS + 32 * lwp)
}

fn put_stack(at: u64, sp: u64, size: u64, flags: u32) {
    user::store_u64(at + offset_of!(StackT, ss_sp) as u64, sp);
    user::store_u64(at + offset_of!(StackT, ss_size) as u64, size);
    user::store_u32(at + offset_of!(StackT, ss_flags) as u64, flags);
}

fn h_where(sig: u64, sip: u64, ucp: u64) {
    let lwp = me();
    let (ss, oss) = ss_of(lwp);
    user::store_u64(WHERE + 8 * lwp, ucp);
    let now = sys(SYS_SIGALTSTACK, &[0, oss]);
    let flags = user::load_u32(oss + offset_of!(StackT, ss_flags) as u64);
    put_stack(ss, ALT + PAGE_SIZE, PAGE_SIZE, 0);
    let change = sys(SYS_SIGALTSTACK, &[ss, 0]);
    let seen = if now.is_ok() { u64::from(flags) } else { 99 };
    let refused = change == Err(errno(Errno::EPERM));
    user::store_u64(ONSTACK + 8 * lwp, seen | if refused { 0x100 } else { 0 });
    record(sig, sip, ucp);
}

fn on_own_altstack(k: u64) {
    let (lo, size) = (ALT + k * PAGE_SIZE, PAGE_SIZE);
    let lwp = me();
    let (ss, _) = ss_of(lwp);
    put_stack(ss, lo, size, 0);
    sys(SYS_SIGALTSTACK, &[ss, 0]).expect("sigaltstack");
    sys(SYS_LWP_KILL, &[lwp, SIGUSR2]).expect("_lwp_kill");
    let at = user::load_u64(WHERE + 8 * lwp);
    assert!((lo..lo + size).contains(&at), "LWP {lwp}'s handler ran at {at:#x}");
    let on = user::load_u64(ONSTACK + 8 * lwp);
    assert_eq!(on, u64::from(SS_ONSTACK) | 0x100, "on the alternate stack, sigaltstack said");
    let _ = sys(SYS_LWP_EXIT, &[]);
}

fn altstack_main(_: u64) {
    catch(SIGUSR2, h_where, SA_ONSTACK);
    let a = worker(0, on_own_altstack);
    let b = worker(1, on_own_altstack);
    wait_lwp(a);
    wait_lwp(b);
    assert_ne!(user::load_u64(WHERE + 8 * a), user::load_u64(WHERE + 8 * b));
    // LWP 1 has none: on its own stack.
    sys(SYS_LWP_KILL, &[1, SIGUSR2]).expect("_lwp_kill");
    let at = user::load_u64(WHERE + 8);
    assert!(!(ALT..ALT + 2 * PAGE_SIZE).contains(&at), "LWP 1's handler ran at {at:#x}");
    exit(0)
}

/// S12: two LWPs with alternate stacks of their own each run an `SA_ONSTACK`
/// handler on their own (the context it is given is there); there `sigaltstack`
/// says `SS_ONSTACK` and refuses a change (EPERM); an LWP without one runs it on
/// its own stack.
fn alternate_stacks_per_lwp() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, altstack_main, 0)?)?, WaitStatus::Exited(0));
    Ok(())
}

// ---- S13 --------------------------------------------------------------------------

fn traps_in_lwp(_: u64) {
    let lwp = me();
    let expect = |sig: u64, code: i32| {
        assert_eq!((last(0), last(1), last(2) as i32), (sig, lwp, code), "signal {sig}");
    };
    assert_eq!(user::load_u64(HOLE), 0, "a skipped load yields 0");
    expect(SIGSEGV, SEGV_MAPERR);
    assert_eq!(last(4), HOLE, "si_addr");
    user::store_u64(RO, 1);
    expect(SIGSEGV, SEGV_ACCERR);
    user::load_u64(DATA + 4);
    expect(SIGBUS, BUS_ADRALN);
    user::fault(FaultKind::IllegalInstruction, TEXT.start);
    expect(SIGILL, ILL_ILLOPC);
    user::fault(FaultKind::DivisionByZero, TEXT.start);
    expect(SIGFPE, FPE_INTDIV);
    user::fault(FaultKind::Breakpoint, TEXT.start);
    expect(SIGTRAP, TRAP_BRKPT);
    assert_eq!(sys(1_000_000, &[]), Err(errno(Errno::ENOSYS)), "a bad call fails after SIGSYS");
    assert_eq!((last(0), last(1)), (SIGSYS, lwp), "SIGSYS");
    assert_eq!((ran_by(lwp), ran_by(1)), (7, 0), "handler runs");
    user::store_u64(COUNT, 1);
    let _ = sys(SYS_LWP_EXIT, &[]);
}

fn traps_main(_: u64) {
    for sig in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP] {
        catch(sig, h_skip, SA_SIGINFO);
    }
    // A bad system call has trapped and returned already: nothing to skip.
    catch(SIGSYS, h_record, SA_SIGINFO);
    let id = worker(0, traps_in_lwp);
    block(&[SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS]);
    wait_lwp(id);
    exit(0)
}

/// S13: SIGSEGV (unmapped load, store to read-only memory), SIGBUS, SIGILL,
/// SIGFPE, SIGTRAP and SIGSYS caused by LWP 2 run their handler in LWP 2 — LWP 1
/// masks them all — which skips the instruction; LWP 2 goes on past each.
fn traps_in_their_lwp() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, traps_main, 0)?)?, WaitStatus::Exited(0));
    ensure_eq!(peek(&s, COUNT)?, 1);
    Ok(())
}

fn masked_trap(_: u64) {
    catch(SIGSEGV, h_skip, 0);
    block(&[SIGSEGV]);
    user::store_u64(COUNT, 1);
    user::load_u64(HOLE);
    user::store_u64(COUNT, 2);
}

fn masked_trap_main(_: u64) {
    let id = worker(0, masked_trap);
    let _ = sys(SYS_LWP_WAIT, &[id, 0]);
    exit(3)
}

/// S13: an LWP that masks the trap signal it causes still dies of it (the
/// handler does not run), and its process with it.
fn masked_trap_kills() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, masked_trap_main, 0)?)?, WaitStatus::Killed(SIGSEGV as u8));
    ensure_eq!(peek(&s, COUNT)?, 1);
    ensure_eq!(peek(&s, RAN_BY + 8)? + peek(&s, RAN_BY + 16)?, 0);
    Ok(())
}

// ---- S14 --------------------------------------------------------------------------

fn taker(_: u64) {
    unblock(&[SIGINT, SIGTERM, SIGALRM]);
    user::store_u64(DONE, 1);
    until("GO", || user::load_u64(GO) != 0);
    let _ = sys(SYS_LWP_EXIT, &[]);
}

fn process_signals_main(_: u64) {
    for sig in [SIGINT, SIGTERM, SIGALRM] {
        catch(sig, h_record, 0);
    }
    block(&[SIGINT, SIGTERM, SIGALRM]);
    let other = worker(0, wait_go);
    let taker = worker(1, taker);
    until("LWP 3", || user::load_u64(DONE) == 1);
    for sig in [SIGINT, SIGTERM] {
        let before = ran();
        kill(pid(), sig).expect("kill");
        until("the handler", || ran() == before + 1);
        assert_eq!((last(0), last(1)), (sig, taker), "signal {sig} taken by");
    }
    // ITIMER_REAL: every 5 ms, SIGALRM for the process, taken by LWP 3.
    let ms5 = 5_000;
    for (off, v) in [(0, 0), (8, ms5), (16, 0), (24, ms5)] {
        user::store_u64(ITV + off, v);
    }
    sys(SYS_SETITIMER, &[ITIMER_REAL, ITV, 0]).expect("setitimer");
    until("three SIGALRMs", || ran() >= 5);
    user::store_u64(ITV + 24, 0);
    sys(SYS_SETITIMER, &[ITIMER_REAL, ITV, 0]).expect("setitimer off");
    // Each LWP's count read once: a SIGALRM sent before the timer was disarmed may
    // still be running its handler in LWP 3 meanwhile.
    let by: [u64; 8] = core::array::from_fn(|k| ran_by(k as u64));
    let elsewhere: u64 =
        by.iter().enumerate().filter(|&(k, _)| k as u64 != taker).map(|(_, n)| n).sum();
    assert_eq!(elsewhere, 0, "signals ran elsewhere than in LWP {taker}: {by:?}");
    user::store_u64(GO, 1);
    wait_lwp(taker);
    wait_lwp(other);
    exit(0)
}

/// S14: SIGINT, SIGTERM and SIGALRM (from `ITIMER_REAL`) to a process in which
/// only LWP 3 does not mask them: LWP 3 takes each.
fn process_signals() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, process_signals_main, 0)?)?, WaitStatus::Exited(0));
    Ok(())
}

// ---- EINTR, SA_RESTART ------------------------------------------------------------

/// Per LWP: a `Timespec` for `sleep_ms` (LWPs sleep at once).
const LWP_TS: u64 = DATA + 0x1700;

fn sleep_ms(ms: u64) {
    let ts = LWP_TS + 16 * me();
    user::store_u64(ts, ms / 1000);
    user::store_u64(ts + 8, ms % 1000 * 1_000_000);
    let _ = sys(SYS_NANOSLEEP, &[ts]);
}

pub(super) fn poke_lwp1(ms: u64) {
    sleep_ms(ms);
    sys(SYS_LWP_KILL, &[1, SIGUSR1]).expect("_lwp_kill");
    let _ = sys(SYS_LWP_EXIT, &[]);
}

fn sleeper(ms: u64) {
    sleep_ms(ms);
    let _ = sys(SYS_LWP_EXIT, &[]);
}

/// Creates worker `i` running `program(arg)`: its id.
pub(super) fn worker_arg(i: u64, program: fn(u64), arg: u64) -> u64 {
    worker_flags(i, program, arg, 0)
}

/// [`worker_arg`], the LWP created with `_lwp_create` flags `flags`.
pub(super) fn worker_flags(i: u64, program: fn(u64), arg: u64, flags: u64) -> u64 {
    let ctx = super::set_context(i, user::program(program), stack_top(i + 1));
    user::store_u64(ctx + 16, arg);
    let ids = DATA + 0x300;
    sys(SYS_LWP_CREATE, &[ctx, flags, ids + 8 * i]).expect("_lwp_create");
    u64::from(user::load_u32(ids + 8 * i))
}

fn eintr_main(_: u64) {
    catch(SIGUSR1, h_record, 0);
    let poker = worker_arg(0, poke_lwp1, 20);
    user::store_u64(TS, 5);
    user::store_u64(TS + 8, 0);
    assert_eq!(sys(SYS_NANOSLEEP, &[TS]), Err(errno(Errno::EINTR)), "nanosleep");
    assert_eq!(ran_by(1), 1, "the handler ran in LWP 1");
    wait_lwp(poker);
    let sleeping = worker_arg(1, sleeper, 200);
    let poker = worker_arg(0, poke_lwp1, 20);
    assert_eq!(sys(SYS_LWP_WAIT, &[sleeping, 0]), Err(errno(Errno::EINTR)), "_lwp_wait");
    assert_eq!(ran_by(1), 2);
    wait_lwp(poker);
    wait_lwp(sleeping);
    catch(SIGUSR1, h_record, SA_RESTART);
    let sleeping = worker_arg(1, sleeper, 200);
    let poker = worker_arg(0, poke_lwp1, 20);
    wait_lwp(sleeping);
    assert_eq!(ran_by(1), 3, "restarted after the handler ran");
    wait_lwp(poker);
    exit(0)
}

/// A caught signal ends `nanosleep` and `_lwp_wait` with EINTR; with `SA_RESTART`
/// the interrupted `_lwp_wait` is made again once the handler returns, and waits
/// to its end.
fn eintr_and_restart() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, eintr_main, 0)?)?, WaitStatus::Exited(0));
    Ok(())
}

fn send_self(sig: u64) {
    sleep_ms(10);
    kill(pid(), sig).expect("kill");
    let _ = sys(SYS_LWP_EXIT, &[]);
}

fn suspend_wait_main(_: u64) {
    catch(SIGUSR1, h_record, 0);
    block(&[SIGUSR1, SIGUSR2]);
    let sender = worker_arg(0, send_self, SIGUSR1);
    put_set(SET, SigSet::EMPTY);
    assert_eq!(sys(SYS_SIGSUSPEND, &[SET]), Err(errno(Errno::EINTR)), "sigsuspend");
    assert_eq!(ran_by(1), 1, "the handler ran before sigsuspend returned");
    assert_eq!(sigmask(SIG_BLOCK, SigSet::EMPTY), Ok(sigset(&[SIGUSR1, SIGUSR2])), "old mask");
    wait_lwp(sender);
    let sender = worker_arg(0, send_self, SIGUSR2);
    put_set(SET, sigset(&[SIGUSR2]));
    assert_eq!(sys(SYS_SIGTIMEDWAIT, &[SET, INFO, 0]), Ok((SIGUSR2, 0)), "sigtimedwait");
    let code = user::load_u32(INFO + offset_of!(SigInfoT, si_code) as u64) as i32;
    let from = u64::from(user::load_u32(INFO + offset_of!(SigInfoT, si_pid) as u64));
    assert_eq!((code, from), (SI_USER, pid()), "siginfo of sigtimedwait");
    wait_lwp(sender);
    user::store_u64(TS, 0);
    user::store_u64(TS + 8, 20_000_000);
    assert_eq!(sys(SYS_SIGTIMEDWAIT, &[SET, 0, TS]), Err(errno(Errno::EAGAIN)), "timed out");
    assert_eq!(ran(), 1, "a handler ran for a signal sigtimedwait took");
    exit(0)
}

/// `sigsuspend` ends with EINTR once the handler has run, the old mask back;
/// `sigtimedwait` takes a masked signal with its `siginfo`, or times out (EAGAIN).
fn sigsuspend_and_sigtimedwait() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, suspend_wait_main, 0)?)?, WaitStatus::Exited(0));
    Ok(())
}

// ---- S14: job control and SIGKILL ------------------------------------------------

fn spin_count(k: u64) {
    let slot = COUNT + 8 * k;
    loop {
        user::store_u64(slot, user::load_u64(slot) + 1);
    }
}

fn stop_main(_: u64) {
    worker(0, spin_count);
    worker(1, spin_count);
    worker_arg(2, sleeper, 1_000_000);
    spin_count(2)
}

fn counts(s: &AddrSpace) -> Result<[u64; 3], String> {
    Ok([peek(s, COUNT)?, peek(s, COUNT + 8)?, peek(s, COUNT + 16)?])
}

/// S14: SIGSTOP stops every LWP of a process (three spin in user code, one
/// sleeps): their counts stand still, and the parent's wait sees it stopped;
/// SIGCONT sets them going, which the wait sees too; a stopped process dies of
/// SIGKILL.
fn stop_continue_kill() -> TestResult {
    let s = space()?;
    let pid = start(&s, stop_main, 0)?;
    let n = u64::from(pid.0);
    wait_until("every LWP to count", 20, || Ok(counts(&s)?.iter().all(|&c| c > 0)))?;
    ensure_eq!(kern::signal::kill(n, SIGSTOP), Ok(()));
    let stopped = WaitStatus::Stopped(SIGSTOP as u8).raw();
    ensure_eq!(proc::life::proc_waitid(Some(pid), WaitOpts::STOPPED), Ok((pid, stopped)));
    let frozen = counts(&s)?;
    sleepq::delay(5);
    ensure_eq!(counts(&s)?, frozen);
    ensure_eq!(kern::signal::kill(n, SIGCONT), Ok(()));
    let cont = WaitOpts::CONTINUED | WaitOpts::STOPPED;
    ensure_eq!(proc::life::proc_waitid(Some(pid), cont), Ok((pid, WaitStatus::Continued.raw())));
    wait_until("the counts to move again", 20, || {
        Ok(counts(&s)?.iter().zip(&frozen).all(|(now, was)| now > was))
    })?;
    ensure_eq!(kern::signal::kill(n, SIGSTOP), Ok(()));
    ensure_eq!(proc::life::proc_waitid(Some(pid), WaitOpts::STOPPED), Ok((pid, stopped)));
    ensure_eq!(kern::signal::kill(n, SIGKILL), Ok(()));
    ensure_eq!(reap(pid)?, WaitStatus::Killed(SIGKILL as u8));
    Ok(())
}

// ---- S15 --------------------------------------------------------------------------

fn target_main(_: u64) {
    catch(SIGUSR1, h_record, SA_SIGINFO);
    let a = worker(0, wait_go);
    let b = worker(1, wait_go);
    assert_eq!((a, b), (2, 3));
    block(&[SIGUSR1]);
    user::store_u64(DONE, 1);
    until("the other process's signal", || ran() == 1);
    sleep_ms(20);
    assert_eq!(ran(), 1, "more than one signal arrived");
    user::store_u64(GO, 1);
    wait_lwp(a);
    wait_lwp(b);
    exit(0)
}

fn sender_lwp(target: u64) {
    kill(target, SIGUSR1).expect("kill");
    let _ = sys(SYS_LWP_EXIT, &[]);
}

fn sender_main(target: u64) {
    for id in [2, 3] {
        assert_eq!(sys(SYS_LWP_KILL, &[id, SIGUSR1]), Err(errno(Errno::ESRCH)), "_lwp_kill({id})");
    }
    let id = worker_arg(0, sender_lwp, target);
    wait_lwp(id);
    exit(0)
}

/// S15: a signal from another process (sent by its LWP 2) tells the receiver the
/// sender's pid and `SI_USER`, nothing of the LWP; the sender's `_lwp_kill` of ids
/// 2 and 3 — the receiver's LWPs — is ESRCH, and reaches nothing.
fn between_processes() -> TestResult {
    let (ts, ss) = (space()?, space()?);
    let target = start(&ts, target_main, 0)?;
    wait_until("the target", 20, || Ok(peek(&ts, DONE)? == 1))?;
    let sender = start(&ss, sender_main, u64::from(target.0))?;
    ensure_eq!(reap(sender)?, WaitStatus::Exited(0));
    ensure_eq!(reap(target)?, WaitStatus::Exited(0));
    ensure_eq!(peek(&ts, LAST + 16)? as i32, SI_USER);
    ensure_eq!(peek(&ts, LAST + 24)?, u64::from(sender.0));
    ensure!(matches!(peek(&ts, LAST + 8)?, 2 | 3), "taken by LWP {}", peek(&ts, LAST + 8)?);
    Ok(())
}

// ---- Bad arguments ----------------------------------------------------------------

fn bad_arguments_main(_: u64) {
    let e = |x: Errno| Err(errno(x));
    for n in [NSIG, 1000, u64::MAX] {
        assert_eq!(kill(pid(), n), e(Errno::EINVAL), "kill({n})");
        assert_eq!(sys(SYS_LWP_KILL, &[1, n]), e(Errno::EINVAL), "_lwp_kill({n})");
        assert_eq!(sys(SYS_SIGQUEUE, &[pid(), n, 0]), e(Errno::EINVAL), "sigqueue({n})");
    }
    for n in [0, NSIG, u64::MAX] {
        assert_eq!(sys(SYS_SIGACTION, &[n, 0, 0]), e(Errno::EINVAL), "sigaction({n})");
    }
    for sig in [SIGKILL, SIGSTOP] {
        assert_eq!(sigaction(sig, SIG_IGN, 0), e(Errno::EINVAL), "ignore {sig}");
        assert_eq!(sigaction(sig, user::handler(h_record), 0), e(Errno::EINVAL), "catch {sig}");
    }
    block(&[SIGKILL, SIGSTOP]);
    assert_eq!(sigmask(SIG_BLOCK, SigSet::EMPTY), Ok(SigSet::EMPTY), "SIGKILL or SIGSTOP masked");
    assert_eq!(sigmask(9, SigSet::EMPTY), Err(errno(Errno::EINVAL)), "how 9");
    put_stack(SS, ALT, MINSIGSTKSZ - 1, 0);
    assert_eq!(sys(SYS_SIGALTSTACK, &[SS, 0]), e(Errno::ENOMEM), "a small alternate stack");
    put_stack(SS, ALT, PAGE_SIZE, 4);
    assert_eq!(sys(SYS_SIGALTSTACK, &[SS, 0]), e(Errno::EINVAL), "flags 4");
    assert_eq!(kill(999_999, SIGUSR1), e(Errno::ESRCH), "no such process");
    assert_eq!(sys(SYS_LWP_KILL, &[9, SIGUSR1]), e(Errno::ESRCH), "no such LWP");
    assert_eq!(sys(SYS_GETITIMER, &[7, ITV]), e(Errno::EINVAL), "timer 7");
    for (off, v) in [(0, 0), (8, 0), (16, 0), (24, 1_000_000)] {
        user::store_u64(ITV + off, v);
    }
    assert_eq!(sys(SYS_SETITIMER, &[ITIMER_REAL, ITV, 0]), e(Errno::EINVAL), "usec 10^6");
    for p in [HOLE, USER_LIMIT, u64::MAX - 7] {
        assert_eq!(sys(SYS_SIGACTION, &[SIGUSR1, p, 0]), e(Errno::EFAULT), "act {p:#x}");
        assert_eq!(sys(SYS_SIGPROCMASK, &[SIG_BLOCK, p, 0]), e(Errno::EFAULT), "set {p:#x}");
        assert_eq!(sys(SYS_SIGSUSPEND, &[p]), e(Errno::EFAULT), "sigsuspend {p:#x}");
        assert_eq!(sys(SYS_CONTEXT, &[SETCONTEXT, p]), e(Errno::EFAULT), "setcontext {p:#x}");
        assert_eq!(sys(SYS_SIGTIMEDWAIT, &[p, 0, 0]), e(Errno::EFAULT), "sigtimedwait {p:#x}");
    }
    for p in [HOLE, RO, TEXT.start] {
        sigaction(SIGUSR1, SIG_IGN, 0).expect("sigaction");
        assert_eq!(sys(SYS_SIGACTION, &[SIGUSR1, SA, p]), e(Errno::EFAULT), "oact {p:#x}");
        assert_eq!(sys(SYS_SIGPENDING, &[SIGPENDING, p]), e(Errno::EFAULT), "pending {p:#x}");
        assert_eq!(sys(SYS_SIGALTSTACK, &[0, p]), e(Errno::EFAULT), "oss {p:#x}");
        assert_eq!(sys(SYS_CONTEXT, &[GETCONTEXT, p]), e(Errno::EFAULT), "getcontext {p:#x}");
        assert_eq!(sys(SYS_GETITIMER, &[ITIMER_REAL, p]), e(Errno::EFAULT), "getitimer {p:#x}");
    }
    // A context with windows (`gwins`): this machine has none to buffer, so any
    // count is EINVAL; windows that cannot be read, EFAULT.
    sys(SYS_CONTEXT, &[GETCONTEXT, UC]).expect("getcontext");
    let gwins = UC + (offset_of!(UContext, uc_mcontext) + offset_of!(MContext, gwins)) as u64;
    for (wbcnt, at, want) in [(1u64, GW, Errno::EINVAL), (u64::MAX, GW, Errno::EINVAL)] {
        user::store_u64(GW, wbcnt << 32);
        user::store_u64(gwins, at);
        assert_eq!(sys(SYS_CONTEXT, &[SETCONTEXT, UC]), e(want), "{wbcnt:#x} windows");
    }
    user::store_u64(gwins, HOLE);
    assert_eq!(sys(SYS_CONTEXT, &[SETCONTEXT, UC]), e(Errno::EFAULT), "windows in a hole");
    // A refused sigaction changed nothing: SIGUSR1 is still ignored.
    assert_eq!(sys(SYS_SIGACTION, &[SIGUSR1, 0, SA]), Ok((0, 0)));
    assert_eq!(user::load_u64(SA + offset_of!(SigAction, sa_handler) as u64), SIG_IGN);
    user::store_u64(COUNT, 1);
    exit(0)
}

/// S16: every bad argument of the signal calls gets its error code — EINVAL,
/// ENOMEM, ESRCH, EFAULT — changes nothing, and the process goes on.
fn bad_arguments() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, bad_arguments_main, 0)?)?, WaitStatus::Exited(0));
    ensure_eq!(peek(&s, COUNT)?, 1);
    Ok(())
}

fn bad_frame_main(_: u64) {
    put_stack(SS, HOLE, SIGSTKSZ, 0);
    sys(SYS_SIGALTSTACK, &[SS, 0]).expect("sigaltstack");
    catch(SIGUSR1, h_record, SA_ONSTACK);
    let _ = sys(SYS_LWP_KILL, &[1, SIGUSR1]);
    exit(3)
}

/// A handler whose frame cannot be written (its alternate stack is unmapped)
/// never runs: the process dies of SIGSEGV.
fn bad_frame() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, bad_frame_main, 0)?)?, WaitStatus::Killed(SIGSEGV as u8));
    ensure_eq!(peek(&s, RAN_BY + 8)?, 0);
    Ok(())
}

// ---- FP registers in contexts ------------------------------------------------

fn fpregs(ucp: u64) -> u64 {
    ucp + (offset_of!(UContext, uc_mcontext) + offset_of!(MContext, fpregs)) as u64
}

/// Whether the context at `ucp` has `UC_FPU` and the FP registers `d`, `fsr`.
fn has_fp(ucp: u64, d: u64, fsr: u64) -> bool {
    let fp = fpregs(ucp);
    user::load_u64(ucp) & UC_FPU != 0
        && (0..32).all(|i| user::load_u64(fp + 8 * i) == d + i)
        && user::load_u64(fp + offset_of!(FpRegSet, fpu_fsr) as u64) == fsr
        && user::load_u64(fp + offset_of!(FpRegSet, fpu_en) as u64) != 0
}

fn h_fp(sig: u64, sip: u64, ucp: u64) {
    record(sig, sip, ucp);
    user::store_u64(COUNT + 8, u64::from(has_fp(ucp, 0x100, 0x4000_0000)));
}

fn fp_context_main(_: u64) {
    // No FP registers yet: getcontext leaves them out.
    sys(SYS_CONTEXT, &[GETCONTEXT, UC]).expect("getcontext");
    if user::load_u64(UC) & UC_FPU != 0 {
        exit(1);
    }
    // A context of FP registers alone: setcontext takes them and the LWP goes on.
    let fp = fpregs(UC);
    for i in 0..32 {
        user::store_u64(fp + 8 * i, 0x100 + i);
    }
    user::store_u64(fp + offset_of!(FpRegSet, fpu_fsr) as u64, 0x4000_0000);
    user::store_u64(fp + offset_of!(FpRegSet, fpu_en) as u64, 1);
    user::store_u64(UC, UC_FPU);
    sys(SYS_CONTEXT, &[SETCONTEXT, UC]).expect("setcontext");
    user::store_u64(UC, 0);
    sys(SYS_CONTEXT, &[GETCONTEXT, UC]).expect("getcontext");
    if !has_fp(UC, 0x100, 0x4000_0000) {
        exit(2);
    }
    // A handler's context has them too.
    catch(SIGUSR1, h_fp, 0);
    sys(SYS_LWP_KILL, &[me(), SIGUSR1]).expect("_lwp_kill");
    exit(if user::load_u64(COUNT + 8) == 1 { 0 } else { 3 })
}

/// An LWP's FP registers travel in its contexts (S5.1): `getcontext` includes them
/// (`UC_FPU`) once the LWP has some, not before; `setcontext` sets them; a
/// handler's context carries them. (The FPU itself is sparc64's: there the
/// `fpu` program runs.)
fn contexts_carry_fp() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, fp_context_main, 0)?)?, WaitStatus::Exited(0));
    Ok(())
}

// ---- S1: orphans go to init -------------------------------------------------------

/// The pid of the orphan `orphan_parent` leaves, and whether it may exit.
static ORPHAN: AtomicU32 = AtomicU32::new(0);
static ORPHAN_GO: AtomicBool = AtomicBool::new(false);

/// `init` as the QEMU image's is: reaps every child that has exited, then waits in
/// `sigsuspend` for SIGCHLD, which is blocked everywhere else (so none is missed).
fn init_main(_: u64) {
    catch(SIGCHLD, |_, _, _| {}, 0);
    block(&[SIGCHLD]);
    put_set(SET, SigSet::EMPTY);
    let pid_at = INFO + offset_of!(SigInfoT, si_pid) as u64;
    loop {
        while sys(SYS_WAITID, &[P_ALL, 0, INFO, WEXITED | WNOHANG]).is_ok()
            && user::load_u32(pid_at) != 0
        {}
        let _ = sys(SYS_SIGSUSPEND, &[SET]);
    }
}

/// A process that makes a child and exits before it.
fn orphan_parent(_: usize) {
    if let Ok(c) = proc::life::proc_create(orphan_child, 0) {
        ORPHAN.store(c.0, Ordering::SeqCst);
    }
    proc::life::proc_exit(0)
}

fn orphan_child(_: usize) {
    while !ORPHAN_GO.load(Ordering::SeqCst) {
        sleepq::delay(1);
    }
    proc::life::proc_exit(7)
}

/// S1: with an `init` (`proc::set_init`), a process that exits gives its children
/// to it, and init reaps them as its own; once init is gone, orphans go to the
/// kernel's reaper again.
fn init_adopts_and_reaps_orphans() -> TestResult {
    if let Some(other) = proc::initproc() {
        kern_selftest::skip!("init is pid {other} already");
    }
    let s = space()?;
    let init = start(&s, init_main, 0)?;
    ensure_eq!(proc::set_init(init), Ok(()));
    ensure_eq!(proc::set_init(init), Err(Errno::EBUSY));
    ORPHAN.store(0, Ordering::SeqCst);
    ORPHAN_GO.store(false, Ordering::SeqCst);
    let mid = proc::life::proc_create(orphan_parent, 0).map_err(|e| format!("proc_create: {e}"))?;
    ensure_eq!(reap(mid)?, WaitStatus::Exited(0));
    let orphan = Pid(ORPHAN.load(Ordering::SeqCst));
    ensure!(orphan.0 != 0, "the orphan was not made");
    ensure_eq!(proc::prfind(orphan).and_then(|p| p.parent()), Some(init));
    ensure_eq!(proc::life::proc_wait(Some(orphan)), Err(Errno::ECHILD));
    ORPHAN_GO.store(true, Ordering::SeqCst);
    wait_until("init to reap the orphan", 10, || Ok(proc::prfind(orphan).is_none()))?;
    // init ends: no heir any more, and its own exit is its parent's to reap.
    ensure_eq!(kern::signal::kill(u64::from(init.0), SIGKILL), Ok(()));
    ensure_eq!(reap(init)?, WaitStatus::Killed(SIGKILL as u8));
    ensure_eq!(proc::initproc(), None);
    Ok(())
}
