//! The floating-point unit for LWPs: per-LWP state, enabled lazily, saved at a
//! switch only for LWPs that use it (S5, S13, S17).
//!
//! # Theory
//!
//! Every LWP's frame (its `lwp` structure's registers, S5) has room for the FP
//! state: the 32 double registers (`%f0`..`%f62`, the 64 single ones), `%fsr`,
//! `%gsr` and `%fprs`, and a word, `en`, that says whether the LWP has used the
//! FPU at all. A new LWP has not: it runs with `PSTATE.PEF` off, so its first FP
//! instruction traps (`fp_disabled`); the trap gives it a fresh state (zeros,
//! `%fprs.FEF` on), loads that into the FPU, sets `en`, and returns to the same
//! instruction, which now runs. The return path to user mode ORs `en` (which holds
//! `TSTATE.PEF` itself) into the `TSTATE` it builds, so an LWP that uses the FPU
//! always returns to user mode with it on, and one that does not, with it off.
//!
//! While an LWP runs, its FP state lives in the FPU and nowhere else: the kernel
//! never executes an FP instruction but here (it runs with `PSTATE.PEF` off, so
//! any other would trap). The per-CPU block names that state (`ArchCpu::fpu`: the
//! running LWP's, if it uses the FPU, else 0), so that a switch saves the FPU into
//! it with one load and test, and frames need not be looked at for the outgoing
//! thread; when a thread is switched in, its frame's state goes into the FPU if
//! its LWP uses it, and becomes the one named. Whatever changes which state that is
//! names it anew ([`live`]): the switch, `user`'s attaching and detaching of a
//! frame and `exec`, [`enable`], a `setcontext` of the running LWP. A switch
//! between LWPs that never used the FPU pays two tests. Whoever reads or writes
//! the state of the running LWP (a signal frame, `getcontext`, `setcontext`) goes
//! through [`sync_out`] and [`sync_in`].
//!
//! An FP instruction that traps for an IEEE exception the LWP enabled in
//! `%fsr.TEM` (`fp_exception_ieee_754`) is a fault of that LWP (S13): SIGFPE with
//! the code of the exception `%fsr.cexc` names. Reading `%fsr` clears its trap
//! type, as V9 says a store of it does.
//!
//! The same state travels with the frame: in the swap image
//! ([`super::user::MachFrame::save`]) and through `ucontext_t` (`UserFrame::fpregs`).

use core::arch::global_asm;
use core::mem::offset_of;
use core::sync::atomic::Ordering;

use super::cpu::sparc64_cpu;
use crate::uregs::FpRegs;
use crate::FloatKind;

/// `TSTATE.PEF`: `PSTATE.PEF` (bit 4) as `TSTATE` holds it (bits 19..8).
const TSTATE_PEF: u64 = 0x10 << 8;
/// `%fprs.FEF`: the FPU enabled (with `PSTATE.PEF`).
const FPRS_FEF: u64 = 4;

/// An LWP's FP state (Solaris keeps it in the LWP's `pcb`/`fpu` too).
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct FpuState {
    /// `TSTATE_PEF` if the LWP uses the FPU, else 0: what the return path ORs
    /// into `TSTATE`.
    pub(super) en: u64,
    /// `%f0`, `%f2`, ... `%f62` (each double register the pair of two singles).
    d: [u64; 32],
    fsr: u64,
    gsr: u64,
    fprs: u64,
}

/// Offset of `en` in the state (for the return path).
pub(super) const FPU_EN: usize = offset_of!(FpuState, en);

impl FpuState {
    /// An LWP that has not used the FPU.
    pub(super) const UNUSED: FpuState = FpuState { en: 0, d: [0; 32], fsr: 0, gsr: 0, fprs: 0 };
    /// What an LWP's first FP instruction finds: zeros, the FPU on.
    const FRESH: FpuState = FpuState { en: TSTATE_PEF, fprs: FPRS_FEF, ..FpuState::UNUSED };

    /// Words in an image of a state in use ([`FpuState::words`]).
    pub(super) const IMAGE_WORDS: usize = 35;

