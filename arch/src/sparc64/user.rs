//! User mode: entering it with an LWP's registers, every trap that leaves it, and
//! the window buffer (S3, S5.1, S13, S17).
//!
//! # Theory
//!
//! **The registers live in the LWP's frame** ([`UserFrame`], in its `lwp`
//! structure: S5.1). The thread that runs the LWP has the frame attached to its
//! context, and the per-CPU block names the running thread's frame: every trap from
//! user mode saves the user's registers straight into it, and every return to user
//! mode loads them from it (`trap`'s `sparc64_utrap`, `sparc64_syscall_trap`,
//! `sparc64_user_rtt`). Nothing is copied in between. The one exception is a
//! `fast` system call that finds no work pending on its way back: only its
//! globals go into the frame, the rest stays in the trap's register window from
//! the trap to the `done` — on the kernel stack while a handler that switched
//! has the LWP off the CPU. The frame is made whole when work is pending, or
//! when the return cannot fill the user's window (see below).
//!
//! **Entering user mode** is returning from a trap that never happened: the
//! thread's kernel windows go to its stack, its kernel stack pointer is kept for
//! traps from user mode, and the return path loads the frame and `retry`s.
//!
//! **Leaving it**: the trap code builds a kernel frame on the thread's kernel stack
//! (`sparc64_cpu.ksp`), keeps the user's windows in the register file as "other"
//! windows (spilled, if ever, to the user's stack by the kernel), marks the free
//! windows clean (so the kernel takes no clean-window traps), saves the user's
//! `%g7` and loads the kernel's current thread (S7). A system call whose table
//! entry is `fast` is called right there, its results written back, and the return
//! path runs at once; any other system call goes to the kernel's `user_trap`
//! through [`sparc64_user_syscall`], by a tail call, so that the kernel's frame is
//! the first above the trap's; every other trap comes to [`sparc64_user_trap`],
//! which handles what is the machine's (the clock, `ta 3`) and hands the rest to
//! the kernel's `user_trap`.
//!
//! **On the way back**, with interrupts off, the return path tests the thread's
//! pending-work word, and only if it is not zero calls [`sparc64_user_pending`]:
//! the window buffer is written out (the machine's own bit), the kernel acts on
//! its bits (`UserTrap::Return`), and the test is made again.
//!
//! **The window buffer**: a user window that must be spilled while the user's
//! stack cannot take it (unmapped, read-only, misaligned: a fault at TL>1) is not
//! lost: the fault vector stores it in the LWP's [`WindowBuffer`] (part of its
//! frame, kernel memory, which never faults), sets the machine's pending bit, and
//! lets the spill complete. If the spill was the user's own, user mode is left at
//! once as if the `save` had trapped. The return to user mode writes the buffer out
//! to the user's stack first; a window that still cannot be written is the LWP's
//! fault (SIGSEGV, or SIGBUS for a misaligned stack pointer).
//!
//! **A window that cannot be filled**: the return to user mode restores the user's
//! window, from the user's stack if it is no longer in the register file. Nothing
//! checks that stack beforehand: if the fill faults (at TL=2, whatever the stack
//! pointer is — unmapped, misaligned, without the stack bias, in the kernel's
//! window), the fault vector turns it into a trap from user mode at the user's own
//! registers (`sparc64_user_refault`, as illumos' `user_rtt` does "by simulating a
//! page fault"; `sparc64_syscall_refault` after a fast system call, which makes
//! the frame whole first), and the LWP gets its signal. A fill of the user's own `restore`
//! that faults is a trap from user mode anyway.

use crate::kmem::Shared;
use core::arch::{asm, global_asm};
use core::cell::UnsafeCell;
use core::mem::{offset_of, size_of, MaybeUninit};
use core::sync::atomic::{AtomicU64, Ordering};

use super::context::Context;
use super::cpu::{sparc64_cpu, ArchCpu};
use super::fpu::{self, FpuState};
use super::frame::{tt, TrapInfo, MIN_FRAME, STACK_BIAS};
use super::vm::{self, AddrSpace};
use crate::uregs::FrameData;
use crate::{
    reg, Fault, FaultKind, FpRegs, PendingWork, UserFrame, UserRegs, UserTrap, UserWindow,
    UserWindows,
};

/// Windows a buffer holds: every user window the file can hold (8 windows, less
/// the kernel's current one).
pub const WBUF_WINDOWS: usize = 7;
/// Words of a buffered window: its stack pointer and its sixteen locals and ins.
const WBUF_WORDS: usize = 17;

/// The pending-work bit the fault vector sets when it buffers a window.
pub(super) const PENDING_WBUF: u32 = 0x1_0000;
const _: () = assert!(PENDING_WBUF & PendingWork::MACHINE == PENDING_WBUF);

/// User windows that could not be spilled to the user's stack (Solaris' `pcb_wbuf`),
/// per LWP. `trap`'s fault vector fills it: the count, then per window its stack
/// pointer and its sixteen locals and ins. The windows below `count` are the ones
/// written; the others are never read, and never cleared (a new LWP's buffer is
/// not 952 bytes of zeros to write).
#[repr(C)]
pub struct WindowBuffer {
    count: u64,
    windows: [MaybeUninit<[u64; WBUF_WORDS]>; WBUF_WINDOWS],
}

