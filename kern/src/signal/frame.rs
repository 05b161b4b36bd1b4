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

use core::mem::{offset_of, size_of};

use arch::uregs::NGREG;
use arch::uregs::{MIN_FRAME, STACK_BIAS};
use arch::{reg, Machine, UserFrame, UserRegs};

use super::take::set_mask;
use super::{Sig, SigInfo, SigSet};
use crate::errno::Errno;
use crate::lwp::{Eosys, SigAltStack};
use crate::syscall::{copyin, copyout};
use crate::thread::{curlwp, curthread};
use crate::M;
use lwp_abi::{
    MContext, SigInfoT, StackT, UContext, SA_ONSTACK, SA_SIGINFO, SS_DISABLE, SS_ONSTACK, UC_CPU,
    UC_SIGMASK, UC_STACK,
};

const _: () = assert!(lwp_abi::NGREG == NGREG);

/// A `ucontext_t` and a `siginfo_t` in user memory, and their place in the frame.
const UC_SIZE: usize = size_of::<UContext>();
const SI_SIZE: usize = size_of::<SigInfoT>();
const SI_AT: usize = MIN_FRAME as usize;
const UC_AT: usize = SI_AT + SI_SIZE.next_multiple_of(16);
/// The whole frame, a multiple of 16 (the stack's alignment).
const FRAME: usize = (UC_AT + UC_SIZE).next_multiple_of(16);
// The ABI's sizes, and every piece of the frame on a 16-byte boundary.
const _: () = assert!(UC_SIZE == 232 && SI_SIZE == 40);
const _: () = assert!(SI_AT % 16 == 0 && UC_AT % 16 == 0 && FRAME % 16 == 0);

/// Big-endian fields at their offsets in a buffer (user memory's layout).
fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_be_bytes());
}

fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn get64(b: &[u8], at: usize) -> u64 {
    u64::from(get32(b, at)) << 32 | u64::from(get32(b, at + 4))
}

/// A `sigset_t` at `at`.
pub(super) fn put_sigset(b: &mut [u8], at: usize, s: SigSet) {
    for (i, w) in s.words().into_iter().enumerate() {
        put32(b, at + 4 * i, w);
    }
}

pub(super) fn get_sigset(b: &[u8], at: usize) -> SigSet {
    SigSet::from_words(core::array::from_fn(|i| get32(b, at + 4 * i)))
}

/// A `stack_t` at `at`.
pub(super) fn put_stack(b: &mut [u8], at: usize, s: &SigAltStack) {
    put64(b, at + offset_of!(StackT, ss_sp), s.ss_sp);
    put64(b, at + offset_of!(StackT, ss_size), s.ss_size);
    put32(b, at + offset_of!(StackT, ss_flags), s.ss_flags);
}

pub(super) fn get_stack(b: &[u8], at: usize) -> SigAltStack {
    SigAltStack {
        ss_sp: get64(b, at + offset_of!(StackT, ss_sp)),
        ss_size: get64(b, at + offset_of!(StackT, ss_size)),
        ss_flags: get32(b, at + offset_of!(StackT, ss_flags)),
    }
}

/// A `siginfo_t` at `at`.
pub(super) fn put_siginfo(b: &mut [u8], at: usize, i: &SigInfo) {
    put32(b, at + offset_of!(SigInfoT, si_signo), u32::from(i.si_signo));
    put32(b, at + offset_of!(SigInfoT, si_code), i.si_code as u32);
    put32(b, at + offset_of!(SigInfoT, si_errno), i.si_errno as u32);
    put32(b, at + offset_of!(SigInfoT, si_pid), i.si_pid);
    put64(b, at + offset_of!(SigInfoT, si_addr), i.si_addr);
    put64(b, at + offset_of!(SigInfoT, si_value), i.si_value);
}

/// The size of a `siginfo_t` in user memory.
pub(super) const SIGINFO_SIZE: usize = SI_SIZE;

/// A `ucontext_t` at `at`: the registers `regs`, the mask `mask`, the stack `stack`.
fn put_ucontext(b: &mut [u8], at: usize, regs: &UserRegs, mask: SigSet, stack: &SigAltStack) {
    put64(b, at + offset_of!(UContext, uc_flags), UC_SIGMASK | UC_STACK | UC_CPU);
    put_sigset(b, at + offset_of!(UContext, uc_sigmask), mask);
    put_stack(b, at + offset_of!(UContext, uc_stack), stack);
    let gregs = at + offset_of!(UContext, uc_mcontext) + offset_of!(MContext, gregs);
    for (i, r) in regs.r.iter().enumerate() {
        put64(b, gregs + 8 * i, *r);
    }
}

/// Whether stack pointer `sp` (biased) is on the alternate stack `alt`.
pub(super) fn on_altstack(alt: &SigAltStack, sp: u64) -> bool {
    let at = sp.wrapping_add(STACK_BIAS);
    alt.ss_flags & SS_DISABLE == 0 && at >= alt.ss_sp && at - alt.ss_sp < alt.ss_size
}

