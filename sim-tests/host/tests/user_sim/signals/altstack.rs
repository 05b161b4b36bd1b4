//! Alternate signal stacks (S12): each LWP's `SA_ONSTACK` handler runs on its own
//! stack, where `sigaltstack` says so and refuses a change; an LWP without one
//! runs it on its own stack; a handler frame that cannot be written kills the
//! process with SIGSEGV.

use arch::sim::user;
use arch::PAGE_SIZE;
use core::mem::offset_of;
use kern::proc::WaitStatus;
use kern_selftest::{ensure_eq, reap, TestResult};
use lwp_abi::*;

use super::{
    catch, errno, exit, h_record, lwp_exit, me, peek, put_stack, record, space, start, sys,
    wait_lwp, worker, ALT, DATA, HOLE, RAN_BY, SS,
};

// What lives where in `DATA` (on `UC`, which this test does not use: the table in
// `user_sim`).
/// Where a handler was given its context, per LWP; what `sigaltstack` said in it.
const WHERE: u64 = DATA + 0x1400;
const ONSTACK: u64 = DATA + 0x1440;
/// Per LWP: a `stack_t` to give `sigaltstack`, and one it fills (LWPs run at once).
const LWP_SS: u64 = DATA + 0x1500;
const LWP_OSS: u64 = DATA + 0x1600;

fn ss_of(lwp: u64) -> (u64, u64) {
    (LWP_SS + 32 * lwp, LWP_OSS + 32 * lwp)
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
    lwp_exit()
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
pub(super) fn alternate_stacks_per_lwp() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, altstack_main, 0)?)?, WaitStatus::Exited(0));
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
pub(super) fn bad_frame() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, bad_frame_main, 0)?)?, WaitStatus::Killed(SIGSEGV as u8));
    ensure_eq!(peek(&s, RAN_BY + 8)?, 0);
    Ok(())
}
