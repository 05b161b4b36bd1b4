//! What the machine and the kernel say to each other about user mode: an LWP's
//! user registers and where they live (S5.1), why user mode was left (a system
//! call, a fault, or work pending on the way back), the system-call table the
//! machine calls through, the pending-work word, and the rights of user memory.
//!
//! Both machines use the SPARC V9 user ABI of Solaris: the registers are a
//! `gregset_t`, a system call is `ta 0x40` with its number in `%g1` and its
//! arguments in `%o0`..`%o5`, and it returns its values in `%o0`/`%o1` with the
//! carry bit clear, or an error number in `%o0` with the carry bit set. The host
//! simulation follows the same conventions, so the portable kernel sees one ABI.
//!
//! # Where the registers live
//!
//! An LWP's user registers have one home, its [`UserFrame`], which the kernel keeps
//! in the LWP's `lwp` structure (S5.1) and hands to the machine when the LWP first
//! enters user mode ([`crate::Machine::user_enter`]). Every trap from user mode
//! saves the registers straight into it and every return to user mode loads them
//! from it: there is no other copy, and no copying in between. While the LWP runs
//! in the kernel or is not running at all, the frame holds its user state; while it
//! runs in user mode, the CPU does. The slots are atomic words, so the machine's
//! trap code and the kernel may both reach them through shared references (a trap
//! and the kernel never touch one LWP's frame at the same time: the LWP is either in
//! user mode or in the kernel).
//!
//! # Swapping
//!
//! While an LWP does not run, its `lwp` structure may go out to the swap device,
//! frame included (S5). The kernel first takes back the machine's handle to the
//! frame (`Machine::user_frame_detach`: the thread's context keeps an empty handle),
//! so that nothing else can reach the registers, writes their position-independent
//! image ([`UserFrame::save_image`]) with the rest of the structure, and frees them;
//! on the way back it makes a new frame from the image ([`UserFrame::from_image`])
//! and gives the machine its handle again (`Machine::user_frame_attach`). A handle is
//! one atomic word, changed in place (`UserFrame::exchange`): a reference to the
//! machine's handle kept on the LWP's kernel stack across a sleep (the one every
//! trap hands the kernel) stays valid, and reaches the registers wherever they are
//! when the LWP runs again.

use core::fmt;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use bitflags::bitflags;

use crate::kmem::{AllocError, Shared};

/// Registers in a [`UserRegs`] (Solaris' SPARC V9 `NGREG`).
pub const NGREG: usize = 21;

/// Indices into [`UserRegs::r`], as Solaris' `REG_*` for SPARC V9.
pub mod reg {
    /// `%ccr`, the condition codes (`icc` and `xcc`; carry set = failed system call).
    pub const CCR: usize = 0;
    /// `%pc`, the address of the instruction user mode resumes at.
    pub const PC: usize = 1;
    /// `%npc`, the next instruction's address (V9 delayed control transfer).
    pub const NPC: usize = 2;
    /// `%y`, the multiply/divide register (32 bits kept).
    pub const Y: usize = 3;
    /// `%g1`; `%gN` is `G1 + N - 1`.
    pub const G1: usize = 4;
    /// `%g7`, the last global (Solaris' libc keeps its thread pointer there).
    pub const G7: usize = 10;
    /// `%o0`; `%oN` is `O0 + N`.
    pub const O0: usize = 11;
    /// `%o6`, the stack pointer `%sp` (biased by [`STACK_BIAS`](super::STACK_BIAS)).
    pub const O6: usize = 17;
    /// `%o7`, where `call` leaves its own address (the return address less 8).
    pub const O7: usize = 18;
    /// `%asi`, the address space identifier for alternate-space loads and stores.
    pub const ASI: usize = 19;
    /// `%fprs`, the floating-point registers state (not kept yet: reads as 0).
    pub const FPRS: usize = 20;
}

/// The base page size.
pub const PAGE_SIZE: u64 = 8192;

/// The V9 stack bias: a 64-bit stack pointer is 2047 below the frame it points at.
pub const STACK_BIAS: u64 = 2047;
/// A minimal V9 stack frame: the register save area and the outgoing arguments.
pub const MIN_FRAME: u64 = 176;
/// The carry bits of `%ccr` (`icc.c`, `xcc.c`): set when a system call failed.
pub const CCR_CARRY: u64 = 0x11;

/// User addresses are `0..USER_LIMIT` (UltraSPARC's 44-bit virtual address space
/// has its hole above 2^43; user mode gets the bottom half).
pub const USER_LIMIT: u64 = 1 << 43;

/// An LWP's user-level registers as a value: Solaris' `gregset_t`. The integer state
/// of user mode; the other globals' and locals' worth lives in the register windows,
/// which spill to the user's own stack.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserRegs {
    /// The registers, indexed by the [`reg`] constants (Solaris' `REG_*`).
    pub r: [u64; NGREG],
}

