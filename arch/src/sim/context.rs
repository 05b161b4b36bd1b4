//! Kernel stacks and the stack switch: a [`Context`] owns a kernel thread's stack and
//! the stack pointer saved while the thread is not running; [`switch`] is the
//! simulation's `resume()`, a real x86_64 stack switch.
//!
//! A switched-out thread's registers live on its own stack, in the frame that
//! `arch_sim_switch` pushes: the callee-saved registers of the SysV ABI (rbx, rbp,
//! r12–r15) and the control bits of MXCSR and the x87 control word, under the return
//! address. Everything else is caller-saved, so the compiler has already saved what
//! it needs before calling the switch.
//!
//! A context also carries its thread's user state (`user::UserState`: its address
//! space and saved user registers), which goes wherever the thread goes. Whether the
//! thread was in user mode needs no saving: a switch is only ever made in the kernel,
//! and a thread interrupted in user code finds that out from its interrupt's frame
//! (`intr::run_pending`) when it is switched back in, as SPARC finds it in `%tstate`.

use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::host_alloc;
use super::percpu::Cpu;
use super::user::UserState;
use crate::kmem::AllocError;
use crate::{ThreadEntry, UserFrame};

/// Host code needs far more stack than SPARC kernel code: unoptimised builds, the
/// signal frame with the whole AVX-512 state, panic formatting. A kernel stack is
/// therefore never smaller than this; its pages are only touched as they are used.
const MIN_STACK: usize = 256 * 1024;
/// The inaccessible page under each stack, so that an overflow faults at once
/// instead of overwriting whatever lies below.
const GUARD: usize = 4096;

/// The words of the frame `arch_sim_switch` saves, from the saved stack pointer up:
/// MXCSR and the x87 control word, r15, r14, r13, r12, rbx, rbp, return address.
const FRAME_WORDS: usize = 8;
/// MXCSR (low half) and x87 control word (at byte 4) as a thread starts: the ABI's
/// initial values, all exceptions masked, round to nearest.
const FP_CONTROL_DEFAULT: usize = 0x1F80 | (0x037F << 32);

extern "C" {
    /// Saves the frame, stores rsp in `*save_sp`, loads `load_sp`, then clears
    /// `*running` (once off the old stack: from then on another CPU may resume it),
    /// and returns into the frame found there.
    fn arch_sim_switch(save_sp: *mut usize, load_sp: usize, running: *mut bool);
    /// Saves the frame, stores rsp in `*save_sp` and calls `f(arg)`; "returns" only
    /// when someone passes that stack pointer to `arch_sim_jump`.
    fn arch_sim_enter(save_sp: *mut usize, f: extern "C" fn(usize), arg: usize);
    /// Returns into the frame saved at `sp`, abandoning the current stack.
    fn arch_sim_jump(sp: usize) -> !;
    /// Where a new context's first switch returns to: calls `thread_start(r12, r13)`.
    fn arch_sim_trampoline();
}

