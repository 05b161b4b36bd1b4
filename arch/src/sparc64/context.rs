//! Kernel thread contexts and `resume()`, the switch (S7, S17).
//!
//! # Theory
//!
//! On SPARC a thread's kernel registers are its register windows. The switch runs
//! inline in the dispatcher's frame: a `flushw` writes every window of the outgoing
//! thread but the current one to that thread's own stack (its user windows to its
//! user stack), and the current window, the dispatcher's own, is not spilled at
//! all: the switch's assembly names every register the compiler could keep a value
//! in as clobbered, so what the dispatcher still needs afterwards is in its stack
//! frame, and what is left to keep is four registers: `%sp`, `%fp` (its caller's
//! stack pointer), `%i7` (where it returns) and the pc to come back to. `resume`,
//! a leaf routine called without a `save`, stores those in the outgoing context, loads the incoming thread's four, moves
//! `%g7` to the incoming thread and jumps: execution continues in the incoming
//! thread as if its own switch had just ended, in the same register window, with
//! `CANRESTORE` = 0, so its function's `ret; restore` takes a fill trap that loads
//! its caller's window from its stack. No window trap is taken for the window that
//! switches (it was one spill and one fill, 36 instructions, when `resume` was a
//! function of its own with a `save`).
//!
//! A new thread is a context whose pc is `sparc64_thread_start` and whose stack holds
//! one prepared register save area: the entry function and its argument, which that
//! routine loads and calls, and zeros for `%fp` and `%i7`, where every backtrace ends.
//!
//! The user-level registers of an LWP (S17's first and last steps) are saved at trap
//! entry and restored at trap exit, around this switch; they never pass through here.
//!
//! The same layout makes a switched-out thread's kernel stack walkable
//! ([`Context::stack_walk`], for the debugger): from the saved `%fp`, every frame's
//! register save area holds its caller's stack pointer (`%i6`) and return address
//! (`%i7`), up to the zeros a new thread's first frame starts with.

use alloc::boxed::Box;
use core::arch::global_asm;
use core::cell::UnsafeCell;
use core::mem::offset_of;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use super::cpu::sparc64_cpu;
use super::frame::{flush_windows, MIN_FRAME, STACK_BIAS};
use super::ontrap::OnTrap;
use super::user::{self, UserCtx};
use crate::kmem::AllocError;
use crate::{ThreadEntry, UserFrame, WalkFrom};

/// Written at the bottom of every kernel stack and checked whenever the thread is
/// switched out: a kernel stack has no guard page (the kernel's memory is mapped by
/// 4 MiB entries), so this is how an overflow is caught before it spreads.
/// (One doubleword that one `sethi` makes: the check is cheap on every switch.)
const STACK_CANARY: u64 = 0x57ac_c000;

/// What a context's canary pointer names while it has no stack the switch could
/// check: a boot thread's before the kernel names it (`Context::boot` then points
/// at the boot stack's bottom), a context whose stack was given back. It holds
/// the canary for good, so that the switch reads a canary without asking whether
/// there is a stack.
static NO_STACK: u64 = STACK_CANARY;

global_asm!(
    r#"
    .section .text.resume, "ax"
    .align  32
    ! sparc64_resume(from: *mut Regs [%o0], to: *const Regs [%o1], thread [%o2]): a
    ! leaf called from `Context::switch`, in its caller's window (see the module
    ! comment). The pc kept is the caller's, past the call and its delay slot.
    .globl  sparc64_resume
    .type   sparc64_resume, #function
sparc64_resume:
    stx     %sp, [%o0 + {regs_sp}]
    stx     %fp, [%o0 + {regs_fp}]
    stx     %i7, [%o0 + {regs_i7}]
    add     %o7, 8, %o3
    stx     %o3, [%o0 + {regs_pc}]
    ldx     [%o1 + {regs_pc}], %o3
    ldx     [%o1 + {regs_sp}], %sp
    ldx     [%o1 + {regs_fp}], %fp
    ldx     [%o1 + {regs_i7}], %i7
    jmpl    %o3, %g0
     mov    %o2, %g7            ! curthread is the incoming thread from here (S7)
    .size   sparc64_resume, . - sparc64_resume

    ! The first instructions of every new thread (see `Context::reset`): the entry
    ! function and its argument from the register save area at %sp, which also
    ! holds the zero %fp and %i7 that end every backtrace.
    .globl  sparc64_thread_start
    .type   sparc64_thread_start, #function