impl UserRegs {
    /// The registers a new LWP starts with: at `pc`, on the stack whose (unbiased,
    /// 16-byte aligned) top is `stack_top`, with `arg` in `%o0` (and in `%i0` of the
    /// first window, as a called function would find it).
    pub fn for_entry(pc: u64, stack_top: u64, arg: u64) -> UserRegs {
        // Register by register (no zeroed array to fill in: one store each).
        let r = core::array::from_fn(|i| match i {
            reg::PC => pc,
            reg::NPC => pc.wrapping_add(4),
            reg::O6 => stack_top.wrapping_sub(MIN_FRAME + STACK_BIAS),
            reg::O0 => arg,
            _ => 0,
        });
        UserRegs { r }
    }

    /// The user program counter (`%pc`).
    pub fn pc(&self) -> u64 {
        self.r[reg::PC]
    }

    /// The user's stack pointer (biased).
    pub fn sp(&self) -> u64 {
        self.r[reg::O6]
    }
}

/// Where an LWP's user registers live (S5.1; see the module comment): a handle to
/// one heap block shared by the LWP's `lwp` structure and, while the LWP may run
/// in user mode, the machine. [`UserFrame::share`] makes a second handle to the
/// same registers; `clone` makes an independent copy of them.
///
/// The machine's handle lives in the thread's context, and the kernel gets a
/// reference to it with every trap from user mode; while the LWP's `lwp` structure
/// is swapped out (S5) that handle is empty (see "Swapping" in the module comment),
/// so the handle is one atomic word, changed in place: a reference to it stays valid
/// across the change, and reaches the registers wherever they are when it is used.
pub struct UserFrame(AtomicPtr<()>);

/// The block behind a [`UserFrame`]: the registers in the order the trap code
/// saves them (the machine's assembly takes its offsets from here), the count of
/// system calls, and what only the machine keeps per LWP.
#[repr(C)]
pub(crate) struct FrameData {
    /// `%ccr` and `%asi` as `TSTATE` holds them: `%ccr` in bits 39..32, `%asi` in
    /// bits 31..24, nothing else (so one load or store moves both).
    pub(crate) tstate: AtomicU64,
    pub(crate) pc: AtomicU64,
    pub(crate) npc: AtomicU64,
    pub(crate) y: AtomicU64,
    /// `%g0`..`%g7`; `g[0]` is not saved (it is always zero), so that `g[n]` is `%gn`.
    pub(crate) g: [AtomicU64; 8],
    pub(crate) o: [AtomicU64; 8],
    /// System calls made so far (S5.4): the machine counts every `ta 0x40`.
    pub(crate) sysc: AtomicU64,
    /// The machine's own per-LWP state (sparc64: the window buffer).
    pub(crate) mach: crate::MachFrame,
}

impl FrameData {
    /// The slot of register `i` (`reg::*`); `None` for `%ccr` and `%asi`, which
    /// share `tstate`, and for `%fprs`, which is not kept (no FPU state yet).
    fn slot(&self, i: usize) -> Option<&AtomicU64> {
        match i {
            reg::PC => Some(&self.pc),
            reg::NPC => Some(&self.npc),
            reg::Y => Some(&self.y),
            reg::G1..=reg::G7 => Some(&self.g[i - reg::G1 + 1]),
            reg::O0..=reg::O7 => Some(&self.o[i - reg::O0]),
            _ => None,
        }
    }

    /// Every register, as a `gregset_t` written into `r` (what [`FrameData::get`]
    /// gives one by one, in straight loads: `UserFrame::load`, every signal's
    /// `ucontext_t`).
    #[inline]
    fn gregs(&self, r: &mut [u64; NGREG]) {
        let tstate = self.tstate.load(Ordering::Relaxed);
        r[reg::CCR] = (tstate >> CCR_SHIFT) & 0xff;
        r[reg::ASI] = (tstate >> ASI_SHIFT) & 0xff;
        r[reg::PC] = self.pc.load(Ordering::Relaxed);
        r[reg::NPC] = self.npc.load(Ordering::Relaxed);
        r[reg::Y] = self.y.load(Ordering::Relaxed);
        for (n, g) in self.g.iter().enumerate().skip(1) {
            r[reg::G1 + n - 1] = g.load(Ordering::Relaxed);
        }
        for (n, o) in self.o.iter().enumerate() {
            r[reg::O0 + n] = o.load(Ordering::Relaxed);
        }
    }

    /// Register `i` (`reg::*`).
    fn get(&self, i: usize) -> u64 {
        let tstate = || self.tstate.load(Ordering::Relaxed);
        match i {
            reg::CCR => (tstate() >> CCR_SHIFT) & 0xff,
            reg::ASI => (tstate() >> ASI_SHIFT) & 0xff,
            reg::FPRS => 0,
            _ => self.slot(i).map_or(0, |s| s.load(Ordering::Relaxed)),
        }
    }
}

/// Register windows of user code a frame's machine part can hold when they cannot
/// be written to their stack (sparc64: its window buffer, Solaris' `pcb_wbuf`;
/// the host simulation has no register windows: none).
pub const USER_WBUF_WINDOWS: usize = crate::MachFrame::WINDOWS;

