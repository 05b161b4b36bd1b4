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
//!
//! **Windows the stack refuses.** When the interrupted stack cannot take its own
//! windows — the LWP ran off the bottom of its stack, into a guard page — the
//! flush leaves them in the machine's window buffer. They go into the frame, as
//! Solaris' `sendsig` puts them: a `gwindows_t` above the `ucontext_t`, whose
//! `uc_mcontext.gwins` points at it, and the buffer is emptied, so that a handler
//! on the alternate stack runs (it is the one place such a handler can run). A
//! `setcontext` of a context with `gwins` makes those windows the buffered ones
//! again, written to their stack as the context resumes: a handler that made the
//! stack usable (mapped more of it) returns to where the LWP faulted; one that did
//! not returns to the same fault.

use arch::uregs::{MIN_FRAME, STACK_BIAS};
use arch::{reg, Machine, UserFrame, UserWindow, PAGE_SIZE, USER_WBUF_WINDOWS};

use super::wire::{
    self, GWINDOWS_HEAD_WORDS, GWINDOWS_WORDS, GWINDOW_AT, SIGINFO_WORDS, UCONTEXT_WORDS, UC_FP,
    UC_GWINS, UC_MASK,
};
use super::{Sig, SigInfo, SigSet};
use crate::errno::Errno;
use crate::lwp::{Eosys, SigAltStack};
use crate::syscall::uaccess::{copyout_words, with_copyin_words};
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
    let sp = frame.sp();
    let mut top =
        if flags & SA_ONSTACK != 0 && alt.ss_flags & SS_DISABLE == 0 && !on_altstack(alt, sp) {
            alt.ss_sp.checked_add(alt.ss_size).ok_or(Errno::EFAULT)?
        } else {
            sp.checked_add(STACK_BIAS).ok_or(Errno::EFAULT)?
        };
    let mut gwins = 0;
    if frame.windows_buffered() {
        top = top.checked_sub(GWINDOWS_WORDS as u64 * 8).ok_or(Errno::EFAULT)? & !15;
        copyout_gwindows(top, frame.take_windows().as_slice())?;
        gwins = top;
    }
    let base = top.checked_sub(FRAME).ok_or(Errno::EFAULT)? & !15;
    let stack = context_stack(alt, sp);
    copyout_context(base + UC_AT, frame, |r| frame.load_gregs(r), mask, &stack, gwins)?;
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
    let returned = |r: &mut [u64; arch::uregs::NGREG]| {
        frame.load_gregs(r);
        r[reg::O0] = 0;
        r[reg::CCR] &= !arch::uregs::CCR_CARRY;
    };
    let stack = context_stack(&alt, frame.sp());
    copyout_context(ucp, frame, returned, curthread().sig_state().hold(), &stack, 0)
}

/// Writes a `gwindows_t` holding `windows` at `at`: its head and those windows
/// (the unused rest of it is left unwritten).
fn copyout_gwindows(at: u64, windows: &[UserWindow]) -> Result<(), Errno> {
    copyout_words(at, &wire::gwindows_head(windows))?;
    for (i, w) in windows.iter().enumerate() {
        copyout_words(at + (GWINDOW_AT + 16 * i) as u64 * 8, &w.regs)?;
    }
    Ok(())
}

/// The windows of the `gwindows_t` at `at`. `EINVAL` for a count below 0 or
/// beyond what the machine can buffer (a context with more could not have come
/// from this kernel), `EFAULT` if it cannot be read.
fn copyin_gwindows(at: u64) -> Result<([UserWindow; USER_WBUF_WINDOWS], usize), Errno> {
    let head = with_copyin_words(at, |h: &[u64; GWINDOWS_HEAD_WORDS]| *h)?;
    let n = usize::try_from(wire::get_wbcnt(&head)).map_err(|_| Errno::EINVAL)?;
    if n > USER_WBUF_WINDOWS {
        return Err(Errno::EINVAL);
    }
    let mut windows = [UserWindow::default(); USER_WBUF_WINDOWS];
    for (i, w) in windows[..n].iter_mut().enumerate() {
        let words = at.wrapping_add((GWINDOW_AT + 16 * i) as u64 * 8);
        *w = with_copyin_words(words, |r: &[u64; 16]| wire::get_gwindow(&head, i, r))?;
    }
    Ok((windows, n))
}

/// Writes a `ucontext_t` at `ucp`: the registers `regs` writes (in place, see
/// `wire::ucontext`), `mask`, `stack`, the windows at `gwins` (0: none), and the FP
/// registers of `frame`'s LWP if it uses the FPU (`UC_FPU`; else they are left
/// out, unwritten).
fn copyout_context(
    ucp: u64,
    frame: &UserFrame,
    regs: impl FnOnce(&mut [u64; arch::uregs::NGREG]),
    mask: SigSet,
    stack: &SigAltStack,
    gwins: u64,
) -> Result<(), Errno> {
    let fp = frame.fpregs();
    copyout_words(ucp, &wire::ucontext(regs, mask, stack, gwins, fp.is_some()))?;
    match fp {
        Some(fp) => copyout_words(ucp.wrapping_add(UC_FP as u64 * 8), &wire::fpregs(&fp)),
        None => Ok(()),
    }
}

/// `setcontext(ucp)`: resumes the `ucontext_t` at `ucp` (how a signal handler
/// returns): its registers — every one, the user's `%g7` too — and the windows its
/// `gwins` holds, which are written to their stack on the way back to user mode;
/// returns its mask, if it has one, for the caller to set (`take::set_mask`). The
/// windows of the code that calls it are flushed to its stack first, so that the
/// return to user mode fills the resumed window from the resumed stack. `EFAULT` if
/// the context cannot be read, `EINVAL` for a `gwins` count no context of this
/// kernel has (nothing is changed).
#[inline(always)]
pub(super) fn setcontext(frame: &UserFrame, ucp: u64) -> Result<Option<SigSet>, Errno> {
    let lwp = curlwp().ok_or(Errno::EINVAL)?;
    let apply = |flags: u64, gregs: &[u64; arch::uregs::NGREG]| {
        M::user_flush_windows();
        if flags & UC_CPU != 0 {
            frame.store_gregs(gregs);
        }
    };
    // Nothing changes unless all of it can be read: the registers are taken where
    // they were copied in, unless FP registers or windows are still to be read.
    let (mask, later) = with_copyin_words(ucp, |uc: &[u64; UC_FP]| {
        let flags = uc[0];
        let mask = (flags & UC_SIGMASK != 0).then(|| wire::get_sigset(&uc[UC_MASK..]));
        let gwins = if flags & UC_CPU != 0 { uc[UC_GWINS] } else { 0 };
        if flags & UC_FPU == 0 && gwins == 0 {
            apply(flags, wire::gregs(uc));
            (mask, None)
        } else {
            (mask, Some((flags, *wire::gregs(uc), gwins)))
        }
    })?;
    if let Some((flags, gregs, gwins)) = later {
        let fp = if flags & UC_FPU != 0 {
            with_copyin_words(ucp.wrapping_add(UC_FP as u64 * 8), wire::get_fpregs)?
        } else {
            None
        };
        let windows = if gwins != 0 { Some(copyin_gwindows(gwins)?) } else { None };
        apply(flags, &gregs);
        if let Some(fp) = &fp {
            frame.set_fpregs(fp);
        }
        if let Some((w, n)) = &windows {
            frame.set_windows(&w[..*n]);
        }
    }
    lwp.with_data(|d| d.lwp_eosys = Eosys::JustReturn);
    Ok(mask)
}
