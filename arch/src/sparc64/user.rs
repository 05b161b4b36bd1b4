//! User mode: entering it with an LWP's registers, every trap that leaves it, the
//! window buffer, and the per-CPU block the trap code reads (S3, S5.1, S13, S17).
//!
//! # Theory
//!
//! **Entering user mode** is returning from a trap that never happened: the LWP's
//! registers (Solaris' `gregset_t`) become a trap frame on its kernel stack, and
//! the trap-return code (`rtrap`, see `trap`) restores them and `retry`s into user
//! mode. The first user window is filled from the user's stack like any other.
//!
//! **Leaving it**: every trap from user mode enters through `etrap`, which builds its
//! frame on the thread's kernel stack (`sparc64_cpu.ksp`), keeps the user's windows
//! in the register file as "other" windows (spilled, if ever, to the user's stack
//! by the kernel), saves the user's `%g7` and loads the kernel's current thread
//! (S7). [`trap`] then handles what is the machine's (the clock), turns the trap into
//! a [`UserTrap`] and calls the kernel's `user_trap` with the registers, which it
//! writes back into the frame for the return.
//!
//! **The window buffer**: a user window that must be spilled while the user's stack
//! cannot take it (unmapped, read-only, misaligned) is not lost: the fault vector
//! at TL>1 stores it in the running thread's [`WindowBuffer`] (kernel memory, which
//! never faults) and lets the spill complete. If the spill was the user's own, user
//! mode is left at once as if the `save` had trapped. Before any return to user mode
//! the buffer is written out to the user's stack; a window that still cannot be
//! written, or a stack the return cannot fill its window from, is a `BadStack`
//! fault of the LWP (SIGSEGV), never the kernel's.

use alloc::sync::Arc;
use core::arch::{asm, global_asm};
use core::cell::UnsafeCell;
use core::mem::{offset_of, size_of};
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use super::context::Context;
use super::trap::{tt, TrapFrame, TrapInfo, MIN_FRAME, STACK_BIAS};
use super::vm::{self, AddrSpace};
use crate::{reg, Fault, FaultKind, UserRegs, UserTrap};

/// The per-CPU block the trap code reads (one CPU here; offsets in `trap`).
#[repr(C)]
pub struct ArchCpu {
    /// The kernel stack pointer (biased) below which traps from user mode build
    /// their frames: where the thread left its kernel stack when it entered user mode.
    pub(super) ksp: AtomicU64,
    /// The kernel's current thread, for `%g7` on trap entry from user mode.
    pub(super) thread: AtomicU64,
    /// The running thread's page table (its space's root), 0 if it has none: what
    /// the MMU-miss vectors walk.
    pub(super) pgd: AtomicU64,
    /// The running thread's window buffer.
    pub(super) wbuf: AtomicU64,
    /// The context number in the primary context register.
    pub(super) ctx: AtomicU64,
    /// The running thread's machine context.
    pub(super) cur: AtomicPtr<Context>,
    /// The [`run`] in progress on this CPU, if any.
    run: AtomicPtr<UserRun>,
}

#[no_mangle]
pub static sparc64_cpu: ArchCpu = ArchCpu {
    ksp: AtomicU64::new(0),
    thread: AtomicU64::new(0),
    pgd: AtomicU64::new(0),
    wbuf: AtomicU64::new(0),
    ctx: AtomicU64::new(0),
    cur: AtomicPtr::new(core::ptr::null_mut()),
    run: AtomicPtr::new(core::ptr::null_mut()),
};

/// Windows a buffer holds: every user window the file can hold (8 windows, less
/// the kernel's current one).
pub const WBUF_WINDOWS: usize = 7;

/// User windows that could not be spilled to the user's stack (Solaris' `pcb_wbuf`),
/// per thread. `trap`'s fault vector fills it: the count, then per window its stack
/// pointer and its sixteen locals and ins.
#[repr(C)]
pub struct WindowBuffer {
    count: u64,
    windows: [[u64; 17]; WBUF_WINDOWS],
}