/// A user register window that could not be written to its stack: where it
/// belongs (its stack pointer, biased as the ABI has it) and its sixteen locals
/// and ins (a `gwindows_t`'s `spbuf` and `wbuf` entries).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserWindow {
    /// The window's `%sp`, biased: its save area is at `sp + STACK_BIAS`.
    pub sp: u64,
    /// `%l0`..`%l7`, then `%i0`..`%i7`.
    pub regs: [u64; 16],
}

/// The windows a frame's machine part held ([`UserFrame::take_windows`]), or is
/// to hold ([`UserFrame::set_windows`]): the first `count` of `windows`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserWindows {
    /// How many of `windows` there are.
    pub count: usize,
    /// The windows; those from `count` on mean nothing.
    pub windows: [UserWindow; USER_WBUF_WINDOWS],
}

impl UserWindows {
    /// The windows there are.
    pub fn as_slice(&self) -> &[UserWindow] {
        self.windows.get(..self.count).unwrap_or(&self.windows)
    }
}

const CCR_SHIFT: u32 = 32;
const ASI_SHIFT: u32 = 24;

/// Why [`UserFrame::from_image`] made no frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameImageError {
    /// The image is too short, or its machine part says what cannot be.
    Malformed,
    /// No memory for the frame.
    NoMemory,
}

impl UserFrame {
    /// The most bytes a frame's image takes ([`UserFrame::save_image`]).
    pub const IMAGE_MAX: usize = (NGREG + 1) * 8 + crate::MachFrame::IMAGE_MAX;

    /// A frame holding `regs`, or `AllocError` if there is no memory for it.
    pub fn try_new(regs: &UserRegs) -> Result<UserFrame, AllocError> {
        // SAFETY: every field is written once before the block is used (the
        // registers zeroed, then set by `store`), the machine's part by its own
        // initialiser, which writes no more than it needs (a window buffer's windows
        // need no zeros). No reference to the block exists before it is whole.
        let block = unsafe {
            Shared::try_new_with(|d: *mut FrameData| {
                for word in [
                    &raw mut (*d).tstate,
                    &raw mut (*d).pc,
                    &raw mut (*d).npc,
                    &raw mut (*d).y,
                    &raw mut (*d).sysc,
                ] {
                    word.write(AtomicU64::new(0));
                }
                (&raw mut (*d).g).write(Default::default());
                (&raw mut (*d).o).write(Default::default());
                crate::MachFrame::init(&raw mut (*d).mach);
            })
        }?;
        let frame = UserFrame(AtomicPtr::new(block.into_raw()));
        frame.store(regs);
        Ok(frame)
    }

    /// A frame holding `regs`; panics if there is no memory (tests and the
    /// machine's own use; the kernel uses [`UserFrame::try_new`]).
    pub fn new(regs: &UserRegs) -> UserFrame {
        UserFrame::try_new(regs).expect("no memory for a user frame")
    }

    /// A handle to no registers: what a thread's context holds before its LWP
    /// enters user mode, and while its `lwp` structure is swapped out. Reaching a
    /// register through it panics.
    pub const fn empty() -> UserFrame {
        UserFrame(AtomicPtr::new(core::ptr::null_mut()))
    }

    /// Whether this handle holds no registers.
    pub fn is_empty(&self) -> bool {
        self.0.load(Ordering::Relaxed).is_null()
    }

    /// The address of the registers' block, 0 for an empty handle: what the trap
    /// code is given (one load, on every switch).
    #[cfg(target_arch = "sparc64")]
    #[inline]
    pub(crate) fn addr(&self) -> u64 {
        let p = self.0.load(Ordering::Relaxed);
        if p.is_null() {
            0
        } else {
            // SAFETY: as in `data`.
            unsafe { Shared::<FrameData>::raw_value(p) as *const FrameData as u64 }
        }
    }

