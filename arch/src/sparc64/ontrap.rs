//! Fault recovery (Solaris' `on_trap`): [`catch`] runs a function so that a trap it
//! causes ends it and is returned, instead of stopping the kernel: the basis of
//! `copyin` and `copyout` (`vm`) and of the self-test probes.
//!
//! # Theory
//!
//! `catch` registers a record ([`OnTrap`]) in the running thread's context (its
//! slot `ontrap`, found through the per-CPU block) and calls the function
//! through `sparc64_ontrap_call`, which notes its caller's frame (`%fp`, `%i7`) in
//! the record. A trap in the kernel that nothing else claims asks [`recover`]
//! (from `trap`'s dispatcher): with a record registered, the trap is described in
//! it and the trapped code `retry`s into `sparc64_ontrap_landing`, which abandons
//! every window above `catch`'s and returns into it as `resume` enters a thread.
//! The record is per thread, in the thread's own context: a switch has nothing to
//! save or restore for it, and a `catch` pays one load more, for the context.

use core::arch::global_asm;
use core::mem::{offset_of, MaybeUninit};
use core::sync::atomic::Ordering;

use super::context::Context;
use super::frame::{TrapFrame, TrapInfo, MIN_FRAME};

/// A fault-recovery record: `ontrap_call` fills `fp`/`i7`, the trap handler `info`
/// (each before it is read: [`catch`] leaves the record unwritten until then).
#[repr(C)]
pub struct OnTrap {
    fp: u64,
    i7: u64,
    info: TrapInfo,
}

/// Runs `f(arg)`; a trap that `f` causes ends `f` at once and is returned instead of
/// stopping the kernel (Solaris' `on_trap`, the basis of `copyin`: `vm::copy_user`). `f` must
/// own nothing that needs dropping: its frames are abandoned.
pub fn catch(f: extern "C" fn(usize), arg: usize) -> Result<(), TrapInfo> {
    // Not zeroed: every copy to or from user memory comes here, and each field is
    // written before it is read (see `OnTrap`).
    let mut rec = MaybeUninit::<OnTrap>::uninit();
    // Only this thread, on its CPU, reads it (the trap handler): plain loads and
    // stores, no atomic swap. The thread's slot goes with it if it is switched.
    let slot = &Context::running().ontrap;
    let outer = slot.load(Ordering::Relaxed);
    slot.store(rec.as_mut_ptr(), Ordering::Relaxed);
    // SAFETY: `rec` outlives the call and is registered in the thread's slot for
    // its duration; `sparc64_ontrap_call` returns normally (0) or through the
    // landing pad (1) to this frame, whose window it restores from the stack like
    // `resume` does.
    let trapped = unsafe { sparc64_ontrap_call(f, arg, rec.as_mut_ptr()) };
    slot.store(outer, Ordering::Relaxed);
    if trapped == 0 {
        Ok(())
    } else {
        // SAFETY: the landing pad is reached only after `recover` wrote `info`.
        Err(unsafe { (&raw const (*rec.as_ptr()).info).read() })
    }
}

/// If the running thread is inside [`catch`], records the trap and makes the trap
/// return into the landing pad.
pub(super) fn recover(frame: &mut TrapFrame) -> bool {
    let rec = Context::running().ontrap.load(Ordering::Relaxed);
    if rec.is_null() {
        return false;
    }
    let info = TrapInfo { tt: frame.tt, tpc: frame.tpc, tnpc: frame.tnpc, tstate: frame.tstate };
    // SAFETY: a non-null slot is the `rec` of a `catch` frame of this very thread
    // (the slot is its own), live until `catch` returns; written through
    // a raw pointer (the record may hold no initialised `info` yet).
    unsafe { (&raw mut (*rec).info).write(info) };
    frame.g[1] = rec as u64;
    frame.tpc = sparc64_ontrap_landing as *const () as u64;
    frame.tnpc = frame.tpc + 4;
    true
}

global_asm!(
    r#"
    .section .text.ontrap, "ax"
    .align  4
    ! Fault recovery (see `catch`): the trap handler made the trapped code `retry`
    ! here with %g1 = &OnTrap. Abandon every window above `ontrap_call`'s caller and
    ! return to it with %o0 = 1, exactly as `resume` enters a thread.
    .globl  sparc64_ontrap_landing
sparc64_ontrap_landing:
    flushw
    ldx     [%g1 + {ot_fp}], %fp
    ldx     [%g1 + {ot_i7}], %i7
    ret
     restore %g0, 1, %o0

    ! ontrap_call(f, arg, rec): records its caller's frame in `rec`, calls f(arg),
    ! returns 0. A trap inside f comes back through the landing pad instead, with 1.
    .globl  sparc64_ontrap_call
sparc64_ontrap_call:
    save    %sp, -{minframe}, %sp
    stx     %fp, [%i2 + {ot_fp}]
    stx     %i7, [%i2 + {ot_i7}]
    call    %i0
     mov    %i1, %o0
    ret
     restore %g0, 0, %o0
"#,
    minframe = const MIN_FRAME,
    ot_fp = const offset_of!(OnTrap, fp),
    ot_i7 = const offset_of!(OnTrap, i7),
);

extern "C" {
    fn sparc64_ontrap_landing();
    fn sparc64_ontrap_call(f: extern "C" fn(usize), arg: usize, rec: *mut OnTrap) -> u64;
}