impl WindowBuffer {
    /// Offsets and sizes the fault vector uses.
    pub(super) const COUNT: usize = offset_of!(WindowBuffer, count);
    pub(super) const WINDOWS: usize = offset_of!(WindowBuffer, windows);
    pub(super) const SLOT: usize = size_of::<MaybeUninit<[u64; WBUF_WORDS]>>();
}

/// What the machine keeps in an LWP's frame besides its registers: the window
/// buffer and the FP state (Solaris keeps `pcb_wbuf` and the FPU's in the LWP's
/// machine-dependent part too).
#[repr(C)]
pub struct MachFrame {
    wbuf: UnsafeCell<WindowBuffer>,
    fpu: UnsafeCell<FpuState>,
}

// SAFETY: the buffer is touched only by the fault vector and the return path of the
// thread that runs the LWP, on its own CPU with interrupts off, and by `exit` of
// that same thread: never by two CPUs or two threads at once. The FP state, by the
// thread that runs the LWP (with interrupts off), by the switch that takes it off
// or puts it on the CPU, and, while it does not run, by whoever holds its `lwp`
// structure (the swapper, or the kernel on its behalf): one at a time.
unsafe impl Sync for MachFrame {}
// SAFETY: nothing in it is tied to a CPU.
unsafe impl Send for MachFrame {}

impl MachFrame {
    /// Makes the uninitialised `at` an empty machine part: only the buffer's count
    /// is written (its windows are never read before written).
    ///
    /// # Safety
    ///
    /// `at` is valid for writes and nothing reads it meanwhile.
    pub(crate) unsafe fn init(at: *mut MachFrame) {
        // SAFETY: the caller's promise; only raw pointers are made to the
        // uninitialised block, and after this write it is a valid `MachFrame`: the
        // count is its only field that is not `MaybeUninit`.
        unsafe {
            let wbuf = UnsafeCell::raw_get(&raw const (*at).wbuf);
            (&raw mut (*wbuf).count).write(0);
            UnsafeCell::raw_get(&raw const (*at).fpu).write(FpuState::UNUSED);
        }
    }

    /// Windows the buffer holds.
    pub(crate) const WINDOWS: usize = WBUF_WINDOWS;

    /// Takes the buffered windows out (`UserFrame::take_windows`), the buffer left
    /// empty. For the running LWP, after its user windows were flushed.
    pub(crate) fn take_windows(&self) -> UserWindows {
        let mut out = UserWindows::default();
        // SAFETY: the running LWP's own buffer, which only its thread reaches: the
        // fault vector adds to it only at a failed spill of one of its user
        // windows, and the caller flushed them all, so none is left to spill.
        let wbuf = unsafe { &mut *self.wbuf.get() };
        let n = (wbuf.count as usize).min(WBUF_WINDOWS);
        for (slot, w) in wbuf.windows[..n].iter().zip(&mut out.windows) {
            // SAFETY: the windows below the count were written whole.
            let words = unsafe { slot.assume_init_ref() };
            *w = UserWindow { sp: words[0], regs: core::array::from_fn(|i| words[i + 1]) };
        }
        out.count = n;
        wbuf.count = 0;
        out
    }

    /// Whether windows are buffered. For the running LWP, after its user windows
    /// were flushed.
    pub(crate) fn windows_buffered(&self) -> bool {
        // SAFETY: as in `take_windows`; a read of the count alone.
        unsafe { (*self.wbuf.get()).count != 0 }
    }

    /// Makes `windows` the buffered ones (`UserFrame::set_windows`), and has the
    /// return path write them out. For the running LWP, after its user windows
    /// were flushed.
    pub(crate) fn set_windows(&self, windows: &[UserWindow]) {
        // SAFETY: as in `take_windows`.
        let wbuf = unsafe { &mut *self.wbuf.get() };
        let n = windows.len().min(WBUF_WINDOWS);
        for (slot, w) in wbuf.windows.iter_mut().zip(&windows[..n]) {
            slot.write(core::array::from_fn(|i| if i == 0 { w.sp } else { w.regs[i - 1] }));
        }
        wbuf.count = n as u64;
        if n > 0 {
            pending().set(PENDING_WBUF);
        }
    }

    /// Empties the machine part for a new LWP: no buffered window, the FPU unused.
    pub(crate) fn reset(&mut self) {
        self.wbuf.get_mut().count = 0;
        self.fpu.get_mut().en = 0;
    }

    /// The most bytes [`MachFrame::save`] writes: the count and every window, a
    /// word for the FPU, its state.
    pub(crate) const IMAGE_MAX: usize =
        8 + WBUF_WINDOWS * WBUF_WORDS * 8 + 8 + FpuState::IMAGE_WORDS * 8;