    /// The handle as a `Shared` (consumed), if it holds registers.
    fn into_shared(self) -> Option<Shared<FrameData>> {
        let p = self.0.swap(core::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: a non-null word is a block pointer from `into_raw` whose count this
        // handle held; it is given back to exactly one `Shared` here.
        (!p.is_null()).then(|| unsafe { Shared::from_raw(p) })
    }

    fn from_shared(block: Shared<FrameData>) -> UserFrame {
        UserFrame(AtomicPtr::new(block.into_raw()))
    }

    /// Puts `other`'s registers in this handle and returns a handle to the ones it
    /// held, in one step: a reference to this handle stays valid across it.
    ///
    /// For the machine's handle in a thread's context, while no other reference
    /// to it is being used: when the LWP enters user mode (the thread itself), and
    /// when its `lwp` structure is swapped out and back in (the thread does not
    /// run, see `Machine::user_frame_detach`).
    pub(crate) fn exchange(&self, other: UserFrame) -> UserFrame {
        let p = other.0.swap(core::ptr::null_mut(), Ordering::AcqRel);
        UserFrame(AtomicPtr::new(self.0.swap(p, Ordering::AcqRel)))
    }

    /// Makes this frame hold `regs` for a new LWP, its count of system calls back
    /// at 0: in place when no other handle shares the block (the LWP it was made
    /// for has left user mode), else in a new one.
    /// `AllocError` (and the frame unchanged) if a new block is needed and there is
    /// no memory for it.
    pub fn renew(&mut self, regs: &UserRegs) -> Result<(), AllocError> {
        let reset = self.with_unique(|d| {
            d.sysc.store(0, Ordering::Relaxed);
            d.mach.reset();
        });
        match reset {
            Some(()) => self.store(regs),
            None => *self = UserFrame::try_new(regs)?,
        }
        Ok(())
    }

    /// Another handle to these very registers (an empty one for an empty handle).
    pub fn share(&self) -> UserFrame {
        let p = self.0.load(Ordering::Relaxed);
        if p.is_null() {
            return UserFrame::empty();
        }
        // SAFETY: this handle holds a count of the block for as long as `self` is
        // borrowed; the new handle takes a count of its own.
        UserFrame::from_shared(unsafe { Shared::<FrameData>::raw_share(p) })
    }

    /// Whether `other` is a handle to these very registers (two empty handles are not).
    pub fn same(&self, other: &UserFrame) -> bool {
        let p = self.0.load(Ordering::Relaxed);
        !p.is_null() && p == other.0.load(Ordering::Relaxed)
    }

    /// Whether no other handle shares these registers (false for an empty handle).
    pub fn is_unique(&mut self) -> bool {
        self.with_unique(|_| ()).is_some()
    }

    /// Runs `f` on the block if this is its only handle.
    fn with_unique<R>(&mut self, f: impl FnOnce(&mut FrameData) -> R) -> Option<R> {
        let mut block = core::mem::replace(self, UserFrame::empty()).into_shared()?;
        let r = block.get_mut().map(f);
        *self = UserFrame::from_shared(block);
        r
    }

    // The word changes only while no thread reaches the registers through this
    // handle (the machine's, of a thread that does not run: the switch that runs it
    // again orders the change before) or through `&mut self`: relaxed loads suffice.
    pub(crate) fn data(&self) -> &FrameData {
        let p = self.0.load(Ordering::Relaxed);
        assert!(!p.is_null(), "a user frame with no registers: its LWP is swapped out");
        // SAFETY: a non-null word is a block this handle holds a count of. It changes
        // only through `exchange` (the machine's handle of a thread that does not run,
        // whose references are not in use then) or `&mut self`: the block outlives
        // the borrow of `self`.
        unsafe { Shared::<FrameData>::raw_value(p) }
    }

    /// Writes a position-independent image of the frame into `out` (at least
    /// [`UserFrame::IMAGE_MAX`] bytes): the registers, the count of system calls and
    /// the machine's part (sparc64: the window buffer), as big-endian words; returns
    /// its length. `None` unless this is the only handle to the registers (the
    /// machine's was taken back first: nothing can change them meanwhile).
    pub fn save_image(&mut self, out: &mut [u8]) -> Option<usize> {
        let regs = self.load();
        let sysc = self.syscalls();
        self.with_unique(|d| {
            let mut w = out.chunks_exact_mut(8);
            for v in regs.r.iter().chain([&sysc]) {
                w.next().expect("room for the registers").copy_from_slice(&v.to_be_bytes());
            }
            let head = (NGREG + 1) * 8;
            head + d.mach.save(&mut out[head..])
        })
    }

    /// A new frame from an image [`UserFrame::save_image`] wrote.
    pub fn from_image(image: &[u8]) -> Result<UserFrame, FrameImageError> {
        let head = (NGREG + 1) * 8;
        if image.len() < head {
            return Err(FrameImageError::Malformed);
        }
        let word = |i: usize| {
            let b: [u8; 8] = image[i * 8..i * 8 + 8].try_into().unwrap_or_default();
            u64::from_be_bytes(b)
        };
        let regs = UserRegs { r: core::array::from_fn(word) };
        let mut frame = UserFrame::try_new(&regs).map_err(|_| FrameImageError::NoMemory)?;
        let sysc = word(NGREG);
        let restored = frame.with_unique(|d| {
            d.sysc.store(sysc, Ordering::Relaxed);
            d.mach.restore(&image[head..])
        });
        match restored {
            Some(true) => Ok(frame),
            _ => Err(FrameImageError::Malformed),
        }
    }

    /// Register `i` (`reg::*`).
    pub fn get(&self, i: usize) -> u64 {
        self.data().get(i)
    }

    /// Sets register `i` (`reg::*`). `%ccr` and `%asi` keep 8 bits; `%y` 32;
    /// `%fprs` is not kept.
    pub fn set(&self, i: usize, v: u64) {
        let d = self.data();
        let field = |shift: u32| {
            let keep = d.tstate.load(Ordering::Relaxed) & !(0xff << shift);
            d.tstate.store(keep | (v & 0xff) << shift, Ordering::Relaxed);
        };
        match i {
            reg::CCR => field(CCR_SHIFT),
            reg::ASI => field(ASI_SHIFT),
            reg::Y => d.y.store(v & 0xffff_ffff, Ordering::Relaxed),
            _ => {
                if let Some(s) = d.slot(i) {
                    s.store(v, Ordering::Relaxed);
                }
            }
        }
    }

    /// Every register, as a `gregset_t`.
    pub fn load(&self) -> UserRegs {
        let mut regs = UserRegs::default();
        self.load_gregs(&mut regs.r);
        regs
    }

    /// Every register, written as a `gregset_t` into `r` where it is (a signal's
    /// `ucontext_t` being built: no copy of them in between).
    #[inline]
    pub fn load_gregs(&self, r: &mut [u64; NGREG]) {
        self.data().gregs(r);
    }

    /// Sets every register from a `gregset_t` (as `set` would, one by one).
    pub fn store(&self, regs: &UserRegs) {
        self.store_gregs(&regs.r);
    }

    /// Takes out the running LWP's user windows that could not be written to its
    /// stack, leaving none buffered: what a signal frame carries in its
    /// `gwindows_t` (Solaris' `sendsig`), so that a handler on an alternate stack
    /// can run while the LWP's own stack cannot take its windows. Call it after
    /// `Machine::user_flush_windows` (then no user window is left in the CPU to
    /// add to them).
    pub fn take_windows(&self) -> UserWindows {
        self.data().mach.take_windows()
    }

    /// Whether the running LWP has windows [`UserFrame::take_windows`] would take
    /// (a look at a count: every signal delivered asks).
    pub fn windows_buffered(&self) -> bool {
        self.data().mach.windows_buffered()
    }

    /// Makes `windows` (at most [`USER_WBUF_WINDOWS`]; more are dropped) the running
    /// LWP's buffered windows, in place of any it had: they are written to their
    /// stack on its way back to user mode, and a stack that still cannot take
    /// them is the LWP's fault there (`setcontext` of a context with `gwins`).
    /// Call it after `Machine::user_flush_windows`.
    pub fn set_windows(&self, windows: &[UserWindow]) {
        self.data().mach.set_windows(windows)
    }

    /// The LWP's floating-point registers, if it has used the FPU (S5.1, for
    /// `ucontext_t`): for the running LWP, as they are in the FPU now.
    pub fn fpregs(&self) -> Option<FpRegs> {
        self.data().mach.fpregs(|| self.is_running())
    }

    /// Makes `r` the LWP's floating-point registers (from a `ucontext_t`); the LWP
    /// uses the FPU from now on (for the running LWP, the FPU holds them at once).
    pub fn set_fpregs(&self, r: &FpRegs) {
        self.data().mach.set_fpregs(r, || self.is_running());
    }

    /// Gives this frame, a new LWP's that has not run, the user register windows
    /// `from`'s LWP has waiting in the machine to be written to its stack (on
    /// SPARC, its window buffer: the stack's page could not take them, as a
    /// copy-on-write page of a space forked before cannot at TL>1), so that the new
    /// LWP writes them to its own stack, a `fork` child's copy, on its first return
    /// to user mode. `from` is the running LWP's own frame, or the frame of an LWP
    /// held still (`forkall`). A machine without register windows has none.
    pub fn inherit_windows(&self, from: &UserFrame) {
        self.data().mach.inherit_windows(&from.data().mach);
    }

    /// Whether these are the registers of the LWP running on this CPU.
    fn is_running(&self) -> bool {
        crate::MachFrame::is_running(self.data())
    }

    /// Sets every register from the words of a `gregset_t` where they are (a
    /// signal's `ucontext_t`), as `store` does (the reverse of `load_gregs`).
    pub fn store_gregs(&self, r: &[u64; NGREG]) {
        let d = self.data();
        let field = |i: usize, shift: u32| (r[i] & 0xff) << shift;
        d.tstate.store(field(reg::CCR, CCR_SHIFT) | field(reg::ASI, ASI_SHIFT), Ordering::Relaxed);
        d.pc.store(r[reg::PC], Ordering::Relaxed);
        d.npc.store(r[reg::NPC], Ordering::Relaxed);
        d.y.store(r[reg::Y] & 0xffff_ffff, Ordering::Relaxed);
        for (n, g) in d.g.iter().enumerate().skip(1) {
            g.store(r[reg::G1 + n - 1], Ordering::Relaxed);
        }
        for (n, o) in d.o.iter().enumerate() {
            o.store(r[reg::O0 + n], Ordering::Relaxed);
        }
    }

    /// The user program counter (`%pc`): where user mode resumes.
    pub fn pc(&self) -> u64 {
        self.get(reg::PC)
    }

    /// The user's stack pointer (biased).
    pub fn sp(&self) -> u64 {
        self.get(reg::O6)
    }

    /// The system-call number (`%g1`).
    pub fn sysnum(&self) -> u64 {
        self.data().g[1].load(Ordering::Relaxed)
    }

    /// System-call argument `i` (`%o0`..`%o5`).
    pub fn sysarg(&self, i: usize) -> u64 {
        assert!(i < 6, "system-call argument {i}");
        self.data().o[i].load(Ordering::Relaxed)
    }

    /// The six system-call arguments.
    pub fn sysargs(&self) -> [u64; 6] {
        let d = self.data();
        core::array::from_fn(|i| d.o[i].load(Ordering::Relaxed))
    }

    /// A call of the function at `pc` with the stack pointer `sp` (biased) and
    /// `args` in `%o0`..`%o2`: what a signal handler is entered with. `%o7`, its
    /// return address, is 0 (a handler returns through `setcontext`, never to it).
    pub fn set_call(&self, pc: u64, sp: u64, args: [u64; 3]) {
        let d = self.data();
        d.pc.store(pc, Ordering::Relaxed);
        d.npc.store(pc.wrapping_add(4), Ordering::Relaxed);
        for (o, a) in d.o.iter().zip(args) {
            o.store(a, Ordering::Relaxed);
        }
        d.o[6].store(sp, Ordering::Relaxed);
        d.o[7].store(0, Ordering::Relaxed);
    }

    /// A successful return: `%o0`, `%o1`, carry clear.
    pub fn set_rval(&self, r0: u64, r1: u64) {
        let d = self.data();
        d.o[0].store(r0, Ordering::Relaxed);
        d.o[1].store(r1, Ordering::Relaxed);
        let carry = CCR_CARRY << CCR_SHIFT;
        d.tstate.store(d.tstate.load(Ordering::Relaxed) & !carry, Ordering::Relaxed);
    }

    /// A failed return: the error number in `%o0`, carry set.
    pub fn set_error(&self, errno: u64) {
        let d = self.data();
        d.o[0].store(errno, Ordering::Relaxed);
        let carry = CCR_CARRY << CCR_SHIFT;
        d.tstate.store(d.tstate.load(Ordering::Relaxed) | carry, Ordering::Relaxed);
    }

    /// Whether the last system call failed (carry set), as user code tests it.
    pub fn failed(&self) -> bool {
        self.get(reg::CCR) & CCR_CARRY != 0
    }

    /// The system calls this LWP has made (S5.4).
    pub fn syscalls(&self) -> u64 {
        self.data().sysc.load(Ordering::Relaxed)
    }
}

impl Drop for UserFrame {
    fn drop(&mut self) {
        let p = *self.0.get_mut();
        if !p.is_null() {
            // SAFETY: a non-null word is a block pointer from `into_raw` whose count
            // this handle holds; it is given back once, here.
            drop(unsafe { Shared::<FrameData>::from_raw(p) });
        }
    }
}

impl Clone for UserFrame {
    /// An independent frame with the same registers and count (not a second handle:
    /// that is [`UserFrame::share`]).
    fn clone(&self) -> UserFrame {
        let f = UserFrame::new(&self.load());
        f.data().sysc.store(self.syscalls(), Ordering::Relaxed);
        f
    }
}

impl PartialEq for UserFrame {
    fn eq(&self, other: &UserFrame) -> bool {
        self.load() == other.load() && self.syscalls() == other.syscalls()
    }
}

impl Eq for UserFrame {}

impl fmt::Debug for UserFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("UserFrame(empty)");
        }
        f.debug_struct("UserFrame")
            .field("regs", &self.load().r)
            .field("sysc", &self.syscalls())
            .finish()
    }
}

