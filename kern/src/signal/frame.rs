//! The signal frame (Solaris' `sendsig`), and saving and resuming a user context
//! (`getcontext`, `setcontext`): what a handler is given in user memory, and how
//! it returns (S5.1, S5.3, S12).
//!
//! # Theory
//!
//! A handler runs on the LWP's stack, below the interrupted stack pointer, or on
//! the LWP's alternate stack (S12) if the disposition says `SA_ONSTACK` and the
//! LWP has one and is not on it already. Before anything is written there the
//! LWP's register windows are flushed to their stack (`Machine::user_flush_windows`):
//! the interrupted window's locals and ins are then in its save area at the
//! interrupted stack pointer, which the frame leaves alone. The frame, from the
//! new stack pointer up, is: a register save area and argument slots for the
//! handler's first window (zeros: a backtrace ends there), the `siginfo_t`, the
//! `ucontext_t` — every register of the interrupted context (the user's `%g7`
//! too), the mask to restore, the stack. It is built in the kernel and copied out
//! whole, so a stack that cannot take it changes nothing, and the LWP dies of
//! SIGSEGV. The handler is entered as if called with `(sig, &siginfo or null,
//! &ucontext)`; its return goes through `setcontext(&ucontext)` (the user
//! runtime's trampoline), which flushes the windows again — the handler's go to
//! its own stack, and the return to user mode fills the interrupted window from
//! its save area — and loads every register and the mask back.

use arch::uregs::{MIN_FRAME, STACK_BIAS};
use arch::{reg, Machine, UserFrame, PAGE_SIZE};

use super::take::set_mask;
use super::wire::{self, SIGINFO_WORDS, UCONTEXT_WORDS, UC_FP, UC_MASK};
use super::{Sig, SigInfo, SigSet};
use crate::errno::Errno;
use crate::lwp::{Eosys, SigAltStack};
use crate::syscall::{copyout_words, with_copyin_words};
use crate::thread::{curlwp, curthread};
use crate::M;
use lwp_abi::{SA_ONSTACK, SA_SIGINFO, SS_DISABLE, SS_ONSTACK, UC_CPU, UC_FPU, UC_SIGMASK};

/// The frame, from the handler's stack pointer up: the register save area and
/// argument slots of its first window, the `siginfo_t` (16-byte aligned), the
/// `ucontext_t`.
const SI_AT: u64 = MIN_FRAME;
const UC_AT: u64 = SI_AT + (SIGINFO_WORDS as u64 * 8).next_multiple_of(16);
/// The whole frame, a multiple of 16 (the stack's alignment).
const FRAME: u64 = (UC_AT + UCONTEXT_WORDS as u64 * 8).next_multiple_of(16);
const _: () =
    assert!(SI_AT.is_multiple_of(16) && UC_AT.is_multiple_of(16) && FRAME.is_multiple_of(16));

/// Whether stack pointer `sp` (biased) is on the alternate stack `alt`.
pub fn on_altstack(alt: &SigAltStack, sp: u64) -> bool {
    let at = sp.wrapping_add(STACK_BIAS);
    alt.ss_flags & SS_DISABLE == 0 && at >= alt.ss_sp && at - alt.ss_sp < alt.ss_size
}

/// The stack a context on `sp` runs on, as its `ucontext_t` says it: the LWP's
/// alternate stack, marked `SS_ONSTACK` if `sp` is on it.
pub fn context_stack(alt: &SigAltStack, sp: u64) -> SigAltStack {
    let flags = alt.ss_flags | if on_altstack(alt, sp) { SS_ONSTACK } else { 0 };
    SigAltStack { ss_flags: flags, ..*alt }
}