/// The stack a context on `sp` runs on, as its `ucontext_t` says it: the LWP's
/// alternate stack, marked `SS_ONSTACK` if `sp` is on it.
fn context_stack(alt: &SigAltStack, sp: u64) -> SigAltStack {
    let flags = alt.ss_flags | if on_altstack(alt, sp) { SS_ONSTACK } else { 0 };
    SigAltStack { ss_flags: flags, ..*alt }
}

/// Builds the frame for `sig` (see the module comment) and points the registers in
/// `frame` at `handler`: `mask` is the one the handler's return restores.
///
/// Errors: `EFAULT` if the stack cannot take the frame (nothing was changed).
pub(super) fn sendsig(
    frame: &UserFrame,
    sig: Sig,
    info: &SigInfo,
    handler: u64,
    flags: u32,
    mask: SigSet,
) -> Result<(), Errno> {
    M::user_flush_windows();
    let alt = curlwp().and_then(|l| l.with_data(|d| d.lwp_sigaltstack)).ok_or(Errno::EFAULT)?;
    let regs = frame.load();
    let sp = regs.sp();
    let top = if flags & SA_ONSTACK != 0 && alt.ss_flags & SS_DISABLE == 0 && !on_altstack(&alt, sp)
    {
        alt.ss_sp.checked_add(alt.ss_size).ok_or(Errno::EFAULT)?
    } else {
        sp.checked_add(STACK_BIAS).ok_or(Errno::EFAULT)?
    };
    let base = top.checked_sub(FRAME as u64).ok_or(Errno::EFAULT)? & !15;
    let mut b = [0u8; FRAME];
    put_siginfo(&mut b, SI_AT, info);
    put_ucontext(&mut b, UC_AT, &regs, mask, &context_stack(&alt, sp));
    copyout(base, &b)?;
    frame.set(reg::PC, handler);
    frame.set(reg::NPC, handler.wrapping_add(4));
    frame.set(reg::O0, u64::from(sig.num()));
    frame.set(reg::O0 + 1, if flags & SA_SIGINFO != 0 { base + SI_AT as u64 } else { 0 });
    frame.set(reg::O0 + 2, base + UC_AT as u64);
    frame.set(reg::O6, base - STACK_BIAS);
    // A handler that returned instead of calling setcontext jumps to 8: a fault.
    frame.set(reg::O7, 0);
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
    let mut b = [0u8; UC_SIZE];
    put_ucontext(&mut b, 0, &regs, curthread().t_hold.get(), &context_stack(&alt, regs.sp()));
    copyout(ucp, &b)
}

/// `setcontext(ucp)`: resumes the `ucontext_t` at `ucp` (how a signal handler
/// returns): its registers — every one, the user's `%g7` too — and, if it has one,
/// its mask. The windows of the code that calls it are flushed to its stack first,
/// so that the return to user mode fills the resumed window from the resumed
/// stack. `EFAULT` if the context cannot be read (nothing is changed).
pub(super) fn setcontext(frame: &UserFrame, ucp: u64) -> Result<(), Errno> {
    let mut b = [0u8; UC_SIZE];
    copyin(ucp, &mut b)?;
    let lwp = curlwp().ok_or(Errno::EINVAL)?;
    let flags = get64(&b, offset_of!(UContext, uc_flags));
    M::user_flush_windows();
    if flags & UC_CPU != 0 {
        let gregs = offset_of!(UContext, uc_mcontext) + offset_of!(MContext, gregs);
        frame.store(&UserRegs { r: core::array::from_fn(|i| get64(&b, gregs + 8 * i)) });
    }
    if flags & UC_SIGMASK != 0 {
        let t = curthread();
        if let Some(p) = t.t_procp.get() {
            set_mask(t, &p.p_lock.lock(), get_sigset(&b, offset_of!(UContext, uc_sigmask)));
        }
    }
    lwp.with_data(|d| d.lwp_eosys = Eosys::JustReturn);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_go_where_the_abi_puts_them() {
        let mut b = [0u8; UC_SIZE];
        let mut regs = UserRegs::default();
        regs.r[reg::G7] = 0x0707_0707_0707_0707;
        regs.r[reg::PC] = 0x10_0040;
        let mask = SigSet::of(Sig::CHLD);
        let alt = SigAltStack { ss_sp: 0x2000, ss_size: 0x4000, ss_flags: 0 };
        put_ucontext(&mut b, 0, &regs, mask, &alt);
        let gregs = offset_of!(UContext, uc_mcontext);
        assert_eq!(get64(&b, gregs + 8 * reg::G7), 0x0707_0707_0707_0707);
        assert_eq!(get64(&b, gregs + 8 * reg::PC), 0x10_0040);
        assert_eq!(get_sigset(&b, offset_of!(UContext, uc_sigmask)), mask);
        assert_eq!(get_stack(&b, offset_of!(UContext, uc_stack)), alt);
        assert_eq!(b[offset_of!(UContext, uc_sigmask) + 1], 2, "SIGCHLD (18) is bit 17 of word 0");
        let on = SigAltStack { ss_flags: SS_ONSTACK, ..alt };
        assert_eq!(context_stack(&alt, 0x3000 - STACK_BIAS), on);
        assert_eq!(context_stack(&alt, 0x6000 - STACK_BIAS), alt, "the top is past the stack");
    }
}
