//! The user-level switch between threads (S18): no system call, only what SPARC
//! needs to leave one stack and take up another.
//!
//! # Theory
//!
//! A thread's saved context is two words: the stack pointer of the function that
//! called the switch, and the address it called from. Everything else a thread
//! keeps across a call is in its register windows, which live on its own stack.
//! `lwpt_switch` is a leaf routine, so the window it runs in is its caller's:
//! the caller's own window is stored to its save area (`%sp + BIAS`) by sixteen
//! stores, which is all a spill trap would do, without the trap, and `flushw`
//! puts every older window of the caller's thread on its stack (window spill
//! traps the kernel serves in its trap table; none once they are there already,
//! as in a steady run of switches). The other thread's window is loaded
//! from its save area by sixteen loads, its stack pointer and return address
//! taken up, `%g7` pointed at it (the library's current thread, as Solaris'
//! libthread keeps it; the kernel saves and restores user `%g7` at every trap),
//! and `retl` lands in its caller, just past its own call of `lwpt_switch`. The
//! registers a call may clobber (outs, `%g1`–`%g5`, floating point, condition
//! codes) need no saving: the compiler keeps nothing in them across the call.
//!
//! While the sixteen loads run, `%sp` names a scratch frame below the incoming
//! thread's stack pointer (free stack of that thread): a trap there may spill the
//! half-loaded window to `%sp + BIAS` and fill it back, and a signal handler may
//! push its frame below `%sp`, so neither save area being read or written may be
//! the one `%sp` names, and the scratch frame is neither.
//!
//! The third argument, the LWP that makes the switch, is left in `%o0` for the
//! incoming thread: its `lwpt_switch` returns the LWP it runs on from then on.
//!
//! A new thread is a stack whose top holds one register-save area, prepared so
//! that these same loads give a window whose `%l0` is the thread, and a "caller"
//! address that makes the `retl` land in `lwpt_start`. That window is the
//! thread's oldest: `lwpt_start` calls the thread's life
//! (`sched::lwpt_thread_main`), which returns, when the thread's function has
//! returned, the thread to continue in its place for good. `lwpt_start` then
//! enters the switch past its stores (`lwpt_resume`: a thread that exits keeps
//! nothing), in the one window the thread has left, so `flushw` spills none.

use core::arch::global_asm;
use core::mem::offset_of;

use super::thread::{Lwp, Thread};

/// The SPARC V9 stack bias: `%sp` and `%fp` are 2047 below the frame they name.
const BIAS: u64 = 2047;
/// A minimal frame: the 16-register save area and the 6 argument words.
const MINFRAME: u64 = 176;

global_asm!(
    r#"
    .section .text.lwpt_switch, "ax"
    .align  32
    ! lwpt_switch(lwp, from: &Thread, to: &Thread) -> lwp: see the module comment.
    .globl  lwpt_switch
    .type   lwpt_switch, #function
lwpt_switch:
    stx     %l0, [%sp + {bias} + 0]
    stx     %l1, [%sp + {bias} + 8]
    stx     %l2, [%sp + {bias} + 16]
    stx     %l3, [%sp + {bias} + 24]
    stx     %l4, [%sp + {bias} + 32]
    stx     %l5, [%sp + {bias} + 40]
    stx     %l6, [%sp + {bias} + 48]
    stx     %l7, [%sp + {bias} + 56]
    stx     %i0, [%sp + {bias} + 64]
    stx     %i1, [%sp + {bias} + 72]
    stx     %i2, [%sp + {bias} + 80]
    stx     %i3, [%sp + {bias} + 88]
    stx     %i4, [%sp + {bias} + 96]
    stx     %i5, [%sp + {bias} + 104]
    stx     %i6, [%sp + {bias} + 112]
    stx     %i7, [%sp + {bias} + 120]
    stx     %sp, [%o1 + {sp}]
    stx     %o7, [%o1 + {pc}]
    ! lwpt_resume(lwp, _, to: &Thread): continues `to`, keeping nothing of the
    ! caller, a thread that exits.
    .globl  lwpt_resume
lwpt_resume:
.Lresume:
    flushw
    ldx     [%o2 + {sp}], %o3
    ldx     [%o2 + {pc}], %o7
    add     %o3, -{minframe}, %sp
    ldx     [%o3 + {bias} + 0], %l0
    ldx     [%o3 + {bias} + 8], %l1
    ldx     [%o3 + {bias} + 16], %l2
    ldx     [%o3 + {bias} + 24], %l3
    ldx     [%o3 + {bias} + 32], %l4
    ldx     [%o3 + {bias} + 40], %l5
    ldx     [%o3 + {bias} + 48], %l6
    ldx     [%o3 + {bias} + 56], %l7
    ldx     [%o3 + {bias} + 64], %i0
    ldx     [%o3 + {bias} + 72], %i1
    ldx     [%o3 + {bias} + 80], %i2
    ldx     [%o3 + {bias} + 88], %i3
    ldx     [%o3 + {bias} + 96], %i4
    ldx     [%o3 + {bias} + 104], %i5
    ldx     [%o3 + {bias} + 112], %i6
    ldx     [%o3 + {bias} + 120], %i7
    mov     %o2, %g7
    retl
     mov    %o3, %sp
    .globl  lwpt_switch_end
lwpt_switch_end:
    .size   lwpt_switch, . - lwpt_switch

    ! A new thread's first instruction: its window came from the frame `prepare`
    ! made, with the thread in %l0, and %o0 is the LWP that switched to it. Its
    ! life returns the thread to continue for good, and the LWP is that one's.
    .globl  lwpt_start
    .type   lwpt_start, #function
lwpt_start:
    mov     %o0, %o1
    call    lwpt_thread_main
     mov    %l0, %o0
    mov     %o0, %o2
    ba      .Lresume
     ldx    [%o2 + {lwp}], %o0
    .size   lwpt_start, . - lwpt_start
"#,
    minframe = const MINFRAME,
    bias = const BIAS,
    sp = const offset_of!(Thread, ctx_sp),
    pc = const offset_of!(Thread, ctx_pc),
    lwp = const offset_of!(Thread, lwp),
);