core::arch::global_asm!(
    ".pushsection .text.arch_sim,\"ax\",@progbits",
    ".p2align 4",
    ".globl arch_sim_switch",
    ".hidden arch_sim_switch",
    ".type arch_sim_switch,@function",
    "arch_sim_switch:",
    "push rbp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "sub rsp, 8",
    "stmxcsr dword ptr [rsp]",
    "fnstcw word ptr [rsp + 4]",
    "mov qword ptr [rdi], rsp",
    "mov rsp, rsi",
    // Only now, off the old stack, may another CPU take it (a signal arriving
    // before this would have pushed its frame onto a stack no longer ours).
    "mov byte ptr [rdx], 0",
    ".Larch_sim_restore:",
    "ldmxcsr dword ptr [rsp]",
    "fldcw word ptr [rsp + 4]",
    "add rsp, 8",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    ".size arch_sim_switch, . - arch_sim_switch",
    "",
    ".p2align 4",
    ".globl arch_sim_jump",
    ".hidden arch_sim_jump",
    ".type arch_sim_jump,@function",
    "arch_sim_jump:",
    "mov rsp, rdi",
    "jmp .Larch_sim_restore",
    ".size arch_sim_jump, . - arch_sim_jump",
    "",
    ".p2align 4",
    ".globl arch_sim_enter",
    ".hidden arch_sim_enter",
    ".type arch_sim_enter,@function",
    "arch_sim_enter:",
    // Call-frame information, so that backtraces from a CPU's boot thread reach the
    // host frames above it.
    ".cfi_startproc",
    "push rbp",
    ".cfi_def_cfa_offset 16",
    ".cfi_offset rbp, -16",
    "push rbx",
    ".cfi_def_cfa_offset 24",
    ".cfi_offset rbx, -24",
    "push r12",
    ".cfi_def_cfa_offset 32",
    ".cfi_offset r12, -32",
    "push r13",
    ".cfi_def_cfa_offset 40",
    ".cfi_offset r13, -40",
    "push r14",
    ".cfi_def_cfa_offset 48",
    ".cfi_offset r14, -48",
    "push r15",
    ".cfi_def_cfa_offset 56",
    ".cfi_offset r15, -56",
    "sub rsp, 8",
    ".cfi_def_cfa_offset 64",
    "stmxcsr dword ptr [rsp]",
    "fnstcw word ptr [rsp + 4]",
    "mov qword ptr [rdi], rsp",
    "mov rdi, rdx",
    // rsp is 16-byte aligned here (entry 8 mod 16, plus 56), as the call needs.
    "call rsi",
    // `f` never returns: it leaves through arch_sim_jump.
    "ud2",
    ".cfi_endproc",
    ".size arch_sim_enter, . - arch_sim_enter",
    "",
    ".p2align 4",
    ".globl arch_sim_trampoline",
    ".hidden arch_sim_trampoline",
    ".type arch_sim_trampoline,@function",
    "arch_sim_trampoline:",
    // The outermost frame of a kernel thread: tell unwinders to stop here.
    ".cfi_startproc",
    ".cfi_undefined rip",
    "mov rdi, r12",
    "mov rsi, r13",
    // rsp is 16-byte aligned here: `arm` placed the frame so.
    "call {start}",
    "ud2",
    ".cfi_endproc",
    ".size arch_sim_trampoline, . - arch_sim_trampoline",
    ".popsection",
    start = sym thread_start,
);

/// A kernel stack: an anonymous mapping whose lowest page is the guard. It counts
/// its nominal size against the simulated kernel heap (`host_alloc`), as a stack
/// from the heap does on sparc64.
struct Stack {
    base: NonNull<u8>,
    len: usize,
    charged: usize,
}

// SAFETY: a Stack is only an address range; the memory is used by whichever thread
// runs on it, and the Context's running flag keeps that to one at a time.
unsafe impl Send for Stack {}
// SAFETY: as above; `&Stack` only gives out the range's bounds.
unsafe impl Sync for Stack {}

impl Stack {
    /// A stack of (nominally) `size` bytes, charged to the simulated kernel heap
    /// if `charge`; `AllocError` when the heap has not that much left or the host
    /// refuses the mapping.
    fn map(size: usize, charge: bool) -> Result<Stack, AllocError> {
        let charged = if charge { size } else { 0 };
        if charge && host_alloc::refuse_injected() {
            return Err(AllocError);
        }
        let charged_ok =
            host_alloc::charge(charged) || crate::kmem::reclaim() && host_alloc::charge(charged);
        if !charged_ok {
            return Err(AllocError);
        }
        let size = size.max(MIN_STACK).next_multiple_of(GUARD);
        let len = size + GUARD;
        // SAFETY: a fresh private anonymous mapping aliases nothing.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            host_alloc::uncharge(charged);
            return Err(AllocError);
        }
        // SAFETY: the first page of the mapping just made, which nothing uses yet.
        let r = unsafe { libc::mprotect(p, GUARD, libc::PROT_NONE) };
        assert_eq!(r, 0, "sim: cannot protect a kernel stack's guard page");
        Ok(Stack { base: NonNull::new(p.cast()).expect("mmap returned null"), len, charged })
    }

    fn top(&self) -> usize {
        self.base.as_ptr() as usize + self.len
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours, and Context::drop only drops a stack that no
        // thread runs on.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
        host_alloc::uncharge(self.charged);
    }
}