    /// The state of an LWP in use, as words (the registers, `%fsr`, `%gsr`, `%fprs`).
    pub(super) fn words(&self) -> impl Iterator<Item = u64> + '_ {
        self.d.iter().copied().chain([self.fsr, self.gsr, self.fprs])
    }

    /// A state in use from the words [`FpuState::words`] gave.
    pub(super) fn from_words(mut w: impl Iterator<Item = u64>) -> FpuState {
        let mut next = || w.next().unwrap_or(0);
        let d = core::array::from_fn(|_| next());
        let (fsr, gsr, fprs) = (next(), next(), next());
        FpuState { en: TSTATE_PEF, d, fsr, gsr, fprs }
    }

    /// The part `ucontext_t` carries.
    pub(super) fn regs(&self) -> FpRegs {
        FpRegs { d: self.d, fsr: self.fsr }
    }

    /// Takes `r` (from a `ucontext_t`) as the LWP's registers and `%fsr`; the LWP
    /// uses the FPU from now on.
    pub(super) fn set_regs(&mut self, r: &FpRegs) {
        if self.en == 0 {
            *self = FpuState::FRESH;
        }
        self.d = r.d;
        self.fsr = r.fsr;
    }
}

global_asm!(
    r#"
    .section .text.fpu, "ax"
    .align  32
    ! The FPU is reached with PSTATE.PEF and %fprs.FEF on; the kernel's PSTATE (and
    ! the user's %fprs, which the state keeps) are put back after.
    .macro  FPU_ON
    rdpr    %pstate, %o5
    or      %o5, 0x10, %o4
    wrpr    %o4, 0, %pstate
    .endm

    ! sparc64_fpu_save(state): the FPU into `state`.
    .globl  sparc64_fpu_save
    .type   sparc64_fpu_save, #function
sparc64_fpu_save:
    FPU_ON
    rd      %fprs, %o4
    stx     %o4, [%o0 + {fprs}]
    wr      %g0, {fef}, %fprs
    .irp    n, 0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30,32,34,36,38,40,42,44,46,48,50,52,54,56,58,60,62
    std     %f\n, [%o0 + {d} + \n * 4]
    .endr
    stx     %fsr, [%o0 + {fsr}]
    rd      %gsr, %o4
    stx     %o4, [%o0 + {gsr}]
    ldx     [%o0 + {fprs}], %o4
    wr      %o4, 0, %fprs
    retl
     wrpr   %o5, 0, %pstate
    .size   sparc64_fpu_save, . - sparc64_fpu_save

    ! sparc64_fpu_load(state): `state` into the FPU.
    .globl  sparc64_fpu_load
    .type   sparc64_fpu_load, #function
sparc64_fpu_load:
    FPU_ON
    wr      %g0, {fef}, %fprs
    .irp    n, 0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30,32,34,36,38,40,42,44,46,48,50,52,54,56,58,60,62
    ldd     [%o0 + {d} + \n * 4], %f\n
    .endr
    ldx     [%o0 + {fsr}], %fsr
    ldx     [%o0 + {gsr}], %o4
    wr      %o4, 0, %gsr
    ldx     [%o0 + {fprs}], %o4
    wr      %o4, 0, %fprs
    retl
     wrpr   %o5, 0, %pstate
    .size   sparc64_fpu_load, . - sparc64_fpu_load

    ! sparc64_fpu_fsr(): %fsr (the store clears its trap type, `ftt`).
    .globl  sparc64_fpu_fsr
    .type   sparc64_fpu_fsr, #function
sparc64_fpu_fsr:
    FPU_ON
    rd      %fprs, %o3
    wr      %g0, {fef}, %fprs
    add     %sp, {bias} + 128, %o2      ! a doubleword of our caller's argument slots
    stx     %fsr, [%o2]
    ldx     [%o2], %o0
    wr      %o3, 0, %fprs
    retl
     wrpr   %o5, 0, %pstate
    .size   sparc64_fpu_fsr, . - sparc64_fpu_fsr

    ! sparc64_fpu_fef(): %fprs.FEF on (the user turned it off).
    .globl  sparc64_fpu_fef
    .type   sparc64_fpu_fef, #function
sparc64_fpu_fef:
    rd      %fprs, %o4
    or      %o4, {fef}, %o4
    retl
     wr     %o4, 0, %fprs
    .size   sparc64_fpu_fef, . - sparc64_fpu_fef
"#,
    d = const offset_of!(FpuState, d),
    fsr = const offset_of!(FpuState, fsr),
    gsr = const offset_of!(FpuState, gsr),
    fprs = const offset_of!(FpuState, fprs),
    fef = const FPRS_FEF,
    bias = const super::frame::STACK_BIAS,
);

