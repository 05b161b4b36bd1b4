//! The signal structures as they are in user memory (`lwp_abi`'s `#[repr(C)]`
//! layouts, big-endian, as on SPARC): each a run of 64-bit words, which
//! `copyin_words`/`copyout_words` move whole (on sparc64 as they are: no byte
//! buffer, no conversion). A pair of 4-byte fields is one word, the first in its
//! high half. The layouts are checked against the ABI's at compile time.

use core::mem::{offset_of, size_of};

use super::{SigInfo, SigSet};
use crate::lwp::SigAltStack;
use arch::{FpRegs, UserWindow};
use lwp_abi::{
    FpRegSet, GWindows, MContext, RWindow, SigAction, SigInfoT, StackT, UContext,
    SPARC_MAXREGWINDOW, UC_CPU, UC_FPU, UC_SIGMASK, UC_STACK,
};

/// One 8-byte word of user memory, as a number.
pub type Word = u64;

/// Two 4-byte fields, `hi` first.
#[inline(always)]
fn pair(hi: u32, lo: u32) -> Word {
    u64::from(hi) << 32 | u64::from(lo)
}

/// A `sigset_t`: its words 0 and 1, then 2 and 3 (`SigSet::pairs` keeps the first
/// of each pair in the low half).
pub const SIGSET_WORDS: usize = 2;

/// The words of `sigset_t` `s`.
pub fn sigset(s: SigSet) -> [Word; SIGSET_WORDS] {
    s.pairs().map(|p| p.rotate_left(32))
}

/// The `sigset_t` in the words `w` (at least [`SIGSET_WORDS`]).
pub fn get_sigset(w: &[Word]) -> SigSet {
    SigSet::from_pairs([w[0].rotate_left(32), w[1].rotate_left(32)])
}

/// A `stack_t`.
pub const STACK_WORDS: usize = 3;

/// The words of `stack_t` `s`.
pub fn stack(s: &SigAltStack) -> [Word; STACK_WORDS] {
    [s.ss_sp, s.ss_size, pair(s.ss_flags, 0)]
}

/// The `stack_t` in the words `w` (at least [`STACK_WORDS`]).
pub fn get_stack(w: &[Word]) -> SigAltStack {
    SigAltStack { ss_sp: w[0], ss_size: w[1], ss_flags: (w[2] >> 32) as u32 }
}

/// A `siginfo_t`.
pub const SIGINFO_WORDS: usize = 5;

/// The words of `siginfo_t` `i`.
pub fn siginfo(i: &SigInfo) -> [Word; SIGINFO_WORDS] {
    [
        pair(u32::from(i.si_signo), i.si_code as u32),
        pair(i.si_errno as u32, 0),
        pair(i.si_pid, 0),
        i.si_addr,
        i.si_value,
    ]
}

/// A `struct sigaction`: flags, handler, mask.
pub const SIGACTION_WORDS: usize = 4;

/// The words of a `struct sigaction` with `flags`, `handler` and `mask`.
pub fn sigaction(flags: u32, handler: u64, mask: SigSet) -> [Word; SIGACTION_WORDS] {
    let [m0, m1] = sigset(mask);
    [pair(flags, 0), handler, m0, m1]
}

/// The flags, handler and mask of a `struct sigaction`.
pub fn get_sigaction(w: &[Word]) -> (u32, u64, SigSet) {
    ((w[0] >> 32) as u32, w[1], get_sigset(&w[2..]))
}

/// A `ucontext_t`: flags, link, the mask, the stack, the registers, `gwins`, then
/// the FP registers (`fpregset_t`).
pub const UCONTEXT_WORDS: usize = UC_FP + FPREGS_WORDS;
/// The word where its mask (`uc_sigmask`) starts.
pub const UC_MASK: usize = 2;
/// The word where its registers (`uc_mcontext.gregs`) start.
pub const UC_REGS: usize = 7;
/// The word of its `uc_mcontext.gwins`.
pub const UC_GWINS: usize = 28;
/// The word where its FP registers (`uc_mcontext.fpregs`) start: everything
/// before them is always written; they are only with `UC_FPU`.
pub const UC_FP: usize = 29;

/// The words of the `ucontext_t` of mask `mask`, stack `stack_t` and windows at
/// `gwins` (0: none), up to its FP registers (`fp`: they follow, `UC_FPU`), whose
/// registers `regs` writes into their place (`gregs_mut`): on the path of every
/// signal delivered, they are not copied once into a `gregset_t` and again here.
#[inline(always)]
pub fn ucontext(
    regs: impl FnOnce(&mut [u64; arch::uregs::NGREG]),
    mask: SigSet,
    stack_t: &SigAltStack,
    gwins: u64,
    fp: bool,
) -> [Word; UC_FP] {
    let [m0, m1] = sigset(mask);
    let [s0, s1, s2] = stack(stack_t);
    let flags = UC_SIGMASK | UC_STACK | UC_CPU | if fp { UC_FPU } else { 0 };
    let mut uc = [0; UC_FP];
    uc[..UC_REGS].copy_from_slice(&[flags, 0, m0, m1, s0, s1, s2]);
    regs(gregs_mut(&mut uc));
    uc[UC_GWINS] = gwins;
    uc
}