/// A kernel thread's machine context: its stack and, while it is not running, the
/// stack pointer at which its saved registers are. `#[repr(C)]`, its user state
/// first: `user` finds the running thread's at the address the CPU keeps of its
/// context (`Cpu::cur_ctx`).
#[repr(C)]
pub struct Context {
    /// The thread's user state.
    pub(super) user: UserState,
    sp: AtomicUsize,
    /// Whether a CPU runs the thread (or is about to). Switching to a running
    /// context would run one stack on two CPUs, so it panics instead.
    running: AtomicBool,
    /// None for a boot context, which runs on its CPU's host thread stack, and for
    /// a context whose stack was given back (`release_stack`). Changed only while
    /// the context is claimed (its `running` flag set by the one changing it).
    stack: UnsafeCell<Option<Stack>>,
    /// What the stack counts against the simulated kernel heap, 0 without one:
    /// readable at any time (`Machine::context_stack_bytes`), unlike `stack`.
    stack_bytes: AtomicUsize,
}

const _: () = assert!(core::mem::offset_of!(Context, user) == 0);

// SAFETY: the stack cell is changed only by whoever has claimed the context (its
// `running` flag, taken with a compare-and-swap), and read only by the one running
// or claiming it; everything else in a context is atomic or has its own lock.
unsafe impl Sync for Context {}

impl Context {
    /// The boot thread's context: already running, on the host thread's stack.
    // A const, not a static, on purpose: each use (each CPU's boot thread) is a fresh
    // context with its own flag and saved stack pointer.
    #[allow(clippy::declare_interior_mutable_const)]
    pub(super) const BOOT: Context = Context {
        sp: AtomicUsize::new(0),
        running: AtomicBool::new(true),
        stack: UnsafeCell::new(None),
        stack_bytes: AtomicUsize::new(0),
        user: UserState::NONE,
    };

    pub(super) fn new(
        stack_size: usize,
        entry: ThreadEntry,
        arg: usize,
    ) -> Result<Context, AllocError> {
        let stack = Stack::map(stack_size, true)?;
        let ctx = Context {
            sp: AtomicUsize::new(0),
            running: AtomicBool::new(false),
            stack_bytes: AtomicUsize::new(stack.charged),
            stack: UnsafeCell::new(Some(stack)),
            user: UserState::NONE,
        };
        ctx.arm(entry, arg);
        Ok(ctx)
    }

    /// A context for the machine's own use (a seeded CPU's host stack), not the
    /// kernel heap's.
    pub(super) fn machine_own(stack_size: usize, entry: ThreadEntry, arg: usize) -> Context {
        let stack = Stack::map(stack_size, false).expect("sim: cannot map a CPU's stack");
        let ctx = Context {
            sp: AtomicUsize::new(0),
            running: AtomicBool::new(false),
            stack: UnsafeCell::new(Some(stack)),
            stack_bytes: AtomicUsize::new(0),
            user: UserState::NONE,
        };
        ctx.arm(entry, arg);
        ctx
    }

    pub(super) fn reset(
        &self,
        stack_size: usize,
        entry: ThreadEntry,
        arg: usize,
    ) -> Result<(), AllocError> {
        self.claim("context_reset");
        // SAFETY: the context is claimed (above): nothing else reads or changes its
        // stack until it is released below.
        let stack = unsafe { &mut *self.stack.get() };
        let made = match stack {
            Some(_) => Ok(()),
            None => Stack::map(stack_size, true).map(|s| {
                self.stack_bytes.store(s.charged, Ordering::Relaxed);
                *stack = Some(s)
            }),
        };
        if made.is_ok() {
            self.arm(entry, arg);
            self.user.clear();
        }
        self.running.store(false, Ordering::Release);
        made
    }