    /// Writes the machine part's image into `out`: the window buffer's count, then
    /// each buffered window's stack pointer and sixteen registers; then 1 and the
    /// FP state if the LWP uses the FPU, else 0; as big-endian words. Returns its
    /// length.
    pub(crate) fn save(&mut self, out: &mut [u8]) -> usize {
        let wbuf = self.wbuf.get_mut();
        let n = (wbuf.count as usize).min(WBUF_WINDOWS);
        // SAFETY: the windows below the count were written whole by the fault vector.
        let windows = wbuf.windows[..n].iter().map(|w| unsafe { w.assume_init_ref() });
        let fpu = self.fpu.get_mut();
        let used = fpu.en != 0;
        let fp = core::iter::once(u64::from(used)).chain(fpu.words().take(if used {
            FpuState::IMAGE_WORDS
        } else {
            0
        }));
        let words = core::iter::once(n as u64).chain(windows.flatten().copied()).chain(fp);
        let mut len = 0;
        for (w, chunk) in words.zip(out.chunks_exact_mut(8)) {
            chunk.copy_from_slice(&w.to_be_bytes());
            len += 8;
        }
        len
    }

    /// Makes the window buffer what `image` (from [`MachFrame::save`]) says; false if
    /// it cannot be one (a count beyond the buffer, or windows missing).
    pub(crate) fn restore(&mut self, image: &[u8]) -> bool {
        let mut words =
            image.chunks_exact(8).map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()));
        let Some(n) = words.next().map(|n| n as usize) else { return false };
        let fp_at = 8 + n * WBUF_WORDS * 8;
        if n > WBUF_WINDOWS || image.len() < fp_at + 8 {
            return false;
        }
        let wbuf = self.wbuf.get_mut();
        for slot in &mut wbuf.windows[..n] {
            slot.write(core::array::from_fn(|_| words.next().unwrap_or(0)));
        }
        wbuf.count = n as u64;
        let fpu = self.fpu.get_mut();
        match (words.next(), image.len() - fp_at) {
            (Some(0), 8) => fpu.en = 0,
            (Some(1), len) if len == 8 + FpuState::IMAGE_WORDS * 8 => {
                *fpu = FpuState::from_words(words);
            }
            _ => return false,
        }
        true
    }

    /// The LWP's FP registers, if it uses the FPU; `running`: it is the running
    /// LWP, whose registers are in the FPU.
    pub(crate) fn fpregs(&self, running: impl FnOnce() -> bool) -> Option<FpRegs> {
        // SAFETY: a read of the word only the LWP itself, or the holder of its
        // structure (the caller), changes.
        if unsafe { (*self.fpu.get()).en } == 0 {
            return None; // (the common case: no interrupts turned off for it)
        }
        let running = running();
        self.with_fpu(running, |f| {
            if running {
                fpu::sync_out(f);
            }
            (f.en != 0).then(|| f.regs())
        })
    }

    /// Makes `r` the LWP's FP registers (in the FPU too if `running`).
    pub(crate) fn set_fpregs(&self, r: &FpRegs, running: impl FnOnce() -> bool) {
        let running = running();
        self.with_fpu(running, |f| {
            f.set_regs(r);
            if running {
                fpu::sync_in(f);
                fpu::live(Some(f));
            }
        })
    }

    /// `f` on the FP state, with interrupts off if the LWP is the running one (a
    /// switch would save the FPU into it meanwhile).
    fn with_fpu<R>(&self, running: bool, f: impl FnOnce(&mut FpuState) -> R) -> R {
        let was = running && super::intr_disable();
        // SAFETY: see `MachFrame`: the running thread for its own LWP (interrupts
        // off, no switch can come), or the holder of a non-running LWP's structure;
        // the reference does not outlive the closure.
        let r = f(unsafe { &mut *self.fpu.get() });
        if running {
            super::intr_restore(was);
        }
        r
    }

    /// Makes this machine part's window buffer a copy of `from`'s (see
    /// `UserFrame::inherit_windows`).
    pub(crate) fn inherit_windows(&self, from: &MachFrame) {
        // SAFETY: see `MachFrame`: `self` is a new LWP's, which nothing else touches
        // yet; `from` is the running thread's own (only its own spills change it,
        // and it has flushed its user windows) or a held LWP's, which does not run.
        let (to, from) = unsafe { (&mut *self.wbuf.get(), &*from.wbuf.get()) };
        let n = (from.count as usize).min(WBUF_WINDOWS);
        to.windows[..n].copy_from_slice(&from.windows[..n]);
        to.count = n as u64;
    }

    /// Whether `d` is the frame of the LWP running on this CPU.
    pub(crate) fn is_running(d: &FrameData) -> bool {
        sparc64_cpu.frame.load(Ordering::Relaxed) == d as *const FrameData as u64
    }
}

/// The FP state in the frame at `addr` (a frame's block, 0 for none).
///
/// # Safety
///
/// A non-zero `addr` is the frame block of the thread running or being switched,
/// alive for the reference's use, which nothing else touches meanwhile (a switch,
/// interrupts off).
unsafe fn fpu_at<'a>(addr: u64) -> Option<&'a FpuState> {
    // SAFETY: the caller's promise.
    (addr != 0).then(|| unsafe { &*(*(addr as *const FrameData)).mach.fpu.get() })
}