/// A thread's pending-work word (illumos' `t_astflag`): one bit per kind of work
/// that must be done before the thread's LWP goes back to user mode. The machine
/// tests the whole word once on every return to user mode — with interrupts off,
/// so nothing set before the test is missed — and only when it is not zero takes
/// the slow way: its own work first (the bits in [`PendingWork::MACHINE`]), then the
/// kernel's ([`crate::UserTrap::Return`]), then the test again.
///
/// It is the first field of the kernel's thread structure (see
/// [`crate::ThreadRegister`]), so the machine finds it at the current-thread
/// register itself.
#[repr(transparent)]
pub struct PendingWork(AtomicU32);

impl PendingWork {
    /// The bits the machine keeps for itself; the kernel's are the others.
    pub const MACHINE: u32 = 0xffff_0000;

    /// A word with no work pending (all bits clear).
    pub const fn new() -> PendingWork {
        PendingWork(AtomicU32::new(0))
    }

    /// Asks for the work of `bits`.
    pub fn set(&self, bits: u32) {
        self.0.fetch_or(bits, Ordering::SeqCst);
    }

    /// Clears `bits`, returning which of them were set.
    pub fn take(&self, bits: u32) -> u32 {
        self.0.fetch_and(!bits, Ordering::SeqCst) & bits
    }