impl WindowBuffer {
    /// Offsets and sizes the fault vector uses.
    pub(super) const COUNT: usize = offset_of!(WindowBuffer, count);
    pub(super) const WINDOWS: usize = offset_of!(WindowBuffer, windows);
    pub(super) const SLOT: usize = size_of::<[u64; 17]>();
}

/// What a thread has of user mode: its address space and its window buffer.
pub(super) struct UserCtx {
    space: Option<Arc<AddrSpace>>,
    wbuf: WindowBuffer,
}

impl UserCtx {
    pub(super) const NONE: UserCtx =
        UserCtx { space: None, wbuf: WindowBuffer { count: 0, windows: [[0; 17]; WBUF_WINDOWS] } };
}

/// Makes the per-CPU block describe `u`, the user side of the thread being
/// switched in, and puts its context in the MMU. Interrupts are off.
#[inline(always)]
pub(super) fn switch_in(ctx: &Context, u: &UnsafeCell<UserCtx>) {
    // SAFETY: the thread is being switched in on this CPU with interrupts off: only
    // this CPU touches its user side now (see `Context`).
    let u = unsafe { &*u.get() };
    sparc64_cpu.cur.store(ctx as *const Context as *mut Context, Ordering::Relaxed);
    sparc64_cpu.wbuf.store(&u.wbuf as *const WindowBuffer as u64, Ordering::Relaxed);
    activate(u.space.as_deref());
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

/// The boot thread's user side until its first switch, when the machine learns
/// its context (see `boot_switched_out`).
struct BootUser(UnsafeCell<UserCtx>);
// SAFETY: one CPU; only the boot thread uses it, while it runs, before its first switch.
unsafe impl Sync for BootUser {}
static BOOT_USER: BootUser = BootUser(UnsafeCell::new(UserCtx::NONE));

/// The running thread's user side.
fn current() -> &'static mut UserCtx {
    let ctx = sparc64_cpu.cur.load(Ordering::Relaxed);
    let cell = if ctx.is_null() {
        &BOOT_USER.0
    } else {
        // SAFETY: `cur` is the running thread's context (set at every switch), which
        // lives as long as its thread (contexts are never freed while in use).
        unsafe { (*ctx).user_ctx() }
    };
    // SAFETY: only the running thread touches its own user side, with interrupts
    // off or from its own code, and never through two references at once.
    unsafe { &mut *cell.get() }
}

/// The first switch on this CPU: the boot thread, switching out, takes its user
/// side from the boot slot into its context. Interrupts are off.
#[inline(always)]
pub(super) fn boot_switched_out(from: &UnsafeCell<UserCtx>) {
    if sparc64_cpu.cur.load(Ordering::Relaxed).is_null() {
        // SAFETY: the boot thread is switching out (interrupts off): nothing else
        // uses either slot now.
        unsafe { core::ptr::swap(from.get(), BOOT_USER.0.get()) };
    }
}

global_asm!(
    r#"
    .section .text.user, "ax"
    .align  32
    ! sparc64_user_rtt(frame): enter user mode by returning from a trap that never
    ! happened: the kernel's windows go to its stack, and `rtrap` restores `frame`.
    .globl  sparc64_user_rtt
    .type   sparc64_user_rtt, #function
sparc64_user_rtt:
    save    %sp, -{minframe}, %sp
    flushw                              ! no kernel window stays: the user's is filled
    sethi   %hi(sparc64_cpu), %l0
    or      %l0, %lo(sparc64_cpu), %l0
    stx     %sp, [%l0 + {cpu_ksp}]      ! traps from user mode build frames below here
    wrpr    %g0, 0, %otherwin           ! no user window is in the file yet
    sethi   %hi(sparc64_rtrap), %l0     ! (another section: no pc-relative branch)
    or      %l0, %lo(sparc64_rtrap), %l0
    jmpl    %l0, %g0
     mov    %i0, %l7
    .size   sparc64_user_rtt, . - sparc64_user_rtt

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
    ! landing, then enters user mode with `frame`.
    .globl  sparc64_user_run
sparc64_user_run:
    save    %sp, -{minframe}, %sp
    stx     %fp, [%i1 + {run_fp}]
    stx     %i7, [%i1 + {run_i7}]
    call    sparc64_user_rtt
     mov    %i0, %o0
"#,
    minframe = const MIN_FRAME,
    cpu_ksp = const offset_of!(ArchCpu, ksp),
    run_fp = const offset_of!(UserRun, fp),
    run_i7 = const offset_of!(UserRun, i7),
);