sparc64_thread_start:
    ldx     [%sp + {bias}], %l0
    ldx     [%sp + {bias} + 8], %l1
    call    %l0
     mov    %l1, %o0
    illtrap 0                   ! entry never returns
    .size   sparc64_thread_start, . - sparc64_thread_start

    ! sparc64_current_frame(out): stores its caller's %sp and return address in
    ! out[0], out[1], every window of the caller and below flushed to its save area.
    .globl  sparc64_current_frame
    .type   sparc64_current_frame, #function
sparc64_current_frame:
    save    %sp, -{minframe}, %sp
    flushw
    stx     %fp, [%i0]
    stx     %i7, [%i0 + 8]
    ret
     restore
    .size   sparc64_current_frame, . - sparc64_current_frame
"#,
    minframe = const MIN_FRAME,
    bias = const STACK_BIAS,
    regs_sp = const offset_of!(Regs, sp),
    regs_fp = const offset_of!(Regs, fp),
    regs_i7 = const offset_of!(Regs, i7),
    regs_pc = const offset_of!(Regs, pc),
);

extern "C" {
    fn sparc64_current_frame(out: *mut [u64; 2]);
    fn sparc64_thread_start();
}

/// A kernel stack of `stack_size` bytes (at least 4 KiB), or `AllocError`.
fn stack_alloc(stack_size: usize) -> Result<Box<[u128]>, AllocError> {
    crate::kmem::try_zeroed_slice(stack_size.max(4 * 1024) / 16)
}

/// This function's own stack pointer and return address, its window and its
/// callers' flushed to their save areas (see `sparc64_current_frame`).
#[inline(never)]
fn current_frame() -> (u64, u64) {
    let mut out = [0u64; 2];
    // SAFETY: the routine flushes windows to their own frames and stores two
    // doublewords into `out`, which lives across the call.
    unsafe { sparc64_current_frame(&mut out) };
    (out[0], out[1])
}

/// The registers `resume` keeps (see the module comment). `fp` and `i7` first,
/// where the debugger's stack walk and the gdb helpers read them.
#[repr(C)]
#[derive(Clone, Copy)]
struct Regs {
    fp: u64,
    i7: u64,
    sp: u64,
    pc: u64,
}

/// A kernel thread's machine context: its stack and saved kernel registers, its
/// user side and its fault-recovery slot. `#[repr(C)]`: its registers first,
/// where `resume` keeps them, so that the context's address is theirs. The
/// per-CPU block names the running context ([`Context::running`]).
#[repr(C)]
pub struct Context {
    regs: UnsafeCell<Regs>,
    /// Its user side: the address space it runs in, its window buffer (`user`).
    user: UnsafeCell<UserCtx>,
    /// The kernel stack; `None` for a CPU's boot thread, which runs on the boot stack.
    stack: UnsafeCell<Option<Box<[u128]>>>,
    /// The bottom doubleword of the thread's kernel stack (its heap block, or the
    /// boot stack), which holds [`STACK_CANARY`] until the stack overflows into it;
    /// [`NO_STACK`] while there is none to check.
    canary: AtomicPtr<u64>,
    /// The thread's fault-recovery record while it is inside `ontrap::catch`, else
    /// null: it stays here across a switch, so the switch has nothing to do for it.
    pub(super) ontrap: AtomicPtr<OnTrap>,
    /// The kernel stack pointer for traps from user mode (`ArchCpu::ksp` while the
    /// thread runs): written by `user::sparc64_user_enter` into both, so the switch
    /// only loads the incoming thread's.
    user_ksp: AtomicU64,
    /// `%tick`s the thread has spent on a CPU until it was last switched out (its
    /// LWP's virtual time, `ta 0x25`).
    vtime: AtomicU64,
    /// The kernel stack's size in bytes, 0 without one: what [`Context::stack_bytes`]
    /// reads without touching `stack`, which only its owner may.
    stack_len: AtomicU64,
    /// Set while a CPU runs the thread: switching to a running context is refused.
    running: AtomicBool,
}