    /// The bits set.
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Default for PendingWork {
    fn default() -> Self {
        PendingWork::new()
    }
}

/// A system call's handler: the six argument registers in, [`SysRet`] out. An
/// `extern "C"` function, so that the machine's trap code may call it directly.
pub type SysHandler = extern "C" fn(u64, u64, u64, u64, u64, u64) -> SysRet;

/// What a system call gives back: `%o0`/`%o1`, or the error number (`err` not 0).
/// Returned in registers (`%o0`..`%o2`, as the SPARC V9 ABI returns small structures).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysRet {
    /// The first return value, for `%o0` (Solaris' `rval1`).
    pub r0: u64,
    /// The second return value, for `%o1` (Solaris' `rval2`).
    pub r1: u64,
    /// 0: success; else the error number, returned with the carry set.
    pub err: u64,
}

/// An entry of the system-call table (Solaris' `sysent`), indexed by call number.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SysEnt {
    /// The handler.
    pub call: SysHandler,
    /// How the machine makes the call.
    pub path: SysPath,
}

/// How the machine makes a system call: itself, straight from its trap path (a
/// call that neither blocks nor faults: the kernel does nothing around it), or
/// through [`crate::Upcalls::user_trap`] as [`UserTrap::Syscall`].
///
/// The numbers are sparc64's: a fast entry's is the `PSTATE` its trap path writes
/// before the call (`PRIV`, and `IE` unless the call wants interrupts off), so
/// that choosing costs it nothing; 0 is the general path.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysPath {
    /// The kernel's general path.
    General = 0,
    /// Called by the machine with interrupts on.
    Fast = 0x6,
    /// Called by the machine with interrupts off: for a handler that would turn them
    /// off first thing (a yield: the dispatcher switches with them off).
    FastIntrOff = 0x4,
}

