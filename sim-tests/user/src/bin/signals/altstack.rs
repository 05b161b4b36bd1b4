//! Alternate signal stacks (checks 3, 11; S12): each LWP's `SA_ONSTACK` handler on
//! its own stack, what `sigaltstack` says and refuses there, handlers without
//! `SA_ONSTACK` or with the stack disabled on the LWP's stack; a handler frame
//! that cannot be written kills the process with SIGSEGV.

use core::cell::UnsafeCell;
use core::hint::black_box;
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};

use lwp_user::abi::*;
use lwp_user::addr::UNMAPPED;
use lwp_user::errno::EPERM;
use lwp_user::signal::sigaltstack;
use lwp_user::{check, lwp_kill, lwp_wait, ok, spawn};

use super::{catch, h_record, me, ran, record};

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

pub(super) fn altstacks() {
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

// ---- 11: a frame that cannot be written -------------------------------------------

pub(super) fn bad_frame() {
    let ss = StackT { ss_sp: UNMAPPED, ss_size: SIGSTKSZ, ss_flags: 0, ss_pad: 0 };
    ok!(89, sigaltstack(Some(&ss), None));
    catch(SIGUSR1, h_record, SA_ONSTACK);
    let _ = lwp_kill(1, SIGUSR1);
    check!(89, false, "a handler ran on an unmapped stack: {} runs", ran());
}