const _: () = assert!(offset_of!(Context, regs) == 0);
/// Offset of `user_ksp` (for `user::sparc64_user_enter`).
pub(super) const CONTEXT_USER_KSP: usize = offset_of!(Context, user_ksp);

/// The context the per-CPU block names until the kernel names the boot thread's
/// (`Context::boot`), so that it always names one and [`Context::running`] needs
/// no test: nothing is left in it, as the boot thread neither switches nor enters
/// user mode before, and a `catch` takes its record back out.
pub(super) static BEFORE_BOOT: Context = Context::BOOT;

// SAFETY: `regs` and `stack` are written only by the CPU that is switching the thread
// out (with interrupts off) or, for `reset`, while the thread is not running; the
// `running` flag, checked and set atomically in `switch`, keeps two CPUs from ever
// using one context at once.
unsafe impl Sync for Context {}
// SAFETY: nothing in a context is tied to the CPU that made it.
unsafe impl Send for Context {}

impl Context {
    /// A CPU's boot thread: already running (`running` set), on the boot stack (no
    /// stack of its own), no user side; its registers are saved when it first
    /// switches away. The kernel names it to the machine at boot (`boot`).
    // Interior mutability is the point: every use makes the fresh context of one boot thread.
    #[allow(clippy::declare_interior_mutable_const)]
    pub const BOOT: Context = Context {
        regs: UnsafeCell::new(Regs { fp: 0, i7: 0, sp: 0, pc: 0 }),
        ontrap: AtomicPtr::new(core::ptr::null_mut()),
        user_ksp: AtomicU64::new(0),
        running: AtomicBool::new(true),
        vtime: AtomicU64::new(0),
        user: UnsafeCell::new(UserCtx::NONE),
        stack: UnsafeCell::new(None),
        canary: AtomicPtr::new(&raw const NO_STACK as *mut u64),
        stack_len: AtomicU64::new(0),
    };

    /// Makes this context, a boot thread's ([`Context::BOOT`]), the running one
    /// (`Machine::context_boot`): the per-CPU block names it from now on, so that
    /// `user` and `ontrap` find the thread's own in it before its first switch too.
    /// The boot stack gets its canary, checked from now on as every stack's is.
    pub(super) fn boot(&self) {
        assert!(
            self.running.load(Ordering::Relaxed),
            "context_boot of a context that is not running"
        );
        let bottom = super::boot_stack().0 as *mut u64;
        // SAFETY: the boot stack's bottom doubleword, in the kernel's own memory;
        // the boot thread runs far above it now (were it in use, the stack would
        // have overflowed already).
        unsafe { bottom.write(STACK_CANARY) };
        self.canary.store(bottom, Ordering::Relaxed);
        sparc64_cpu.context.store(self as *const Context as *mut Context, Ordering::Relaxed);
    }