/// The registers of a `ucontext_t`.
pub fn gregs(uc: &[Word; UC_FP]) -> &[u64; arch::uregs::NGREG] {
    uc[UC_REGS..UC_REGS + arch::uregs::NGREG].try_into().unwrap_or(&[0; arch::uregs::NGREG])
}

// A `ucontext_t`'s registers fill the words between its stack and its windows.
const _: () = assert!(UC_GWINS - UC_REGS == arch::uregs::NGREG);

/// The registers of a `ucontext_t`, to write.
fn gregs_mut(uc: &mut [Word; UC_FP]) -> &mut [u64; arch::uregs::NGREG] {
    let r: &mut [u64] = &mut uc[UC_REGS..UC_GWINS];
    r.try_into().expect("a gregset_t is NGREG words")
}

/// A `gwindows_t`: its head (`wbcnt` and `spbuf`), then each window's sixteen
/// words from [`GWINDOW_AT`] on.
pub const GWINDOWS_HEAD_WORDS: usize = 1 + SPARC_MAXREGWINDOW;
/// The word where window `i` of a `gwindows_t` starts: `GWINDOW_AT + 16 * i`.
pub const GWINDOW_AT: usize = GWINDOWS_HEAD_WORDS;
/// The whole `gwindows_t`, in words.
pub const GWINDOWS_WORDS: usize = GWINDOW_AT + 16 * SPARC_MAXREGWINDOW;

/// The head of a `gwindows_t` holding `windows`.
pub fn gwindows_head(windows: &[UserWindow]) -> [Word; GWINDOWS_HEAD_WORDS] {
    core::array::from_fn(|i| match i {
        0 => pair(windows.len() as u32, 0),
        _ => windows.get(i - 1).map_or(0, |w| w.sp),
    })
}

/// `wbcnt` of a `gwindows_t`'s head (negative as it is: the caller checks it).
pub fn get_wbcnt(head: &[Word; GWINDOWS_HEAD_WORDS]) -> i32 {
    (head[0] >> 32) as u32 as i32
}

/// Window `i` of a `gwindows_t` whose head is `head`, from its sixteen words.
pub fn get_gwindow(head: &[Word; GWINDOWS_HEAD_WORDS], i: usize, w: &[Word; 16]) -> UserWindow {
    UserWindow { sp: head[1 + i], regs: *w }
}

/// An `fpregset_t`: the double registers, `%fsr`, `fpu_en`.
pub const FPREGS_WORDS: usize = 34;

/// The words of the `fpregset_t` of `fp`.
pub fn fpregs(fp: &FpRegs) -> [Word; FPREGS_WORDS] {
    core::array::from_fn(|i| match i {
        0..32 => fp.d[i],
        32 => fp.fsr,
        _ => 1,
    })
}

/// The FP registers of an `fpregset_t`; `None` if `fpu_en` says it holds none.
pub fn get_fpregs(w: &[Word; FPREGS_WORDS]) -> Option<FpRegs> {
    (w[33] != 0).then(|| FpRegs { d: core::array::from_fn(|i| w[i]), fsr: w[32] })
}

// The layouts above are the ABI's.
const _: () = {
    assert!(size_of::<lwp_abi::SigSet>() == SIGSET_WORDS * 8);
    assert!(size_of::<StackT>() == STACK_WORDS * 8 && offset_of!(StackT, ss_flags) == 16);
    assert!(size_of::<SigInfoT>() == SIGINFO_WORDS * 8);
    assert!(offset_of!(SigInfoT, si_errno) == 8 && offset_of!(SigInfoT, si_pid) == 16);
    assert!(offset_of!(SigInfoT, si_addr) == 24 && offset_of!(SigInfoT, si_value) == 32);
    assert!(size_of::<SigAction>() == SIGACTION_WORDS * 8);
    assert!(offset_of!(SigAction, sa_handler) == 8 && offset_of!(SigAction, sa_mask) == 16);
    assert!(size_of::<UContext>() == UCONTEXT_WORDS * 8);
    assert!(offset_of!(UContext, uc_sigmask) == UC_MASK * 8);
    assert!(offset_of!(UContext, uc_stack) == 4 * 8);
    assert!(offset_of!(UContext, uc_mcontext) + offset_of!(MContext, gregs) == UC_REGS * 8);
    assert!(UC_REGS + arch::uregs::NGREG == UC_GWINS && offset_of!(MContext, gwins) == 21 * 8);
    assert!(offset_of!(GWindows, spbuf) == 8 && offset_of!(GWindows, wbuf) == GWINDOW_AT * 8);
    assert!(size_of::<RWindow>() == 16 * 8 && size_of::<GWindows>() == GWINDOWS_WORDS * 8);
    assert!(offset_of!(UContext, uc_mcontext) + offset_of!(MContext, fpregs) == UC_FP * 8);
    assert!(size_of::<FpRegSet>() == FPREGS_WORDS * 8);
    assert!(offset_of!(FpRegSet, fpu_fsr) == 32 * 8 && offset_of!(FpRegSet, fpu_en) == 33 * 8);
};