    /// Unmaps the stack of a context whose thread has ended (see `Machine`);
    /// whether it had one.
    pub(super) fn release_stack(&self) -> bool {
        self.claim("context_release_stack");
        // SAFETY: claimed, as in `reset`; no thread runs on the stack (it was idle).
        let stack = unsafe { (*self.stack.get()).take() };
        self.stack_bytes.store(0, Ordering::Relaxed);
        // What its thread left of user mode goes too.
        self.user.clear();
        self.running.store(false, Ordering::Release);
        stack.is_some()
    }

    /// Puts `frame` in the thread's user frame slot and returns what was there (see
    /// `Machine::user_frame_detach`): the context is claimed meanwhile, so that a
    /// switch to it panics rather than running the thread half-changed.
    pub(super) fn user_frame_exchange(&self, frame: UserFrame) -> UserFrame {
        self.claim("user_frame_exchange");
        let old = self.user.exchange_frame(frame);
        self.running.store(false, Ordering::Release);
        old
    }

    /// Claims an idle context for a change, so that a concurrent switch to it panics
    /// rather than running a half-written frame.
    fn claim(&self, what: &str) {
        if self.running.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err()
        {
            panic!("sim: {what} of a running context");
        }
    }

    /// What its stack counts against the simulated kernel heap (0: none).
    pub(super) fn stack_bytes(&self) -> usize {
        self.stack_bytes.load(Ordering::Relaxed)
    }

    /// The stack, if the context has one.
    fn stack(&self) -> Option<&Stack> {
        // SAFETY: the stack changes only while the context is claimed by the one
        // changing it, who reads it through no other path meanwhile; a switch reads
        // it only through a context it has claimed itself.
        unsafe { (*self.stack.get()).as_ref() }
    }

    /// Lays out the initial frame so that the first switch here "returns" into the
    /// trampoline with `entry` in r12 and `arg` in r13. The context must be idle.
    fn arm(&self, entry: ThreadEntry, arg: usize) {
        let stack = self.stack().expect("sim: a boot context has no stack to start a thread on");
        // The trampoline starts with rsp = `top` (16-byte aligned) and calls
        // thread_start from there, as the ABI wants.
        let top = stack.top() & !15;
        let sp = top - FRAME_WORDS * 8;
        let frame: [usize; FRAME_WORDS] = [
            FP_CONTROL_DEFAULT,
            0,                                         // r15
            0,                                         // r14
            arg,                                       // r13
            entry as usize,                            // r12
            0,                                         // rbx
            0,                                         // rbp: frame-pointer walks end here
            arch_sim_trampoline as *const () as usize, // return address
        ];
        // SAFETY: [sp, top) lies inside the mapping, above its guard page, and no
        // thread runs on the stack: it is new, or `reset` has claimed it.
        unsafe { core::ptr::copy_nonoverlapping(frame.as_ptr(), sp as *mut usize, FRAME_WORDS) };
        self.sp.store(sp, Ordering::Release);
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // A context still marked running is abandoned mid-run (the machine halted
        // under it, or a CPU runs it still): its stack is leaked, not unmapped.
        if *self.running.get_mut() {
            if let Some(stack) = self.stack.get_mut().take() {
                core::mem::forget(stack);
            }
        }
    }
}

impl core::fmt::Debug for Context {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Context")
            .field("running", &self.running.load(Ordering::Relaxed))
            .field("stack_top", &self.stack().map(Stack::top))
            .finish()
    }
}