extern "C" {
    fn sparc64_user_rtt(frame: *const TrapFrame) -> !;
    fn sparc64_user_landing(run: *mut UserRun) -> !;
    fn sparc64_user_run(frame: *const TrapFrame, run: *mut UserRun);
}

/// TSTATE for user mode: the user's `%ccr` and `%asi`, PSTATE with interrupts
/// enabled and nothing else (unprivileged, normal globals, FPU off).
fn user_tstate(r: &UserRegs) -> u64 {
    ((r.r[reg::CCR] & 0xff) << 32) | ((r.r[reg::ASI] & 0xff) << 24) | (super::trap::pstate::IE << 8)
}

/// The trap frame that returns to user mode with `r`.
fn frame_of(r: &UserRegs) -> TrapFrame {
    let mut f = TrapFrame::zeroed();
    f.load_user(r);
    f.tstate = user_tstate(r);
    f
}

impl TrapFrame {
    /// The user registers this frame saved.
    fn user_regs(&self) -> UserRegs {
        let mut r = UserRegs::default();
        r.r[reg::CCR] = (self.tstate >> 32) & 0xff;
        r.r[reg::PC] = self.tpc;
        r.r[reg::NPC] = self.tnpc;
        r.r[reg::Y] = self.y;
        r.r[reg::G1..=reg::G7].copy_from_slice(&self.g[1..]);
        r.r[reg::O0..=reg::O7].copy_from_slice(&self.o);
        r.r[reg::ASI] = (self.tstate >> 24) & 0xff;
        r
    }

    /// Puts user registers back: what the return to user mode restores. Only the
    /// user-writable parts of TSTATE change.
    fn load_user(&mut self, r: &UserRegs) {
        self.tstate = (self.tstate & !(0xffff << 24)) | (user_tstate(r) & (0xffff << 24));
        self.tpc = r.r[reg::PC];
        self.tnpc = r.r[reg::NPC];
        self.y = r.r[reg::Y] & 0xffff_ffff;
        self.g[1..].copy_from_slice(&r.r[reg::G1..=reg::G7]);
        self.o.copy_from_slice(&r.r[reg::O0..=reg::O7]);
    }
}

/// Makes the running thread run in `space`, with an empty window buffer.
/// Interrupts are off.
fn attach(space: Arc<AddrSpace>) {
    let u = current();
    // Switches keep these; the boot thread may enter user mode before its first.
    sparc64_cpu.thread.store(super::curthread_raw() as u64, Ordering::Relaxed);
    sparc64_cpu.wbuf.store(&u.wbuf as *const WindowBuffer as u64, Ordering::Relaxed);
    activate(Some(&space));
    u.space = Some(space);
    u.wbuf.count = 0;
}

/// Enters user mode in `space` with `regs` (see the module comment).
pub fn enter(space: Arc<AddrSpace>, regs: &UserRegs) -> ! {
    super::intr_disable();
    attach(space);
    let frame = frame_of(regs);
    // SAFETY: `frame` lives in this frame, which `sparc64_user_rtt` never returns
    // to but does not overwrite (it works below it) until `rtrap` has read it; the
    // space that `regs` runs in is installed for this thread above.
    unsafe { sparc64_user_rtt(&frame) }
}