extern "C" {
    fn sparc64_fpu_save(state: *mut FpuState);
    fn sparc64_fpu_load(state: *const FpuState);
    fn sparc64_fpu_fsr() -> u64;
    fn sparc64_fpu_fef();
}

/// The FPU into `state` (interrupts off: the FPU is the running LWP's).
pub(super) fn save(state: &mut FpuState) {
    // SAFETY: stores only into `state`, and puts PSTATE and %fprs back as they were.
    unsafe { sparc64_fpu_save(state) }
}

/// `state` into the FPU (interrupts off: it becomes the running LWP's).
pub(super) fn load(state: &FpuState) {
    // SAFETY: reads only `state`; writes the FPU, which only user mode uses, and
    // puts PSTATE back.
    unsafe { sparc64_fpu_load(state) }
}

/// Names `state`, the running LWP's (none: it has no frame), as the one in the FPU
/// if its LWP uses the FPU (interrupts off; see the module comment).
pub(super) fn live(state: Option<&FpuState>) {
    let live = state.filter(|s| s.en != 0).map_or(0, |s| s as *const FpuState as u64);
    sparc64_cpu.fpu.store(live, Ordering::Relaxed);
}

/// The running LWP's first FP instruction, or one after it turned `%fprs.FEF`
/// off itself (`fp_disabled` from user mode, interrupts off): a fresh state for
/// it, or FEF back on; the instruction is made again.
pub(super) fn enable(state: &mut FpuState) {
    if state.en == 0 {
        *state = FpuState::FRESH;
        load(state);
        live(Some(state));
    } else {
        // SAFETY: sets one bit of %fprs, the running LWP's own.
        unsafe { sparc64_fpu_fef() }
    }
}

/// The IEEE exception of an `fp_exception_ieee_754` trap, from `%fsr.cexc`
/// (nvc, ofc, ufc, dzc, nxc: bits 4..0), the first that the hardware sets.
pub(super) fn exception() -> FloatKind {
    // SAFETY: reads %fsr (clearing its trap type) through the caller's own stack
    // slot, and puts PSTATE and %fprs back.
    let cexc = unsafe { sparc64_fpu_fsr() } & 0x1f;
    match cexc {
        c if c & 0x10 != 0 => FloatKind::Invalid,
        c if c & 0x08 != 0 => FloatKind::Overflow,
        c if c & 0x04 != 0 => FloatKind::Underflow,
        c if c & 0x02 != 0 => FloatKind::DivideByZero,
        _ => FloatKind::Inexact,
    }
}

/// At a switch (interrupts off): the FPU into the state it holds, if any (the
/// outgoing LWP's); the incoming one's state, `to`, into the FPU if its LWP uses
/// it, and named as the one there.
#[inline(always)]
pub(super) fn switch(to: Option<&FpuState>) {
    // Between LWPs that do not use the FPU (the common case) the word stays 0 and
    // is not written.
    let held = sparc64_cpu.fpu.load(Ordering::Relaxed);
    if held != 0 {
        // SAFETY: a nonzero word is the FP state of the running thread's frame
        // (`live`), which that thread, switching out with interrupts off, holds
        // and no one else touches now.
        save(unsafe { &mut *(held as *mut FpuState) });
        sparc64_cpu.fpu.store(0, Ordering::Relaxed);
    }
    if let Some(t) = to.filter(|t| t.en != 0) {
        load(t);
        live(Some(t));
    }
}

/// The running LWP's state in `state` made current (before it is read).
pub(super) fn sync_out(state: &mut FpuState) {
    if state.en != 0 {
        save(state);
    }
}

/// The running LWP's `state`, changed, into the FPU.
pub(super) fn sync_in(state: &FpuState) {
    if state.en != 0 {
        load(state);
    }
}