/// Builds the frame for `sig` (see the module comment) and points the registers in
/// `frame` at `handler`: `alt` is the LWP's alternate stack, `mask` the mask the
/// handler's return restores.
///
/// Errors: `EFAULT` if the stack cannot take the frame (nothing was changed).
#[inline(always)]
pub(super) fn sendsig(
    frame: &UserFrame,
    alt: &SigAltStack,
    sig: Sig,
    info: &SigInfo,
    handler: u64,
    flags: u32,
    mask: SigSet,
) -> Result<(), Errno> {
    M::user_flush_windows();
    let regs = frame.load();
    let sp = regs.sp();
    let top = if flags & SA_ONSTACK != 0 && alt.ss_flags & SS_DISABLE == 0 && !on_altstack(alt, sp)
    {
        alt.ss_sp.checked_add(alt.ss_size).ok_or(Errno::EFAULT)?
    } else {
        sp.checked_add(STACK_BIAS).ok_or(Errno::EFAULT)?
    };
    let base = top.checked_sub(FRAME).ok_or(Errno::EFAULT)? & !15;
    copyout_context(base + UC_AT, frame, &regs.r, mask, &context_stack(alt, sp))?;
    let lowest = if flags & SA_SIGINFO != 0 {
        copyout_words(base + SI_AT, &wire::siginfo(info))?;
        SI_AT
    } else {
        UC_AT
    };
    // The handler's first window is filled from its save area at `base` as it is
    // entered: on the page just written, or else zeros written there now.
    if base / PAGE_SIZE != (base + lowest) / PAGE_SIZE {
        copyout_words(base, &[0; 16])?;
    }
    let sip = if flags & SA_SIGINFO != 0 { base + SI_AT } else { 0 };
    // A handler that returned instead of calling setcontext would jump to 8: a fault.
    frame.set_call(handler, base - STACK_BIAS, [u64::from(sig.num()), sip, base + UC_AT]);
    Ok(())
}

/// `getcontext(ucp)`: the current LWP's context — its registers as they will be
/// when this call returns (`%o0` 0, carry clear), its mask and its stack — in the
/// `ucontext_t` at `ucp`. `EFAULT` if it cannot be written there.
pub(super) fn getcontext(frame: &UserFrame, ucp: u64) -> Result<(), Errno> {
    let alt = curlwp().and_then(|l| l.with_data(|d| d.lwp_sigaltstack)).ok_or(Errno::EINVAL)?;
    let mut regs = frame.load();
    regs.r[reg::O0] = 0;
    regs.r[reg::CCR] &= !arch::uregs::CCR_CARRY;
    let stack = context_stack(&alt, regs.sp());
    copyout_context(ucp, frame, &regs.r, curthread().sig_state().hold(), &stack)
}

/// Writes a `ucontext_t` at `ucp`: registers `r`, `mask`, `stack`, and the FP
/// registers of `frame`'s LWP if it uses the FPU (`UC_FPU`; else they are left
/// out, unwritten).
fn copyout_context(
    ucp: u64,
    frame: &UserFrame,
    r: &[u64; arch::uregs::NGREG],
    mask: SigSet,
    stack: &SigAltStack,
) -> Result<(), Errno> {
    let fp = frame.fpregs();
    copyout_words(ucp, &wire::ucontext(r, mask, stack, fp.is_some()))?;
    match fp {
        Some(fp) => copyout_words(ucp.wrapping_add(UC_FP as u64 * 8), &wire::fpregs(&fp)),
        None => Ok(()),
    }
}

/// `setcontext(ucp)`: resumes the `ucontext_t` at `ucp` (how a signal handler
/// returns): its registers — every one, the user's `%g7` too — and, if it has one,
/// its mask. The windows of the code that calls it are flushed to its stack first,
/// so that the return to user mode fills the resumed window from the resumed
/// stack. `EFAULT` if the context cannot be read (nothing is changed).
#[inline(always)]
pub(super) fn setcontext(frame: &UserFrame, ucp: u64) -> Result<(), Errno> {
    let lwp = curlwp().ok_or(Errno::EINVAL)?;
    let apply = |flags: u64, gregs: &[u64; arch::uregs::NGREG]| {
        M::user_flush_windows();
        if flags & UC_CPU != 0 {
            frame.store_gregs(gregs);
        }
    };
    // Nothing changes unless all of it can be read: the registers are taken where
    // they were copied in, unless FP registers are still to be read after them.
    let (mask, later) = with_copyin_words(ucp, |uc: &[u64; UC_FP]| {
        let flags = uc[0];
        let mask = (flags & UC_SIGMASK != 0).then(|| wire::get_sigset(&uc[UC_MASK..]));
        if flags & UC_FPU == 0 {
            apply(flags, wire::gregs(uc));
            (mask, None)
        } else {
            (mask, Some((flags, *wire::gregs(uc))))
        }
    })?;
    if let Some((flags, gregs)) = later {
        let fp = with_copyin_words(ucp.wrapping_add(UC_FP as u64 * 8), wire::get_fpregs)?;
        apply(flags, &gregs);
        if let Some(fp) = &fp {
            frame.set_fpregs(fp);
        }
    }
    if let Some(mask) = mask {
        let t = curthread();
        if let Some(p) = t.procp() {
            set_mask(t, p, mask, None);
        }
    }
    lwp.with_data(|d| d.lwp_eosys = Eosys::JustReturn);
    Ok(())
}