/// Offset of the FP state's `en` in a frame (for the return path).
pub(super) const FRAME_FPU_EN: usize =
    offset_of!(FrameData, mach) + offset_of!(MachFrame, fpu) + fpu::FPU_EN;

/// Offset of the window buffer in a frame (for the fault vector).
pub(super) const FRAME_WBUF: usize = offset_of!(FrameData, mach) + offset_of!(MachFrame, wbuf);

/// What a thread has of user mode: its address space and its frame (empty before
/// its LWP enters user mode, and while its `lwp` structure is swapped out).
pub(super) struct UserCtx {
    space: Option<Shared<AddrSpace>>,
    frame: UserFrame,
}

impl UserCtx {
    #[allow(clippy::declare_interior_mutable_const)] // a fresh one per context
    pub(super) const NONE: UserCtx = UserCtx { space: None, frame: UserFrame::empty() };

    /// Puts `frame` in the thread's frame slot and returns what was there (see
    /// `Context::user_frame_exchange`).
    pub(super) fn exchange_frame(&self, frame: UserFrame) -> UserFrame {
        self.frame.exchange(frame)
    }
}

/// The address of `frame`'s block, as the trap code wants it (0: none).
#[inline(always)]
fn frame_addr(frame: &UserFrame) -> u64 {
    frame.addr()
}

/// Makes the per-CPU block describe `user`, the user side of the thread being
/// switched in, and puts its context in the MMU (unless it is the address space of
/// `from`, the thread switching out: another LWP of the same process). Interrupts
/// are off.
#[inline(always)]
pub(super) fn switch_in(from: &UnsafeCell<UserCtx>, user: &UnsafeCell<UserCtx>) {
    // SAFETY: both threads are being switched on this CPU with interrupts off: only
    // this CPU touches their user sides now (see `Context`).
    let (f, u) = unsafe { (&*from.get(), &*user.get()) };
    let to = frame_addr(&u.frame);
    // SAFETY: `to` is the incoming thread's frame: the switch, with interrupts
    // off, is the only code touching it.
    fpu::switch(unsafe { fpu_at(to) });
    sparc64_cpu.frame.store(to, Ordering::Relaxed);
    // The outgoing thread holds its space, so one in the same block is the same
    // one, already in the MMU: the running thread's space is the one in force
    // (`activate` at every switch in, `attach`, `exec`, `exit`), and a thread
    // without one leaves none (`pgd` 0) after one without either.
    if !Shared::opt_ptr_eq(&f.space, &u.space) {
        activate(u.space.as_deref());
    }
}

/// Makes `space` (or none) the one the MMU-miss vectors and `copyin` use.
#[inline(always)]
fn activate(space: Option<&AddrSpace>) {
    sparc64_cpu.pgd.store(space.map_or(0, AddrSpace::root), Ordering::Relaxed);
    // A thread without a space leaves the context register alone (switched lazily):
    // with no table to walk and `copy_user` refusing, nothing reaches it.
    if let Some(s) = space {
        if sparc64_cpu.ctx.load(Ordering::Relaxed) != u64::from(s.ctx()) {
            vm::set_primary_context(s.ctx());
            sparc64_cpu.ctx.store(u64::from(s.ctx()), Ordering::Relaxed);
        }
    }
}

/// The running thread's user side.
fn current() -> &'static mut UserCtx {
    // SAFETY: only the running thread touches its own user side, with interrupts
    // off or from its own code, and never through two references at once.
    unsafe { &mut *Context::running().user().get() }
}

/// The running thread's address space, if it has one: only the thread itself
/// changes it (`exec`, `exit`).
pub(super) fn current_space() -> Option<&'static AddrSpace> {
    current().space.as_deref()
}

/// The running thread's frame: it is in user mode or has just left it.
fn current_frame() -> &'static UserFrame {
    let frame = &current().frame;
    assert!(!frame.is_empty(), "a trap from user mode in a thread with no user frame");
    frame
}

/// The FP state of `frame`, the running thread's.
#[allow(clippy::mut_from_ref)] // the state is the running thread's, not the frame's
fn fpu_of(frame: &UserFrame) -> &mut FpuState {
    // SAFETY: see `MachFrame`: the running thread's own state, touched here by that
    // thread only (interrupts off), never through two references at once.
    unsafe { &mut *frame.data().mach.fpu.get() }
}

/// The window buffer of `frame`, the running thread's (or one it is taking on).
/// Callers hold the reference only while no other Rust code touches the buffer.
#[allow(clippy::mut_from_ref)] // the buffer is the running thread's, not the frame's
fn wbuf_of(frame: &UserFrame) -> &mut WindowBuffer {
    // SAFETY: see `MachFrame`: the running thread's own buffer, touched here by that
    // thread only, never through two references at once.
    unsafe { &mut *frame.data().mach.wbuf.get() }
}

/// The running thread's pending-work word.
fn pending() -> &'static PendingWork {
    // SAFETY: `%g7` holds the `&'static` of the kernel's thread type, whose first
    // field is its pending-work word (the contract of `ThreadRegister`).
    unsafe { &*(super::curthread_raw() as *const PendingWork) }
}

