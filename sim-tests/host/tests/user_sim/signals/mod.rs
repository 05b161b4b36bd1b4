//! Signals between user programs on the simulation machine (S10–S15), through the
//! same kernel code as under QEMU: handlers are host functions the machine enters
//! as it would a handler's `pc` (`arch::sim::user::handler`), with the signal, its
//! `siginfo` and its `ucontext` in user memory, and returns from through
//! `setcontext`. Run on 1, 2, 4 and 8 CPUs and, in `user_signal_seeds`, over many
//! seeds: which LWP takes a signal must not depend on the interleaving.
//!
//! One file per subject: [`delivery`] (which LWP takes a signal: S10, S11, S14),
//! [`altstack`] (S12, and a frame that cannot be written), [`traps`] (S13),
//! [`waiting`] (EINTR, `SA_RESTART`, `sigsuspend`, `sigtimedwait`),
//! [`processes`] (job control, signals between processes, orphans and init),
//! [`arguments`] (S16) and [`contexts`] (FP registers in contexts). Here the
//! suite, in the order it runs, where the programs keep their words, and the
//! programs' side every test uses (and some other suites: handlers that record,
//! `sigaction`): the calls' wrappers, handlers that record what they saw, and
//! worker programs that wait or sleep. LWPs are made and waited for by
//! [`super::lwps`], every suite's.

mod altstack;
mod arguments;
mod contexts;
mod delivery;
mod processes;
mod traps;
mod waiting;

use arch::kmem::Shared;

use arch::sim::user;
use arch::{Machine, Prot, PAGE_SIZE};
use core::mem::offset_of;
use kern::proc::AddrSpace;
use kern::M;
use kern_selftest::Test;
use lwp_abi::*;

use super::lwps::{lwp_exit, me, until, wait_lwp, worker, worker_arg, yield_now};
use super::{errno, exit, new_space, peek, start, sys, DATA, HOLE, RO};

/// The tests, in the order they run.
pub static SIGNALS: &[Test] = &[
    Test::new("sig_handler_installed_by_one_lwp_runs_in_another", delivery::handler_in_other_lwp),
    Test::new("sig_masks_choose_the_lwp_every_time", delivery::masks_choose_the_lwp),
    Test::new("sig_alternate_stacks_per_lwp", altstack::alternate_stacks_per_lwp),
    Test::new("sig_traps_go_to_the_lwp_that_caused_them", traps::traps_in_their_lwp),
    Test::new("sig_masked_trap_still_kills", traps::masked_trap_kills),
    Test::new("sig_process_signals_to_the_unmasked_lwp", delivery::process_signals),
    Test::new("sig_eintr_and_sa_restart", waiting::eintr_and_restart),
    Test::new("sig_sigsuspend_and_sigtimedwait", waiting::sigsuspend_and_sigtimedwait),
    Test::new("sig_stop_continue_kill", processes::stop_continue_kill),
    Test::new("sig_between_processes_names_only_the_process", processes::between_processes),
    Test::new("sig_bad_arguments", arguments::bad_arguments),
    Test::new("sig_bad_frame_is_sigsegv", altstack::bad_frame),
    Test::new("sig_contexts_carry_fp_registers", contexts::contexts_carry_fp),
    Test::new("sig_init_adopts_and_reaps_orphans", processes::init_adopts_and_reaps_orphans),
];

// What lives where in `DATA` (whose words lie where: the table in `user_sim`).
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

/// A process's address space: the other tests', and the alternate stacks.
fn space() -> Result<Shared<AddrSpace>, String> {
    let s = new_space()?;
    M::as_map(&s, ALT, 2 * PAGE_SIZE, Prot::READ | Prot::WRITE)
        .map_err(|e| format!("as_map of the alternate stacks: {e:?}"))?;
    Ok(s)
}

// ---- The programs' side -----------------------------------------------------------

fn pid() -> u64 {
    sys(SYS_GETPID, &[]).expect("getpid").0
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

fn put_stack(at: u64, sp: u64, size: u64, flags: u32) {
    user::store_u64(at + offset_of!(StackT, ss_sp) as u64, sp);
    user::store_u64(at + offset_of!(StackT, ss_size) as u64, size);
    user::store_u32(at + offset_of!(StackT, ss_flags) as u64, flags);
}

fn wait_go(_: u64) {
    until("GO", || user::load_u64(GO) != 0);
    lwp_exit()
}

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
    lwp_exit()
}

fn sleeper(ms: u64) {
    sleep_ms(ms);
    lwp_exit()
}