/// The running thread leaves user mode for good: its user windows still in the
/// register file and its window buffer are dropped, and so is its hold on the space.
pub fn exit() {
    let was = super::intr_disable();
    // SAFETY: the user windows are the "other" windows; giving them back to CANSAVE
    // drops them without a spill (their stack may be gone with the space).
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
    let u = current();
    u.wbuf.count = 0;
    activate(None);
    let space = u.space.take();
    super::intr_restore(was);
    drop(space);
}

/// How many user windows are still in the register file.
fn otherwin() -> u64 {
    let n: u64;
    // SAFETY: reading OTHERWIN has no side effect.
    unsafe { asm!("rdpr %otherwin, {}", out(reg) n, options(nomem, nostack)) };
    n
}

/// The fault a trap from user mode is, by trap type.
fn fault_of(frame: &TrapFrame) -> Fault {
    let (kind, addr) = match frame.tt {
        tt::FAST_INSTRUCTION_ACCESS_MMU_MISS => (FaultKind::Unmapped, frame.tpc),
        0x008 => (FaultKind::Protection, frame.tpc),
        tt::FAST_DATA_ACCESS_MMU_MISS => (FaultKind::Unmapped, tag_access() & !0x1fff),
        tt::FAST_DATA_ACCESS_PROTECTION => (FaultKind::Protection, tag_access() & !0x1fff),
        tt::DATA_ACCESS_EXCEPTION => (FaultKind::Protection, sfar()),
        tt::MEM_ADDRESS_NOT_ALIGNED | 0x035 | 0x036 => (FaultKind::Misaligned, sfar()),
        tt::ILLEGAL_INSTRUCTION => (FaultKind::IllegalInstruction, frame.tpc),
        tt::PRIVILEGED_OPCODE | 0x037 => (FaultKind::PrivilegedInstruction, frame.tpc),
        tt::DIVISION_BY_ZERO => (FaultKind::DivisionByZero, frame.tpc),
        tt::FILL_USER | tt::FILL_USER_OTHER => {
            (FaultKind::BadStack, frame.sp().wrapping_add(STACK_BIAS))
        }
        other => (FaultKind::Other(other as u16), frame.tpc),
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

/// A trap from user mode (interrupts off, on the thread's kernel stack): see the
/// module comment. Returns to go back to user mode with what is in `frame`.
#[inline(always)] // one frame less: fewer windows to spill and fill per trap
pub(super) fn trap(frame: &mut TrapFrame) {
    if frame.tt == tt::INTERRUPT_LEVEL_14 {
        super::clock::intr(true);
    } else if !sparc64_cpu.run.load(Ordering::Relaxed).is_null() {
        land(frame);
    }
    let why = match frame.tt {
        tt::INTERRUPT_LEVEL_14 | tt::SPILL_USER | tt::SPILL_USER_OTHER => UserTrap::Return,
        tt::SYSCALL => {
            frame.skip_instruction();
            UserTrap::Syscall
        }
        _ => UserTrap::Fault(fault_of(frame)),
    };
    upcall(frame, why);
    loop {
        // The buffer goes out first: the window the return fills may be in it.
        if let Err(addr) = flush_wbuf() {
            upcall(frame, UserTrap::Fault(Fault { kind: FaultKind::BadStack, addr }));
            continue;
        }
        // The return restores the trapped window; if it is not in the file, it is
        // filled from the user's stack, at TL>1 where there is no way back: make
        // sure it can be read now.
        let sp = frame.sp().wrapping_add(STACK_BIAS);
        if otherwin() == 0 && vm::copy_user(sp, [0u8; 128].as_mut_ptr(), 128, false).is_err() {
            upcall(frame, UserTrap::Fault(Fault { kind: FaultKind::BadStack, addr: sp }));
            continue;
        }
        return;
    }
}

/// Calls the kernel's `user_trap` with the registers of `frame`, and puts back
/// what it leaves in them. Inside a [`run`] there is no kernel behind the user
/// code: a fault ends the run, anything else just goes back.
#[inline(always)]
fn upcall(frame: &mut TrapFrame, why: UserTrap) {
    if !sparc64_cpu.run.load(Ordering::Relaxed).is_null() {
        if let UserTrap::Fault(_) = why {
            land(frame);
        }
        return;
    }
    let Some(up) = super::UPCALLS.get() else { return };
    let mut regs = frame.user_regs();
    super::intr_restore(true);
    (up.user_trap)(&mut regs, why);
    super::intr_disable();
    frame.load_user(&regs);
}

/// Buffered windows that could not be written to their user stack (each one a
/// `BadStack` fault): the self-tests check that an unusable stack went this way.
pub static WBUF_UNWRITABLE: AtomicU64 = AtomicU64::new(0);

/// Writes the running thread's buffered windows to the user stack; the address
/// of the first window that cannot be written.
fn flush_wbuf() -> Result<(), u64> {
    let u = current();
    while u.wbuf.count > 0 {
        // Taken out before the copy, which may itself spill more user windows into
        // the buffer (its `catch` makes a frame); put back if it cannot be written.
        u.wbuf.count -= 1;
        let w = u.wbuf.windows[u.wbuf.count as usize];
        let mut bytes = [0u8; 128];
        for (b, r) in bytes.chunks_exact_mut(8).zip(&w[1..]) {
            b.copy_from_slice(&r.to_be_bytes());
        }
        let at = w[0].wrapping_add(STACK_BIAS);
        if vm::copy_user(at, bytes.as_mut_ptr(), 128, true).is_err() {
            WBUF_UNWRITABLE.fetch_add(1, Ordering::Relaxed);
            if (u.wbuf.count as usize) < WBUF_WINDOWS {
                u.wbuf.windows[u.wbuf.count as usize] = w;
                u.wbuf.count += 1;
            }
            return Err(at);
        }
    }
    Ok(())
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
    /// The trap that ended it, with the user PC.
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
pub fn run(space: Arc<AddrSpace>, pc: u64, stack_top: u64) -> UserExit {
    let was = super::intr_disable();
    let mut r = UserRun { fp: 0, i7: 0, exit: UserExit::default() };
    attach(space);
    sparc64_cpu.run.store(&mut r, Ordering::SeqCst);
    let frame = frame_of(&UserRegs::for_entry(pc, stack_top, 0));
    // SAFETY: `r` and `frame` live until the landing returns here; enter flushes
    // this thread's windows to its kernel stack first, and the landing returns
    // into this frame like `resume` does.
    unsafe { sparc64_user_run(&frame, &mut r) };
    sparc64_cpu.run.store(core::ptr::null_mut(), Ordering::SeqCst);
    exit();
    super::intr_restore(was);
    r.exit
}

/// Ends the [`run`] in progress with the trap in `frame`.
fn land(frame: &TrapFrame) -> ! {
    let r = sparc64_cpu.run.load(Ordering::SeqCst);
    // SAFETY: a non-null `run` is the live UserRun of `run` on this CPU, whose
    // frame is above this trap frame on the same kernel stack.
    let r = unsafe { &mut *r };
    r.exit = UserExit {
        trap: TrapInfo { tt: frame.tt, tpc: frame.tpc, tnpc: frame.tnpc, tstate: frame.tstate },
        regs: frame.user_regs(),
        kernel_g7: super::curthread_raw() as u64,
        fault_va: match frame.tt {
            tt::FAST_DATA_ACCESS_MMU_MISS => tag_access() & !0x1fff,
            _ => 0,
        },
    };
    // SAFETY: `r` is the live run whose `fp`/`i7` were recorded on this very
    // thread's kernel stack, above this trap's frame; everything below is abandoned.
    unsafe { sparc64_user_landing(r) }
}
