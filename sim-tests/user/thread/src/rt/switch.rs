//! The user-level switch between threads (S18): no system call, only what SPARC
//! needs to leave one stack and take up another.
//!
//! # Theory
//!
//! A thread's saved context is two words: the frame pointer of the function that
//! called the switch, and the address it called from. Everything else a thread
//! keeps across a call is in its register windows, which live on its own stack:
//! `lwpt_switch` makes one `save`, flushes every other window of the caller's to
//! its place on the stack (`flushw`: window spill traps the kernel serves in its
//! trap table), stores the pair, loads the other thread's pair into its own `%fp`
//! and `%i7`, points `%g7` at the other thread (the library's current thread, as
//! Solaris' libthread keeps it; the kernel saves and restores user `%g7` at every
//! trap), and `ret; restore`: the `restore` finds no valid window and takes a fill
//! trap that loads the other thread's caller's window from its stack, and the
//! `ret` lands in that caller, just past its own call of `lwpt_switch`. The
//! registers a call may clobber (outs, `%g1`–`%g5`, floating point, condition
//! codes) need no saving: the compiler keeps nothing in them across the call.
//!
//! A new thread is a stack whose top holds one register-save area, prepared so
//! that this same `restore` fills a window whose `%l0` is the thread, and a
//! "caller" address that makes the `ret` land in `lwpt_start`.

use core::arch::global_asm;
use core::mem::offset_of;

use super::thread::Thread;

/// The SPARC V9 stack bias: `%sp` and `%fp` are 2047 below the frame they name.
const BIAS: u64 = 2047;
/// A minimal frame: the 16-register save area and the 6 argument words.
const MINFRAME: u64 = 176;

global_asm!(
    r#"
    .section .text.lwpt_switch, "ax"
    .align  32
    ! lwpt_switch(from: &Thread, to: &Thread): see the module comment.
    .globl  lwpt_switch
    .type   lwpt_switch, #function
lwpt_switch:
    save    %sp, -{minframe}, %sp
    flushw
    stx     %fp, [%i0 + {fp}]
    stx     %i7, [%i0 + {pc}]
    ldx     [%i1 + {fp}], %fp
    ldx     [%i1 + {pc}], %i7
    mov     %i1, %g7
    ret
     restore
    .size   lwpt_switch, . - lwpt_switch

    ! A new thread's first instruction: its window came from the frame `prepare`
    ! made, with the thread in %l0.
    .globl  lwpt_start
    .type   lwpt_start, #function
lwpt_start:
    call    lwpt_thread_main
     mov    %l0, %o0
    illtrap 0
    .size   lwpt_start, . - lwpt_start
"#,
    minframe = const MINFRAME,
    fp = const offset_of!(Thread, ctx_fp),
    pc = const offset_of!(Thread, ctx_pc),
);

extern "C" {
    /// `lwpt_switch(from, to)`: the addresses of two `Thread`s.
    fn lwpt_switch(from: u64, to: u64);
    fn lwpt_start();
}

/// Saves the calling thread's context in `from` and continues `to`, where it was
/// saved (or at its start); returns when some later switch continues `from`.
#[inline(always)]
pub(crate) fn switch(from: &Thread, to: &Thread) {
    // SAFETY: `to` was saved by this routine or prepared by `prepare`, so its pair
    // names a frame on its own stack, which no other LWP runs on (the pool's lock,
    // held across every switch, keeps a thread on one LWP at a time), and a return
    // address into this library.
    unsafe { lwpt_switch(from as *const Thread as u64, to as *const Thread as u64) }
}

/// Prepares `t` to start running `lwpt_thread_main(t)` on the stack whose top
/// (16-aligned, unbiased) is `top`, the next time something switches to it.
pub(crate) fn prepare(t: &'static Thread, top: u64) {
    let frame = top - MINFRAME;
    let area = frame as *mut u64;
    // SAFETY: the frame lies in the top MINFRAME bytes of the thread's own stack,
    // which nothing runs on yet. The window save area is %l0..%l7, %i0..%i7.
    unsafe {
        core::ptr::write_bytes(area, 0, (MINFRAME / 8) as usize);
        area.write(t as *const Thread as u64);
    }
    t.ctx_fp.set(frame - BIAS);
    // `ret` goes to the caller's address + 8.
    t.ctx_pc.set(lwpt_start as *const () as u64 - 8);
}