/// Why the machine left user mode and called [`crate::Upcalls::user_trap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserTrap {
    /// `ta 0x40` whose table entry is not `fast` (or whose number has none): `pc`/
    /// `npc` already point past the trap instruction; the kernel runs the call and
    /// leaves its results in the frame.
    Syscall,
    /// The LWP's own instruction faulted (S13): `pc` is the faulting instruction.
    Fault(Fault),
    /// Work the kernel asked for in the thread's [`PendingWork`] (a bit outside
    /// `MACHINE` is set): its chance to act — stop, exit, point the registers at a
    /// signal handler — before user mode goes on.
    Return,
}

/// A fault taken by user code (S13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// What went wrong, which decides the signal and its code.
    pub kind: FaultKind,
    /// The address that faulted (data faults) or the faulting instruction's.
    pub addr: u64,
}

/// What kind of fault: the kernel turns each into its signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// An address with no mapping (SIGSEGV, `SEGV_MAPERR`).
    Unmapped,
    /// A mapped address without the right (write to read-only, fetch from data,
    /// user access to the kernel): SIGSEGV, `SEGV_ACCERR`.
    Protection,
    /// A misaligned access (SIGBUS, `BUS_ADRALN`); also a register window whose
    /// stack pointer is misaligned or lacks the stack bias.
    Misaligned,
    /// An illegal instruction (SIGILL, `ILL_ILLOPC`).
    IllegalInstruction,
    /// A privileged instruction (SIGILL, `ILL_PRVOPC`).
    PrivilegedInstruction,
    /// Integer division by zero (SIGFPE, `FPE_INTDIV`): the hardware's, or
    /// Solaris' `ta 2` (`ST_DIV0`) that compiled code makes for it.
    DivisionByZero,
    /// A breakpoint: Solaris' `ta 1` (`ST_BREAKPOINT`), SIGTRAP (`TRAP_BRKPT`).
    Breakpoint,
    /// A floating-point operation raised an IEEE exception the LWP enabled traps
    /// for (SIGFPE, with the code of the exception).
    Float(FloatKind),
    /// A register window could be neither spilled to nor filled from the user
    /// stack at `addr` (SIGSEGV): the stack cannot be repaired.
    BadStack,
    /// Any other trap from user mode, by trap type (SIGILL).
    Other(u16),
}

/// The IEEE 754 exception of a [`FaultKind::Float`] (Solaris' `FPE_FLT*` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatKind {
    /// Division by zero (`FPE_FLTDIV`).
    DivideByZero,
    /// Overflow (`FPE_FLTOVF`).
    Overflow,
    /// Underflow (`FPE_FLTUND`).
    Underflow,
    /// An inexact result (`FPE_FLTRES`).
    Inexact,
    /// An invalid operation, such as 0/0 (`FPE_FLTINV`).
    Invalid,
}

/// An LWP's floating-point registers as `ucontext_t` carries them (Solaris'
/// `fpregset_t`): the 32 double registers (`%f0`, `%f2`, ... `%f62`; the single
/// registers are their halves) and `%fsr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FpRegs {
    /// The double registers.
    pub d: [u64; 32],
    /// The FP state register: rounding, trap enables, exceptions.
    pub fsr: u64,
}

bitflags! {
    /// The rights of a user mapping.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Prot: u8 {
        /// User loads may read the pages (Solaris' `PROT_READ`).
        const READ = 1;
        /// User stores may write the pages (Solaris' `PROT_WRITE`).
        const WRITE = 2;
        /// User mode may fetch instructions from the pages (Solaris' `PROT_EXEC`).
        const EXEC = 4;
    }
}