global_asm!(
    r#"
    .section .text.user, "ax"
    .align  32
    ! sparc64_user_enter(frame): enter user mode by returning from a trap that never
    ! happened: the return path loads the registers from `frame` (the running
    ! thread's, per CPU). The kernel's windows in the file are dropped, not spilled:
    ! nothing returns to the frames of this call chain (its callers never return),
    ! a trap from user mode builds its frames anew below this one, and a walk of
    ! the kernel stack up from there ends at the trap's window, whose caller is the
    ! user's stack. (Whoever needs its frames again, `sparc64_user_run`, flushes
    ! them itself.) What the dropped windows hold is cleaned before the user can
    ! see it, as the return path cleans every window beyond the user's own.
    .globl  sparc64_user_enter
    .type   sparc64_user_enter, #function
sparc64_user_enter:
    save    %sp, -{minframe}, %sp
    wrpr    %g0, 0, %canrestore         ! no kernel window stays: the user's is filled
    wrpr    %g0, 6, %cansave            ! (NWINDOWS - 2: all but this one and the trap's)
    sethi   %hi(sparc64_cpu), %l6
    or      %l6, %lo(sparc64_cpu), %l6
    stx     %sp, [%l6 + {cpu_ksp}]      ! traps from user mode build frames below here,
    ldx     [%l6 + {cpu_context}], %l5  !  the running thread's from now on
    stx     %sp, [%l5 + {context_user_ksp}]
    wrpr    %g0, 0, %otherwin           ! no user window is in the file yet
    sethi   %hi(sparc64_user_rtt), %l0  ! (another section: no pc-relative branch)
    or      %l0, %lo(sparc64_user_rtt), %l0
    jmpl    %l0, %g0
     mov    %i0, %l7
    .size   sparc64_user_enter, . - sparc64_user_enter

    ! sparc64_user_landing(run): called by the trap handler, at TL=0 in the kernel
    ! with interrupts off, to end a `run`. Every window in the file (the user's and
    ! the trap handler's) is abandoned; return from sparc64_user_run's call as
    ! `resume` enters a thread: the fill comes from the kernel stack.
    .globl  sparc64_user_landing
sparc64_user_landing:
    wrpr    %g0, 0, %otherwin
    wrpr    %g0, 0, %canrestore
    wrpr    %g0, 6, %cansave
    wrpr    %g0, 7, %cleanwin
    wrpr    %g0, 0, %wstate
    ldx     [%o0 + {run_fp}], %fp
    ldx     [%o0 + {run_i7}], %i7
    ret
     restore

    ! sparc64_user_run(frame, run): records the caller's frame in `run` for the
    ! landing, then enters user mode with `frame`. The caller's windows go to the
    ! kernel stack first: the landing returns to the caller, filling its window
    ! from there (sparc64_user_enter drops what is in the file).
    .globl  sparc64_user_run
sparc64_user_run:
    save    %sp, -{minframe}, %sp
    flushw
    stx     %fp, [%i1 + {run_fp}]
    stx     %i7, [%i1 + {run_i7}]
    call    sparc64_user_enter
     mov    %i0, %o0

    ! sparc64_flush_user_windows(): writes the user's windows still in the file
    ! (the "other" windows, which a trap from user mode leaves there) to their
    ! stack, or to the window buffer, and no other window: empty frames are saved
    ! until no user window is left, each save past the free windows spilling the
    ! oldest window, a user one; then as many restores, which fill nothing. The
    ! kernel's windows stay in the file: `flushw` would spill them too, and every
    ! return through them would fill them again. (%g1 counts the saves: the empty
    ! frames' registers are scratch, and a trap in between keeps the globals.)
    .globl  sparc64_flush_user_windows
    .type   sparc64_flush_user_windows, #function
sparc64_flush_user_windows:
    rdpr    %otherwin, %o5
    brz,pt  %o5, 3f
     clr    %g1
1:  save    %sp, -{minframe}, %sp
    rdpr    %otherwin, %o5
    brnz,pt %o5, 1b
     add    %g1, 1, %g1
2:  subcc   %g1, 1, %g1
    bnz,pt  %xcc, 2b
     restore
3:  retl
     nop
    .size   sparc64_flush_user_windows, . - sparc64_flush_user_windows
"#,
    minframe = const MIN_FRAME,
    cpu_ksp = const offset_of!(ArchCpu, ksp),
    cpu_context = const offset_of!(ArchCpu, context),
    context_user_ksp = const super::context::CONTEXT_USER_KSP,
    run_fp = const offset_of!(UserRun, fp),
    run_i7 = const offset_of!(UserRun, i7),
);

extern "C" {
    fn sparc64_user_enter(frame: *const FrameData) -> !;
    fn sparc64_user_landing(run: *mut UserRun) -> !;
    fn sparc64_user_run(frame: *const FrameData, run: *mut UserRun);
    fn sparc64_flush_user_windows();
}

/// Writes the running thread's user windows still in the register file to their
/// stack, or to the window buffer where the stack cannot take them
/// (`Machine::user_flush_windows`, `ta 3`); the kernel's windows stay in the file.
pub(super) fn flush_user_windows() {
    // SAFETY: the saves and restores balance, the empty frames are never written
    // but by a spill, below the kernel's stack pointer as any frame, and the user
    // windows go out through their own spill handler, as with `flushw`.
    unsafe { sparc64_flush_user_windows() }
}

/// Makes the running thread run in `space` with `frame`: the windows its buffer
/// holds (a `fork` child's, `MachFrame::inherit_windows`) are written out on the
/// way to user mode. Interrupts are off.
fn attach(space: Shared<AddrSpace>, frame: UserFrame) {
    let u = current();
    // Switches keep these; the boot thread may enter user mode before its first.
    sparc64_cpu.thread.store(super::curthread_raw() as u64, Ordering::Relaxed);
    sparc64_cpu.frame.store(frame_addr(&frame), Ordering::Relaxed);
    fpu::live(Some(fpu_of(&frame)));
    activate(Some(&space));
    if wbuf_of(&frame).count != 0 {
        pending().set(PENDING_WBUF);
    }
    u.space = Some(space);
    drop(u.frame.exchange(frame));
}

/// Enters user mode in `space` with the registers in `frame` (see the module comment).
pub fn enter(space: Shared<AddrSpace>, frame: UserFrame) -> ! {
    super::intr_disable();
    let at = frame.data() as *const FrameData;
    attach(space, frame);
    // SAFETY: the frame is attached to this thread (above) and lives as long as the
    // attachment; the space its registers run in is installed for this thread.
    unsafe { sparc64_user_enter(at) }
}

/// Drops the running thread's user windows: those still in the register file and
/// those in its window buffer (their stack may be gone, or be another image's).
/// Interrupts are off.
fn drop_user_windows(u: &UserCtx) {
    // SAFETY: the user windows are the "other" windows; giving them back to CANSAVE
    // drops them without a spill.
    unsafe {
        asm!(
            "rdpr %otherwin, {o}",
            "rdpr %cansave, {c}",
            "add {c}, {o}, {c}",
            "wrpr {c}, 0, %cansave",
            "wrpr %g0, 0, %otherwin",
            o = out(reg) _, c = out(reg) _, options(nostack)
        )
    };
    if !u.frame.is_empty() {
        wbuf_of(&u.frame).count = 0;
    }
    pending().take(PENDING_WBUF);
}

/// `Machine::user_exec`: the old image's windows and FP state dropped, `space`
/// made the running thread's (the old space dropped after, interrupts on).
pub fn exec(space: Shared<AddrSpace>) {
    let was = super::intr_disable();
    let u = current();
    drop_user_windows(u);
    if !u.frame.is_empty() {
        fpu_of(&u.frame).en = 0;
    }
    fpu::live(None);
    let old = u.space.replace(space);
    activate(u.space.as_deref());
    super::intr_restore(was);
    drop(old);
}

/// The running thread leaves user mode for good: its user windows still in the
/// register file and its window buffer are dropped, and so are its holds on the
/// space and the frame.
pub fn exit() {
    let was = super::intr_disable();
    let u = current();
    drop_user_windows(u);
    activate(None);
    sparc64_cpu.frame.store(0, Ordering::Relaxed);
    fpu::live(None);
    let space = u.space.take();
    let frame = u.frame.exchange(UserFrame::empty());
    super::intr_restore(was);
    drop((space, frame));
}

/// The fault a trap from user mode is, by trap type; `winfault` is the fault inside
/// a window spill or fill (see `ArchCpu::winfault`).
fn fault_of(tt: u64, frame: &UserFrame) -> Fault {
    let (kind, addr) = match tt {
        tt::FAST_INSTRUCTION_ACCESS_MMU_MISS => (FaultKind::Unmapped, frame.pc()),
        0x008 => (FaultKind::Protection, frame.pc()),
        tt::FAST_DATA_ACCESS_MMU_MISS => (FaultKind::Unmapped, tag_access() & !0x1fff),
        tt::FAST_DATA_ACCESS_PROTECTION => {
            (FaultKind::Protection, sparc64_cpu.dprot_va.load(Ordering::Relaxed))
        }
        tt::DATA_ACCESS_EXCEPTION => (FaultKind::Protection, sfar()),
        tt::MEM_ADDRESS_NOT_ALIGNED | 0x035 | 0x036 => (FaultKind::Misaligned, sfar()),
        tt::ILLEGAL_INSTRUCTION => (FaultKind::IllegalInstruction, frame.pc()),
        tt::PRIVILEGED_OPCODE | 0x037 => (FaultKind::PrivilegedInstruction, frame.pc()),
        tt::DIVISION_BY_ZERO | tt::SOFT_DIV0 => (FaultKind::DivisionByZero, frame.pc()),
        tt::SOFT_BREAKPOINT => (FaultKind::Breakpoint, frame.pc()),
        tt::FP_EXCEPTION_IEEE_754 => (FaultKind::Float(fpu::exception()), frame.pc()),
        // An FP operation the hardware does not finish (`ftt` unfinished or
        // unimplemented FPop): no emulation here, so it is an illegal instruction.
        tt::FP_EXCEPTION_OTHER => {
            let _ = fpu::exception();
            (FaultKind::IllegalInstruction, frame.pc())
        }
        tt::FILL_USER | tt::FILL_USER_OTHER => {
            let sp = frame.sp().wrapping_add(STACK_BIAS);
            match sparc64_cpu.winfault.load(Ordering::Relaxed) {
                tt::MEM_ADDRESS_NOT_ALIGNED => (FaultKind::Misaligned, sp),
                _ => (FaultKind::BadStack, sp),
            }
        }
        other => (FaultKind::Other(other as u16), frame.pc()),
    };
    Fault { kind, addr }
}

/// The D-MMU tag access register: the page (and context) of the last data miss.
fn tag_access() -> u64 {
    let t: u64;
    // SAFETY: reading the tag access register has no side effect.
    unsafe {
        asm!("ldxa [{va}] 0x58, {t}", va = in(reg) 0x30u64, t = out(reg) t, options(nostack))
    };
    t
}

/// The D-MMU synchronous fault address register.
fn sfar() -> u64 {
    let t: u64;
    // SAFETY: reading the fault address register has no side effect.
    unsafe {
        asm!("ldxa [{va}] 0x58, {t}", va = in(reg) 0x20u64, t = out(reg) t, options(nostack))
    };
    t
}

/// Every trap from user mode but a system call (see the module comment and
/// `sparc64_user_syscall`),
/// called by the trap code with interrupts off, on the thread's kernel stack, the
/// registers in the thread's frame. The return path to user mode follows.
#[no_mangle]
extern "C" fn sparc64_user_trap(tt: u64) {
    let frame = current_frame();
    // A store to a copy-on-write page is the machine's own to resolve: the store
    // is made again.
    if tt == tt::FAST_DATA_ACCESS_PROTECTION
        && current_space()
            .is_some_and(|s| vm::resolve_cow(s, sparc64_cpu.dprot_va.load(Ordering::Relaxed), 1))
    {
        return;
    }
    match tt {
        tt::INTERRUPT_LEVEL_14 => super::clock::intr(true),
        tt::INTERRUPT_VECTOR => super::virtio::vector(),
        _ if sparc64_cpu.run.load(Ordering::Relaxed) != 0 => land(tt, frame),
        _ => {}
    }
    let why = match tt {
        // The interrupts were the machine's; a window that went to the buffer is
        // written out on the way back.
        tt::INTERRUPT_LEVEL_14 | tt::INTERRUPT_VECTOR | tt::SPILL_USER | tt::SPILL_USER_OTHER => {
            return
        }
        tt::SOFT_FLUSH_WINDOWS => {
            // The user's windows are the "other" windows now: they go to its stack
            // (or the buffer, written out on the way back), and the `ta` is done.
            flush_user_windows();
            let npc = frame.get(reg::NPC);
            frame.set(reg::PC, npc);
            frame.set(reg::NPC, npc.wrapping_add(4));
            return;
        }
        tt::FP_DISABLED => {
            // The LWP's first FP instruction (or one with %fprs.FEF off): the
            // instruction is made again with the FPU on.
            fpu::enable(fpu_of(frame));
            return;
        }
        _ => UserTrap::Fault(fault_of(tt, frame)),
    };
    upcall(frame, why);
}

/// A system call that is not `fast`, from `sparc64_syscall_trap` with interrupts on
/// and the frame made whole: the kernel's `user_trap`, called last, as a tail call,
/// so that it runs in this function's register window: one window fewer to spill
/// and fill between the trap and a call that blocks (a park, a wait).
#[no_mangle]
extern "C" fn sparc64_user_syscall() {
    let frame = current_frame();
    if sparc64_cpu.run.load(Ordering::Relaxed) != 0 {
        super::intr_disable();
        land(tt::SYSCALL, frame);
    }
    let up = super::UPCALLS.get().expect("a system call before the kernel's upcalls");
    (up.user_trap)(frame, &UserTrap::Syscall)
}

/// The return path found the thread's pending-work word set (interrupts off): the
/// window buffer goes out first (the window the return fills may be in it), then
/// the kernel does its part. The return path tests the word again afterwards.
#[no_mangle]
extern "C" fn sparc64_user_pending() {
    let frame = current_frame();
    let work = pending();
    let in_run = sparc64_cpu.run.load(Ordering::Relaxed) != 0;
    // Looked at before it is taken (an atomic loop): set later, it is seen by the
    // return path's next test.
    if work.get() & PENDING_WBUF != 0 && work.take(PENDING_WBUF) != 0 {
        if let Err(fault) = flush_wbuf() {
            // Still buffered: the next return tries again, should the LWP live on.
            work.set(PENDING_WBUF);
            if in_run {
                land(tt::SPILL_USER, frame);
            }
            upcall(frame, UserTrap::Fault(fault));
        }
    }
    // Inside a `run` there is no kernel behind the user code to do its part.
    if work.get() & !PendingWork::MACHINE != 0 && !in_run {
        upcall(frame, UserTrap::Return);
    }
}

/// Calls the kernel's `user_trap` with the LWP's frame, with interrupts on.
#[inline(always)]
fn upcall(frame: &UserFrame, why: UserTrap) {
    let Some(up) = super::UPCALLS.get() else { return };
    super::intr_restore(true);
    (up.user_trap)(frame, &why);
    super::intr_disable();
}

/// Buffered windows that could not be written to their user stack (each one a
/// fault of the LWP): the self-tests check that an unusable stack went this way.
pub static WBUF_UNWRITABLE: AtomicU64 = AtomicU64::new(0);

/// Writes the running thread's buffered windows to the user stack; the fault of the
/// first window that cannot be written (a misaligned stack pointer, or one whose
/// window is not writable by the user).
fn flush_wbuf() -> Result<(), Fault> {
    let frame = current_frame();
    loop {
        // Taken afresh at each window: the copy below may add windows to it.
        let wbuf = wbuf_of(frame);
        if wbuf.count == 0 {
            return Ok(());
        }
        // Taken out before the copy, which may itself spill more user windows into
        // the buffer (its `catch` makes a frame); put back if it cannot be written.
        wbuf.count -= 1;
        // SAFETY: every window below the count was written whole by the fault
        // vector (or put back below), before the count was raised over it.
        let w = unsafe { wbuf.windows[wbuf.count as usize].assume_init() };
        let at = w[0].wrapping_add(STACK_BIAS);
        let mut bytes = [0u8; 128];
        for (b, r) in bytes.chunks_exact_mut(8).zip(&w[1..]) {
            b.copy_from_slice(&r.to_be_bytes());
        }
        let written = if !at.is_multiple_of(8) {
            Err(Fault { kind: FaultKind::Misaligned, addr: at })
        } else {
            vm::copy_user(at, bytes.as_mut_ptr(), bytes.len(), true, current_space)
                .map_err(|_| Fault { kind: FaultKind::BadStack, addr: at })
        };
        if let Err(fault) = written {
            WBUF_UNWRITABLE.fetch_add(1, Ordering::Relaxed);
            let wbuf = wbuf_of(frame);
            if (wbuf.count as usize) < WBUF_WINDOWS {
                wbuf.windows[wbuf.count as usize] = MaybeUninit::new(w);
                wbuf.count += 1;
            }
            return Err(fault);
        }
    }
}

/// A run of user code for the machine's own tests: where to land, what ended it.
#[repr(C)]
struct UserRun {
    fp: u64,
    i7: u64,
    exit: UserExit,
}

/// How a [`run`] of user code ended.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct UserExit {
    /// The trap that ended it: its type, the user's `pc`/`npc`, and the `%ccr` and
    /// `%asi` the trap saved (in `tstate`'s bits 39..24).
    pub trap: TrapInfo,
    /// The user's registers at the trap (`%g7`: the user's own).
    pub regs: UserRegs,
    /// `%g7` as the kernel's trap handler saw it: the current kernel thread.
    pub kernel_g7: u64,
    /// For an MMU miss: the page of the address that had no translation.
    pub fault_va: u64,
}

/// Runs user code of `space` from `pc` with stack top `stack_top` until its first
/// trap other than an interrupt, and returns that trap: the machine's user mode
/// tested without a kernel behind it.
pub fn run(space: Shared<AddrSpace>, pc: u64, stack_top: u64) -> UserExit {
    let was = super::intr_disable();
    let mut r = UserRun { fp: 0, i7: 0, exit: UserExit::default() };
    let frame = UserFrame::new(&UserRegs::for_entry(pc, stack_top, 0));
    let at = frame.data() as *const FrameData;
    attach(space, frame);
    sparc64_cpu.run.store(&mut r as *mut UserRun as u64, Ordering::SeqCst);
    // SAFETY: `r` lives until the landing returns here, and the frame as long as it
    // is attached (until `exit` below); entering flushes this thread's windows to
    // its kernel stack first, and the landing returns into this frame like `resume`
    // does.
    unsafe { sparc64_user_run(at, &mut r) };
    sparc64_cpu.run.store(0, Ordering::SeqCst);
    exit();
    super::intr_restore(was);
    r.exit
}

/// Ends the [`run`] in progress with trap `tt`, its registers in `frame`.
fn land(tt: u64, frame: &UserFrame) -> ! {
    let r = sparc64_cpu.run.load(Ordering::SeqCst);
    // SAFETY: a nonzero `run` is the live UserRun of `run` on this CPU, whose
    // frame is above this trap's frame on the same kernel stack.
    let r = unsafe { &mut *(r as *mut UserRun) };
    let d = frame.data();
    r.exit = UserExit {
        trap: TrapInfo {
            tt,
            tpc: frame.pc(),
            tnpc: frame.get(crate::reg::NPC),
            tstate: d.tstate.load(Ordering::Relaxed),
        },
        regs: frame.load(),
        kernel_g7: super::curthread_raw() as u64,
        fault_va: match tt {
            tt::FAST_DATA_ACCESS_MMU_MISS => tag_access() & !0x1fff,
            _ => 0,
        },
    };
    // SAFETY: `r` is the live run whose `fp`/`i7` were recorded on this very
    // thread's kernel stack, above this trap's frame; everything below is abandoned.
    unsafe { sparc64_user_landing(r) }
}