/// `resume()`: saves the running thread in `from`, makes `to_thread` current and
/// continues the thread saved in `to`.
pub(super) fn switch(cpu: Cpu, from: &Context, to: &Context, to_thread: usize) {
    assert!(!cpu.intr_enabled(), "sim: switch with interrupts enabled");
    assert!(!cpu.user_mode(), "sim: switch in user mode");
    let here = cpu.cur_ctx();
    assert!(
        from.running.load(Ordering::Relaxed)
            && (here == 0 || here == from as *const Context as usize),
        "sim: switch from a context that is not the one running on this CPU"
    );
    // Acquire pairs with the switch that saved `to`: its stack pointer and frame are
    // written before its running flag was cleared.
    if to.running.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
        panic!("sim: switch to a running context");
    }
    let to_sp = to.sp.load(Ordering::Relaxed);
    // Interrupts are disabled: this thread cannot migrate before the switch, so
    // these are this CPU's registers.
    cpu.set_cur_ctx(to as *const Context as usize);
    cpu.set_curthread(to_thread);
    // SAFETY: `to` was idle (now claimed by us) with a frame saved by a switch or laid
    // out by `arm` at `to_sp`; `from` is the running context, so the stack we save
    // is its own; both flags and slots outlive the call (borrowed for it).
    unsafe { arch_sim_switch(from.sp.as_ptr(), to_sp, from.running.as_ptr()) };
}

/// The stack pointer at which a context that has not run yet waits: its initial
/// frame, which [`coroutine_switch`] or [`jump`] enters. For the CPUs of the seeded
/// mode, whose host stacks are contexts that never go through [`switch`].
pub(super) fn initial_sp(ctx: &Context) -> usize {
    assert!(ctx.stack().is_some(), "sim: a boot context has no initial frame");
    ctx.sp.load(Ordering::Acquire)
}

/// The seeded mode's switch between two simulated CPUs on one host thread: saves the
/// running stack's frame, storing its stack pointer in `save_sp`, and continues the
/// stack suspended at `load_sp` (by an earlier `coroutine_switch`, or an initial frame).
/// Returns when some later `coroutine_switch` or [`jump`] continues the saved one.
pub(super) fn coroutine_switch(save_sp: &AtomicUsize, load_sp: usize, scratch: &AtomicBool) {
    // SAFETY: `load_sp` is a frame saved by arch_sim_switch on a stack that nothing runs
    // now (a suspended CPU, the caller guarantees), or an initial frame laid out by
    // `arm`; the save slot and the scratch flag (which the switch clears, standing in
    // for a context's running flag) outlive the call.
    unsafe { arch_sim_switch(save_sp.as_ptr(), load_sp, scratch.as_ptr()) };
}

/// Runs `f(arg)` on the calling host stack, below a frame saved in `exit_sp`;
/// returns once [`jump`] is called with that frame.
pub(super) fn enter(exit_sp: &AtomicUsize, f: extern "C" fn(usize), arg: usize) {
    // SAFETY: the frame is saved on this host stack, above everything `f` uses, and
    // stays intact until jumped to; `f` only leaves through `jump`.
    unsafe { arch_sim_enter(exit_sp.as_ptr(), f, arg) };
}

/// Returns into the frame [`enter`] saved at `sp`, abandoning the current stack with
/// all its frames, as a halting machine abandons whatever it was running.
pub(super) fn jump(sp: usize) -> ! {
    // SAFETY: `sp` is the exit frame of this CPU's `enter`, still live below the host
    // thread's own frames; nothing on the abandoned stack holds a host lock (the
    // caller is outside any `Cpu::critical`).
    unsafe { arch_sim_jump(sp) }
}

/// A new thread's first Rust frame, on its own stack, entered from the trampoline
/// with interrupts disabled (as every switch is made). They stay disabled: the
/// [`ThreadEntry`] contract is that the entry first finishes the switch that brought
/// the thread in and then enables them itself, as on sparc64. (Enabling them here
/// would let a pending clock interrupt in before the switch is finished: a test
/// kernel whose switches hold a lock that the incoming thread releases deadlocked
/// on it now and then.)
extern "C" fn thread_start(entry: usize, arg: usize) -> ! {
    // SAFETY: `arm` put exactly a `ThreadEntry` in r12, which the trampoline passes here.
    let entry = unsafe { core::mem::transmute::<usize, ThreadEntry>(entry) };
    let _ = Cpu::expect("a kernel thread");
    // A panic must not unwind into the trampoline, which has nowhere to go.
    match catch_unwind(AssertUnwindSafe(|| entry(arg))) {
        Ok(()) => unreachable!(),
        Err(payload) => super::fail(Cpu::expect("a kernel thread"), payload),
    }
}