/// Why an address-space operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// Not page-aligned, empty, outside `0..USER_LIMIT`, or where the machine keeps
    /// addresses for itself (on sparc64: the kernel's own window).
    BadRange,
    /// Part of the range is mapped already (`as_map`).
    Overlap,
    /// Part of the range is not mapped (`as_write`, `as_read`, `as_protect`).
    Unmapped,
    /// No memory for pages or tables, or no MMU context left.
    NoMemory,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_keeps_a_gregset_with_ccr_and_asi_in_tstate() {
        let mut r = UserRegs::for_entry(0x10_0000, 0x7fff_0000, 5);
        for i in [reg::G1, reg::G7, reg::O7] {
            r.r[i] = 0x1111 * i as u64;
        }
        r.r[reg::CCR] = 0x44;
        r.r[reg::ASI] = 0x82;
        r.r[reg::Y] = 0xdead_beef;
        let f = UserFrame::new(&r);
        assert_eq!(f.load(), r);
        assert_eq!(f.data().tstate.load(Ordering::Relaxed), 0x44 << 32 | 0x82 << 24);
        assert_eq!(f.data().g[1].load(Ordering::Relaxed), r.r[reg::G1]);
        assert_eq!(f.sp(), r.sp());
        f.set(reg::Y, 1 << 40 | 3);
        assert_eq!(f.get(reg::Y), 3, "%y is 32 bits");
        f.set(reg::CCR, 0x1ff);
        assert_eq!((f.get(reg::CCR), f.get(reg::ASI)), (0xff, 0x82));
    }

    #[test]
    fn results_set_and_clear_the_carry_and_shares_are_the_same_registers() {
        let f = UserFrame::new(&UserRegs::default());
        let g = f.share();
        g.set_error(14);
        assert!(f.failed() && f.get(reg::O0) == 14 && f.get(reg::CCR) == CCR_CARRY);
        f.set_rval(7, 8);
        assert!(!g.failed());
        assert_eq!((g.get(reg::O0), g.get(reg::O0 + 1)), (7, 8));
        assert!(f.same(&g));
        let c = f.clone();
        assert!(c == f && !c.same(&f), "a clone is a copy, not a share");
        c.set(reg::O0, 1);
        assert_eq!(f.get(reg::O0), 7);
        f.data().sysc.store(1, Ordering::Relaxed);
        assert_eq!((g.syscalls(), c.syscalls()), (1, 0));
    }

    #[test]
    fn a_frame_is_renewed_in_place_only_when_nothing_shares_it() {
        let mut f = UserFrame::new(&UserRegs::for_entry(0x1000, 0x8000, 1));
        f.data().sysc.store(9, Ordering::Relaxed);
        let block = f.data() as *const FrameData;
        let fresh = UserRegs::for_entry(0x2000, 0x9000, 2);
        f.renew(&fresh).expect("renewed");
        assert!(core::ptr::eq(f.data(), block), "renewed in its own block");
        assert_eq!((f.load(), f.syscalls()), (fresh, 0));
        let shared = f.share();
        f.renew(&UserRegs::for_entry(0x3000, 0xa000, 3)).expect("renewed");
        assert!(!f.same(&shared), "a shared block is left to its other handle");
        assert_eq!(shared.load(), fresh);
        assert_eq!(f.pc(), 0x3000);
    }

    #[test]
    fn an_exchange_moves_registers_in_place_and_empty_handles_hold_none() {
        let slot = UserFrame::empty();
        assert!(slot.is_empty() && !slot.same(&UserFrame::empty()));
        let regs = UserRegs::for_entry(0x4000, 0x8000, 9);
        let f = UserFrame::new(&regs);
        let share = f.share();
        assert!(slot.exchange(f).is_empty(), "the slot held nothing");
        assert!(slot.same(&share) && slot.pc() == 0x4000);
        // Taken back: the slot is empty again and the registers live on in the handle.
        let back = slot.exchange(UserFrame::empty());
        assert!(slot.is_empty() && back.same(&share));
        assert!(slot.share().is_empty(), "a share of nothing is nothing");
    }

    #[test]
    fn an_image_brings_back_every_register_and_the_count_but_only_unshared() {
        let mut r = UserRegs::for_entry(0x10_0000, 0x7fff_0000, 5);
        for (i, v) in r.r.iter_mut().enumerate() {
            *v = 0x0101_0101_0101_0101 * (i as u64 + 1);
        }
        r.r[reg::CCR] = 0x44;
        r.r[reg::ASI] = 0x82;
        r.r[reg::Y] = 0xdead_beef;
        r.r[reg::FPRS] = 0;
        let mut f = UserFrame::new(&r);
        f.data().sysc.store(31, Ordering::Relaxed);
        let mut image = [0u8; UserFrame::IMAGE_MAX];
        let other = f.share();
        assert_eq!(f.save_image(&mut image), None, "a shared frame may still change");
        drop(other);
        assert!(f.is_unique());
        let len = f.save_image(&mut image).expect("the only handle");
        let back = UserFrame::from_image(&image[..len]).expect("a good image");
        assert_eq!((back.load(), back.syscalls()), (r, 31));
        assert!(!back.same(&f), "a new block");
        assert_eq!(
            UserFrame::from_image(&image[..len - 1]).err(),
            Some(FrameImageError::Malformed)
        );
        assert_eq!(UserFrame::from_image(&image[..8]).err(), Some(FrameImageError::Malformed));
    }

    #[test]
    fn pending_work_bits_are_set_and_taken() {
        let p = PendingWork::new();
        p.set(1);
        p.set(PendingWork::MACHINE & 0x1_0000);
        assert_eq!(p.take(!PendingWork::MACHINE), 1);
        assert_eq!(p.get(), 0x1_0000);
        assert_eq!(p.take(!PendingWork::MACHINE), 0);
    }
}