extern "C" {
    /// `lwpt_switch(lwp, from, to)`: the addresses of the switching LWP and of two
    /// `Thread`s; returns the LWP that continued `from`.
    fn lwpt_switch(lwp: u64, from: u64, to: u64) -> u64;
    /// `lwpt_resume(lwp, _, to)`: `lwpt_switch` but for saving the caller.
    fn lwpt_resume(lwp: u64, from: u64, to: u64) -> !;
    /// Just past `lwpt_switch`'s last instruction.
    fn lwpt_switch_end();
    fn lwpt_start();
}

/// The addresses of the switch's instructions: a program's tests tell by them
/// that a signal came while a thread was half switched (which it must survive:
/// see the module comment).
pub fn switch_code() -> core::ops::Range<u64> {
    lwpt_switch as *const () as u64..lwpt_switch_end as *const () as u64
}

/// Saves the calling thread's context in `from` and continues `to` on `lwp`,
/// where it was saved (or at its start); returns when some later switch
/// continues `from`, with the LWP that made that switch (the one `from` runs on
/// from then on).
#[inline(always)]
pub(crate) fn switch(lwp: &'static Lwp, from: &Thread, to: &Thread) -> &'static Lwp {
    // SAFETY: `to` was saved by this routine or prepared by `prepare`, so its pair
    // names a frame on its own stack, which no other LWP runs on (the pool's lock,
    // held across every switch, keeps a thread on one LWP at a time), and a return
    // address into this library.
    let by = unsafe {
        lwpt_switch(
            lwp as *const Lwp as u64,
            from as *const Thread as u64,
            to as *const Thread as u64,
        )
    };
    // SAFETY: whoever continued `from` passed the address of its own `Lwp`, an
    // element of a static table (the pool's, or a thread's own).
    unsafe { &*(by as *const Lwp) }
}

/// Continues `to` on `lwp` as [`switch`] does, saving nothing of the calling
/// thread, which exits: nothing continues it again.
#[inline(always)]
pub(crate) fn resume(lwp: &'static Lwp, to: &Thread) -> ! {
    // SAFETY: as in `switch`, for `to`; the caller's context is not saved, and
    // nothing switches to it again.
    unsafe { lwpt_resume(lwp as *const Lwp as u64, 0, to as *const Thread as u64) }
}

/// Prepares `t` to start running `lwpt_thread_main(t, lwp)` on the stack whose top
/// (16-aligned, unbiased) is `top`, the next time something switches to it.
///
/// Of the window the switch loads, `lwpt_start` reads `%l0` only, and nothing
/// returns into it; `%i6` and `%i7` (frame pointer and return address) are
/// cleared so that a walk of the frame chain ends there. The other twelve words
/// are left as the stack holds them: no code reads them.
#[inline(always)]
pub(crate) fn prepare(t: &'static Thread, top: u64) {
    let frame = top - MINFRAME;
    let area = frame as *mut u64;
    // SAFETY: the frame lies in the top MINFRAME bytes of the thread's own stack,
    // which nothing runs on yet. The window save area is %l0..%l7, %i0..%i7.
    unsafe {
        area.write(t as *const Thread as u64);
        area.add(14).write(0);
        area.add(15).write(0);
    }
    t.ctx_sp.set(frame - BIAS);
    // `retl` goes to the caller's address + 8.
    t.ctx_pc.set(lwpt_start as *const () as u64 - 8);
}