    /// The running thread's context: the one the per-CPU block names.
    #[inline(always)]
    pub(super) fn running() -> &'static Context {
        // SAFETY: the block always names a live context: `BEFORE_BOOT`, then the
        // boot thread's, then the one each switch brings in, which lives as long as
        // its thread (contexts are never freed while in use).
        unsafe { &*sparc64_cpu.context.load(Ordering::Relaxed) }
    }

    /// Overwrites the canary at the bottom of the running thread's stack, as an
    /// overflow into it would (the self-test probe `probe::smash_canary`); false if
    /// the thread has no stack the switch checks.
    pub(super) fn smash_running_canary() -> bool {
        let canary = Context::running().canary.load(Ordering::Relaxed);
        if core::ptr::eq(canary, &raw const NO_STACK) {
            return false;
        }
        // SAFETY: a canary pointer other than `NO_STACK` names the bottom doubleword
        // of the running thread's own stack, which it holds while it runs; nothing
        // else references that word (the switch reads it by pointer).
        unsafe { canary.write_volatile(!STACK_CANARY) };
        true
    }

    /// Its user side (`user`): only its own thread, or the switch, touches it.
    #[inline(always)]
    pub(super) fn user(&self) -> &UnsafeCell<UserCtx> {
        &self.user
    }

    /// A context with a stack of `stack_size` bytes that starts `entry(arg)`;
    /// `AllocError` if the heap has no room for the stack.
    pub fn new(stack_size: usize, entry: ThreadEntry, arg: usize) -> Result<Context, AllocError> {
        let ctx = Context {
            regs: UnsafeCell::new(Regs { fp: 0, i7: 0, sp: 0, pc: 0 }),
            ontrap: AtomicPtr::new(core::ptr::null_mut()),
            user_ksp: AtomicU64::new(0),
            running: AtomicBool::new(false),
            vtime: AtomicU64::new(0),
            user: UnsafeCell::new(UserCtx::NONE),
            stack: UnsafeCell::new(Some(stack_alloc(stack_size)?)),
            canary: AtomicPtr::new(&raw const NO_STACK as *mut u64),
            stack_len: AtomicU64::new(0),
        };
        ctx.reset(stack_size, entry, arg)?;
        Ok(ctx)
    }

    /// Puts `frame` in the thread's user frame slot and returns what was there: the
    /// LWP's registers go out with its `lwp` structure, or come back (see
    /// `Machine::user_frame_detach`). The thread does not run, and no switch can
    /// bring it in meanwhile (one CPU, interrupts off).
    pub(crate) fn user_frame_exchange(&self, frame: UserFrame) -> UserFrame {
        let was = super::intr_disable();
        assert!(!self.running.load(Ordering::SeqCst), "the user frame of a running thread");
        // SAFETY: the thread does not run, so nothing of it uses its user side; the
        // frame slot changes in one atomic step, so a reference to it on the
        // thread's stack (a trap's) stays valid and finds the new registers.
        let old = unsafe { &*self.user.get() }.exchange_frame(frame);
        super::intr_restore(was);
        old
    }

    /// Prepares the stack so that the next switch to this context starts `entry(arg)`,
    /// making a stack of `stack_size` bytes first if `release_stack` took it.
    pub fn reset(
        &self,
        stack_size: usize,
        entry: ThreadEntry,
        arg: usize,
    ) -> Result<(), AllocError> {
        assert!(!self.running.load(Ordering::SeqCst), "context_reset of a running thread");
        // SAFETY: the context is not running (checked above) and not being switched
        // to (the caller owns the thread being recycled), so nothing else reads or
        // writes its stack or registers now. The save area written is the top
        // 16 doublewords of that stack (at least 4 KiB long, 16-byte aligned).
        unsafe {
            let slot = &mut *self.stack.get();
            if slot.is_none() {
                *slot = Some(stack_alloc(stack_size)?);
            }
            let stack = slot.as_mut().expect("the stack was just made");
            self.stack_len.store(core::mem::size_of_val(&stack[..]) as u64, Ordering::Relaxed);
            let bottom = stack.as_mut_ptr().cast::<u64>();
            bottom.write(STACK_CANARY);
            self.canary.store(bottom, Ordering::Relaxed);
            let top = stack.as_mut_ptr_range().end as u64;
            let frame = top - MIN_FRAME as u64; // 16-byte aligned: u128 elements
            let save = frame as *mut u64;
            // What `sparc64_thread_start` loads: entry, its argument; and %i6 =
            // %i7 = 0 in the slots a spill of its window fills the same way, the
            // end of every backtrace. The others start as they find themselves:
            // nothing reads them.
            save.add(0).write(entry as *const () as u64);
            save.add(1).write(arg as u64);
            save.add(14).write(0);
            save.add(15).write(0);
            *self.regs.get() = Regs {
                fp: 0,
                i7: 0,
                sp: frame - STACK_BIAS,
                pc: sparc64_thread_start as *const () as u64,
            };
            // A thread that ended in user mode left it (`user::exit`); start clean anyway.
            *self.user.get() = UserCtx::NONE;
        }
        self.ontrap.store(core::ptr::null_mut(), Ordering::SeqCst);
        self.vtime.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// Frees the stack of a context whose thread has ended; whether it had one.
    pub fn release_stack(&self) -> bool {
        assert!(!self.running.load(Ordering::SeqCst), "release_stack of a running thread");
        self.stack_len.store(0, Ordering::Relaxed);
        self.canary.store(&raw const NO_STACK as *mut u64, Ordering::Relaxed);
        // SAFETY: as in `reset`: the context is not running and its owner is the
        // caller, so nothing uses the stack.
        unsafe { (*self.stack.get()).take().is_some() }
    }

    /// The bytes of its kernel stack on the heap (0: none, or the boot stack).
    pub fn stack_bytes(&self) -> usize {
        self.stack_len.load(Ordering::Relaxed) as usize
    }

    /// Walks this thread's kernel stack (`Machine::stack_walk`): the pc where the
    /// walk begins, then the return address of every frame, into `out`; returns
    /// how many. `Saved` walks a switched-out thread from the pc, `%fp` and `%i7`
    /// its last switch kept; `Here` and `Trap` walk the running thread (this context must
    /// be its own) from the caller's frame or from a trapped one. Each frame is read
    /// from its register save area after a `flushw`, and only inside the thread's
    /// own stack (its heap block, or the boot stack for a boot thread): a walk
    /// stops at the first frame pointer that leaves it, at a zero return address
    /// (the first frame of every thread), or when `out` is full.
    pub fn stack_walk(&self, from: WalkFrom, out: &mut [usize]) -> usize {
        // One CPU (sun4u under QEMU): with interrupts off nothing else runs, so no
        // switch, reset or reap can change this context or its stack meanwhile.
        let was = super::intr_disable();
        let n = self.walk(from, out);
        super::intr_restore(was);
        n
    }

    fn walk(&self, from: WalkFrom, out: &mut [usize]) -> usize {
        // SAFETY: interrupts are off on the one CPU (see `stack_walk`): nothing writes
        // the stack slot or the saved registers while they are read; only the bounds
        // of the stack are taken from the slot.
        let (lo, hi) = match unsafe { &*self.stack.get() } {
            Some(stack) => {
                let r = stack.as_ptr_range();
                (r.start as u64, r.end as u64)
            }
            None => super::boot_stack(),
        };
        let mut n = 0;
        let (pc, mut sp) = match from {
            WalkFrom::Saved => {
                if self.running.load(Ordering::Relaxed) {
                    return 0;
                }
                // SAFETY: as above; the context is not running, so these are the
                // registers its last switch stored.
                let r = unsafe { *self.regs.get() };
                // The switching function's own window was never spilled: its
                // frame is the pc it comes back to, its caller the %i7 and %fp
                // the switch kept.
                if let Some(first) = out.first_mut().filter(|_| r.pc != 0) {
                    *first = r.pc as usize;
                    n = 1;
                }
                (r.i7, r.fp)
            }
            WalkFrom::Here => {
                let (fp, i7) = current_frame();
                (i7, fp)
            }
            WalkFrom::Trap { pc, sp } => {
                flush_windows();
                (pc as u64, sp as u64)
            }
        };
        if pc == 0 || n == out.len() {
            return n;
        }
        out[n] = pc as usize;
        n += 1;
        while n < out.len() {
            let save = sp.wrapping_add(STACK_BIAS);
            if sp == 0 || !save.is_multiple_of(8) || save < lo || save + 16 * 8 > hi {
                break;
            }
            // SAFETY: the 16 doublewords of this register save area lie inside the
            // thread's own kernel stack (checked just above), mapped kernel memory
            // that `flushw` (at the switch, or just now) has written.
            let (caller_sp, ret) = unsafe {
                let area = save as *const u64;
                (area.add(14).read_volatile(), area.add(15).read_volatile())
            };
            if ret == 0 {
                break;
            }
            out[n] = ret as usize;
            n += 1;
            // A caller's frame is above its callee's: anything else is not a frame.
            if caller_sp <= sp {
                break;
            }
            sp = caller_sp;
        }
        n
    }

    /// `resume()`: see the module comment. Interrupts must be off. Inlined into the
    /// dispatcher: every frame between it and the trap is one more window to spill
    /// at the `flushw` and to fill on the way back, and the dispatcher's own is
    /// neither.
    #[inline(always)]
    pub fn switch(from: &Context, to: &Context, to_thread: usize) {
        // SAFETY: `canary` names a live doubleword: the bottom of `from`'s stack,
        // which it holds while it runs, or `NO_STACK`; it is read, not referenced.
        let bottom = unsafe { from.canary.load(Ordering::Relaxed).read() };
        assert!(bottom == STACK_CANARY, "kernel stack overflow in the thread switching out");
        // One CPU, interrupts off: nothing else can look at these between the reads
        // and the writes, so plain loads and stores do (no atomic read-modify-write).
        if to.running.load(Ordering::Relaxed) {
            panic!("switch to a thread that is running");
        }
        to.running.store(true, Ordering::Relaxed);
        // The outgoing thread's user windows still in the file go to its own user
        // stack (or its window buffer) now, while its address space is in force:
        // after this the MMU and the buffer are the incoming thread's. (Its kernel
        // windows go too, all but this one, which `resume` does not spill.)
        // SAFETY: flushw only stores windows into their own frames via the spill
        // handlers: user windows through the as-if-user ASI, kernel windows to the
        // kernel stack.
        unsafe { core::arch::asm!("flushw", options(nostack)) };
        // Where traps from user mode build their frames is the thread's own.
        sparc64_cpu.ksp.store(to.user_ksp.load(Ordering::Relaxed), Ordering::Relaxed);
        sparc64_cpu.thread.store(to_thread as u64, Ordering::Relaxed);
        // The outgoing thread's time on this CPU ends, the incoming one's begins
        // (see `ArchCpu::vbase`).
        let (now, vbase) = (super::clock::tick_raw(), &sparc64_cpu.vbase);
        from.vtime.store(now.wrapping_add(vbase.load(Ordering::Relaxed)), Ordering::Relaxed);
        vbase.store(to.vtime.load(Ordering::Relaxed).wrapping_sub(now), Ordering::Relaxed);
        sparc64_cpu.context.store(to as *const Context as *mut Context, Ordering::Relaxed);
        user::switch_in(&from.user, &to.user);
        // `from` stops running once its registers are saved; on one CPU nothing can
        // look at the flag in between (interrupts are off).
        from.running.store(false, Ordering::Relaxed);
        // SAFETY: `from` is the running thread's own context and `to` a context saved by
        // an earlier switch or prepared by `reset`, whose stack it owns and keeps alive;
        // `to.running` was false, so no CPU is running it. `to_thread` is the
        // `&'static` thread that owns `to` (see `Machine::switch`). `resume` (see the
        // module comment) comes back here, in this thread, only once another switch
        // brings it in, with the %sp, %fp and %i7 it leaves with; every register the
        // compiler may keep a value in (the windowed ones but those three, the
        // globals it allocates, the condition codes) is named clobbered, so nothing
        // of this function lives in a register across it. The floating-point
        // registers are the running LWP's (the kernel uses none), so none is live.
        unsafe {
            core::arch::asm!(
                "call    sparc64_resume",
                " nop",
                inout("o0") from.regs.get() => _,
                inout("o1") to.regs.get() => _,
                inout("o2") to_thread => _,
                out("o3") _, out("o4") _, out("o5") _, out("o7") _,
                out("g2") _, out("g3") _, out("g4") _, out("g5") _,
                out("l0") _, out("l1") _, out("l2") _, out("l3") _,
                out("l4") _, out("l5") _, out("l6") _, out("l7") _,
                out("i0") _, out("i1") _, out("i2") _, out("i3") _, out("i4") _, out("i5") _,
            );
        }
    }
}
