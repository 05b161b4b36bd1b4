//! The per-CPU block: each simulated CPU's registers and flags, reached through the
//! host thread's `%gs` base.
//!
//! Why `%gs` and not `thread_local!`: a simulated thread that is preempted inside the
//! clock signal handler may be resumed later by another CPU, that is, on another host
//! thread. Compiled code may compute a thread-local's address once and keep it in a
//! register (LLVM takes the thread pointer as constant within a function), so after
//! such a migration it would read or write the old CPU's copy. Every access here is a
//! single `%gs`-relative instruction, which reaches the block of whichever CPU
//! executes it at that instant, as a register access does on the real machine. Nothing
//! else in the process uses `%gs` on x86_64 Linux (glibc and Rust use `%fs`).
//!
//! Only the host threads that are simulated CPUs have a `%gs` block. [`Cpu::here`]
//! tells them apart with a thread-local flag: that one is safe to read even from a
//! stale address, since it holds the same value on every CPU thread, and every CPU
//! thread keeps living until no simulated code runs anywhere (see `sim::cpu_thread`).
//!
//! In the seeded mode (`det`) one host thread runs every simulated CPU in turn and
//! repoints `%gs` at the block of the CPU it continues ([`set_gs`]): nothing here
//! assumes one host thread per CPU.
//!
//! Interrupt masking is the CPU's own: [`Cpu::intr_disable`] and
//! [`Cpu::intr_restore`] turn its flag off and back, and a restore that finds an
//! interrupt pending takes it through the boot's interrupt vector (`intr`
//! delivers it), as a real CPU traps the moment its interrupts come on.
//! [`Cpu::critical`] builds on them.

use core::arch::asm;
use core::cell::Cell;
use core::marker::PhantomData;
use core::mem::offset_of;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use super::Boot;

std::thread_local! {
    /// Whether this host thread is a simulated CPU whose `%gs` points at its block.
    static IS_CPU: Cell<bool> = const { Cell::new(false) };
}

/// `arch_prctl` code that sets this thread's `%gs` base.
const ARCH_SET_GS: libc::c_int = 0x1001;

/// One simulated CPU. The fields up to `user_mode` are the CPU's registers and flags,
/// read and written through `%gs` by the CPU itself; the rest is the host's
/// bookkeeping, reached through the [`Boot`].
#[repr(C)]
pub(super) struct PerCpu {
    /// The current-thread register (`%g7` on the real machine): a `&'static T` of the
    /// kernel's one `ThreadRegister` type, or 0.
    curthread: AtomicUsize,
    /// The context that runs on this CPU, so that `switch` can check its `from`; 0
    /// until the kernel names the boot thread's (`Machine::context_boot`; the
    /// machine's own tests may not). Its user state comes first in it:
    /// `user` reads the running thread's there.
    cur_ctx: AtomicUsize,
    /// The address of this block, for reading several fields while interrupts are
    /// disabled (the simulated thread cannot migrate then).
    this: AtomicUsize,
    /// The machine this CPU belongs to: the same on every CPU of a boot.
    boot: AtomicUsize,
    /// The host stack frame to go back to when the machine halts.
    exit_sp: AtomicUsize,
    /// How many clock interrupts this CPU has taken.
    intr_count: AtomicU64,
    /// Nonzero while the CPU holds a host lock (allocator, console): a halt must not
    /// abandon the CPU's stack then.
    crit: AtomicU32,
    intr_enabled: AtomicU8,
    intr_pending: AtomicU8,
    /// Whether simulated code may run on this CPU's host thread: set while it is
    /// inside `sim::enter`, cleared as it leaves for good.
    in_sim: AtomicU8,
    /// Whether the machine runs in the seeded mode (the same on every CPU of a boot).
    seeded: AtomicU8,
    /// Whether the CPU runs user code (`user`).
    user_mode: AtomicU8,
    /// Spin locks held that forbid allocation (`kmem`): changed by the CPU itself
    /// with interrupts disabled, read by the allocator.
    noalloc: AtomicU32,
    /// Set while the machine allocates for itself (its console): not the kernel
    /// heap's (`host_alloc`).
    machine_own: AtomicU8,

    /// This CPU's number.
    pub(super) cpu: usize,
    /// The host thread's `pthread_t`, for the clock and for halt's kicks; 0 until known.
    pub(super) pthread: AtomicUsize,
    /// Whether the CPU has gone back to its host stack for good.
    pub(super) out: AtomicBool,
    /// The clock period, 0 while the clock is stopped.
    pub(super) clock_period_ns: AtomicU64,
    /// When the clock interrupts next.
    pub(super) clock_next_ns: AtomicU64,
    /// A clock tick is due (set by the clock thread before it signals the CPU).
    pub(super) clock_due: AtomicBool,
    /// A cross-call is due (set by `poke` before it signals the CPU).
    pub(super) poked: AtomicBool,
    /// The disk finished transfers (`disk`): its interrupt is due.
    pub(super) disk_due: AtomicBool,
    /// The host thread's own alternate signal stack (`ss_sp`, `ss_size`,
    /// `ss_flags`), put aside while it is a CPU: see [`PerCpu::attach`].
    altstack: [AtomicUsize; 3],
}

impl PerCpu {
    pub(super) fn new(cpu: usize) -> Self {
        PerCpu {
            curthread: AtomicUsize::new(0),
            cur_ctx: AtomicUsize::new(0),
            this: AtomicUsize::new(0),
            boot: AtomicUsize::new(0),
            exit_sp: AtomicUsize::new(0),
            intr_count: AtomicU64::new(0),
            crit: AtomicU32::new(0),
            // A CPU boots with interrupts disabled, as the real one does.
            intr_enabled: AtomicU8::new(0),
            intr_pending: AtomicU8::new(0),
            in_sim: AtomicU8::new(0),
            seeded: AtomicU8::new(0),
            user_mode: AtomicU8::new(0),
            noalloc: AtomicU32::new(0),
            machine_own: AtomicU8::new(0),
            cpu,
            pthread: AtomicUsize::new(0),
            out: AtomicBool::new(false),
            clock_period_ns: AtomicU64::new(0),
            clock_next_ns: AtomicU64::new(0),
            clock_due: AtomicBool::new(false),
            poked: AtomicBool::new(false),
            disk_due: AtomicBool::new(false),
            altstack: [AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)],
        }
    }

    /// The `exit_sp` slot, for `sim::enter` to save the host frame in.
    pub(super) fn exit_sp_slot(&self) -> &AtomicUsize {
        &self.exit_sp
    }

    pub(super) fn set_in_sim(&self, on: bool) {
        self.in_sim.store(on as u8, Ordering::SeqCst);
    }

    /// Marks the CPU as one of a seeded machine's, before it runs.
    pub(super) fn set_seeded(&self) {
        self.seeded.store(1, Ordering::Relaxed);
    }

    /// Whether an interrupt is pending on this CPU (read by the seeded scheduler,
    /// which runs one CPU at a time, about another).
    pub(super) fn pending(&self) -> bool {
        self.intr_pending.load(Ordering::Relaxed) != 0
    }

    /// In the seeded mode: makes this block one of the CPUs of the calling host thread,
    /// which [`PerCpu::attach`]ed another one first. `%gs` moves here only when the
    /// thread continues this CPU ([`set_gs`]).
    pub(super) fn attach_alias(&self, boot: &Boot, pthread: usize) {
        self.this.store(self as *const PerCpu as usize, Ordering::Relaxed);
        self.boot.store(boot as *const Boot as usize, Ordering::Relaxed);
        self.pthread.store(pthread, Ordering::Release);
    }

    /// Makes the calling host thread this CPU: its `%gs` points here from now on.
    /// The clock signal must be blocked (the handler would see a half-made CPU).
    pub(super) fn attach(&self, boot: &Boot) {
        self.this.store(self as *const PerCpu as usize, Ordering::Relaxed);
        self.boot.store(boot as *const Boot as usize, Ordering::Relaxed);
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        self.pthread.store(me as usize, Ordering::Release);
        self.put_altstack_aside();
        set_gs(self as *const PerCpu as usize);
        IS_CPU.with(|c| c.set(true));
    }

    /// Undoes [`PerCpu::attach`]; no simulated code may run anywhere any more.
    pub(super) fn detach(&self) {
        IS_CPU.with(|c| c.set(false));
        set_gs(0);
        let ss = libc::stack_t {
            ss_sp: self.altstack[0].load(Ordering::Relaxed) as *mut libc::c_void,
            ss_size: self.altstack[1].load(Ordering::Relaxed),
            ss_flags: self.altstack[2].load(Ordering::Relaxed) as libc::c_int,
        };
        if ss.ss_flags & libc::SS_DISABLE == 0 {
            // SAFETY: this is the alternate stack std installed for this thread,
            // still mapped (std unmaps it only as the thread exits).
            unsafe { libc::sigaltstack(&ss, core::ptr::null_mut()) };
        }
    }

    /// Disables the host thread's alternate signal stack while it is a CPU.
    ///
    /// `rt_sigreturn` installs the alternate-stack settings saved in the signal frame
    /// on the thread that returns. A thread preempted on one CPU and resumed on
    /// another returns from the signal on a different host thread, which would then
    /// use the first thread's alternate stack (shared, and unmapped when that thread
    /// exits). With none on any CPU thread, the saved settings are the same
    /// everywhere. (The cost: a stack overflow on a CPU's boot stack dies as a plain
    /// SIGSEGV, without std's message.) The signal mask, also restored from the
    /// frame, is likewise the same on every CPU thread.
    fn put_altstack_aside(&self) {
        // SAFETY: an all-zero stack_t is a valid value; sigaltstack writes the old
        // settings into `old` and only disables the thread's alternate stack.
        let old = unsafe {
            let mut old: libc::stack_t = core::mem::zeroed();
            let off = libc::stack_t {
                ss_sp: core::ptr::null_mut(),
                ss_size: 0,
                ss_flags: libc::SS_DISABLE,
            };
            if libc::sigaltstack(&off, &mut old) != 0 {
                old.ss_flags = libc::SS_DISABLE;
            }
            old
        };
        self.altstack[0].store(old.ss_sp as usize, Ordering::Relaxed);
        self.altstack[1].store(old.ss_size, Ordering::Relaxed);
        self.altstack[2].store(old.ss_flags as usize, Ordering::Relaxed);
    }
}

/// Points the calling host thread's `%gs` at `pc`: from now on it executes as that
/// CPU. The seeded mode calls this at every change of CPU.
pub(super) fn set_gs_to(pc: &PerCpu) {
    set_gs(pc as *const PerCpu as usize)
}

/// `AT_HWCAP2` bit: the kernel lets user code run `wrgsbase`.
const HWCAP2_FSGSBASE: libc::c_ulong = 1 << 1;

fn set_gs(base: usize) {
    // 0: not known yet, 1: wrgsbase, 2: arch_prctl.
    static HOW: AtomicU8 = AtomicU8::new(0);
    let mut how = HOW.load(Ordering::Relaxed);
    if how == 0 {
        // SAFETY: getauxval has no preconditions.
        let hwcap2 = unsafe { libc::getauxval(libc::AT_HWCAP2) };
        how = if hwcap2 & HWCAP2_FSGSBASE != 0 { 1 } else { 2 };
        HOW.store(how, Ordering::Relaxed);
    }
    if how == 1 {
        // SAFETY: as below; the kernel enabled the instruction (HWCAP2_FSGSBASE), and
        // it writes the %gs base of the calling thread and nothing else. (Encoded by
        // hand: `wrgsbase rax`, which needs no target feature that way.)
        unsafe {
            asm!(
                ".byte 0xf3, 0x48, 0x0f, 0xae, 0xd8",
                in("rax") base,
                options(nostack, preserves_flags),
            );
        }
        return;
    }
    // SAFETY: ARCH_SET_GS changes only the calling thread's %gs base, which nothing
    // but this module reads; `Cpu` accessors are only reachable while IS_CPU says the
    // base is a live PerCpu.
    let r = unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_SET_GS, base) };
    assert_eq!(r, 0, "sim: arch_prctl(ARCH_SET_GS) failed");
}

/// Proof that the executing host thread is a simulated CPU, so `%gs` holds a live
/// [`PerCpu`]. A simulated thread may keep one across a migration: it then proves
/// the same of the new CPU's host thread.
#[derive(Clone, Copy)]
pub(super) struct Cpu(PhantomData<*const ()>);

macro_rules! off {
    ($field:ident) => {
        offset_of!(PerCpu, $field)
    };
}

impl Cpu {
    /// The token, if this host thread is a simulated CPU.
    #[inline]
    pub(super) fn here() -> Option<Cpu> {
        if IS_CPU.with(Cell::get) {
            Some(Cpu(PhantomData))
        } else {
            None
        }
    }

    /// The token; panics naming `what` when called off the simulated CPUs.
    #[inline]
    #[track_caller]
    pub(super) fn expect(what: &str) -> Cpu {
        match Cpu::here() {
            Some(cpu) => cpu,
            None => not_on_cpu(what),
        }
    }

    #[inline(always)]
    fn load<const OFF: usize>(self) -> usize {
        let v: usize;
        // SAFETY: the token proves %gs holds a live PerCpu; OFF is the offset of one
        // of its word-sized fields.
        unsafe {
            asm!("mov {v}, qword ptr gs:[{o}]", v = out(reg) v, o = const OFF,
                 options(nostack, preserves_flags, readonly));
        }
        v
    }

    #[inline(always)]
    fn store<const OFF: usize>(self, v: usize) {
        // SAFETY: as in `load`; the field is an atomic, so writing it is allowed
        // through a shared PerCpu.
        unsafe {
            asm!("mov qword ptr gs:[{o}], {v}", v = in(reg) v, o = const OFF,
                 options(nostack, preserves_flags));
        }
    }

    #[inline(always)]
    fn load8<const OFF: usize>(self) -> bool {
        let v: u8;
        // SAFETY: as in `load`, for a byte-sized field.
        unsafe {
            asm!("mov {v}, byte ptr gs:[{o}]", v = out(reg_byte) v, o = const OFF,
                 options(nostack, preserves_flags, readonly));
        }
        v != 0
    }

    #[inline(always)]
    fn store8<const OFF: usize>(self, v: bool) {
        // SAFETY: as in `store`, for a byte-sized field.
        unsafe {
            asm!("mov byte ptr gs:[{o}], {v}", v = in(reg_byte) v as u8, o = const OFF,
                 options(nostack, preserves_flags));
        }
    }

    /// Swaps a byte flag in one instruction, so that no signal can fall between the
    /// read and the write.
    #[inline(always)]
    fn swap8<const OFF: usize>(self, v: bool) -> bool {
        let mut v = v as u8;
        // SAFETY: as in `store`, for a byte-sized field.
        unsafe {
            asm!("xchg byte ptr gs:[{o}], {v}", v = inout(reg_byte) v, o = const OFF,
                 options(nostack, preserves_flags));
        }
        v != 0
    }

    #[inline]
    pub(super) fn curthread(self) -> usize {
        self.load::<{ off!(curthread) }>()
    }
    #[inline]
    pub(super) fn set_curthread(self, t: usize) {
        self.store::<{ off!(curthread) }>(t)
    }
    #[inline]
    pub(super) fn cur_ctx(self) -> usize {
        self.load::<{ off!(cur_ctx) }>()
    }
    #[inline]
    pub(super) fn set_cur_ctx(self, c: usize) {
        self.store::<{ off!(cur_ctx) }>(c)
    }
    #[inline]
    pub(super) fn cpu(self) -> usize {
        self.load::<{ off!(cpu) }>()
    }
    #[inline]
    pub(super) fn exit_sp(self) -> usize {
        self.load::<{ off!(exit_sp) }>()
    }
    #[inline]
    pub(super) fn intr_count(self) -> u64 {
        self.load::<{ off!(intr_count) }>() as u64
    }
    /// The address of the CPU's block: which CPU this is, as one comparable word.
    #[inline]
    pub(super) fn this_addr(self) -> usize {
        self.load::<{ off!(this) }>()
    }

    /// Counts a clock interrupt taken.
    #[inline]
    pub(super) fn count_intr(self) {
        // SAFETY: as in `load`, for the u64 field `intr_count`; one instruction.
        unsafe {
            asm!("inc qword ptr gs:[{o}]", o = const off!(intr_count), options(nostack));
        }
    }

    #[inline]
    pub(super) fn intr_enabled(self) -> bool {
        self.load8::<{ off!(intr_enabled) }>()
    }
    #[inline]
    pub(super) fn set_intr_enabled(self, on: bool) {
        self.store8::<{ off!(intr_enabled) }>(on)
    }
    #[inline]
    pub(super) fn swap_intr_enabled(self, on: bool) -> bool {
        self.swap8::<{ off!(intr_enabled) }>(on)
    }

    /// Disables interrupts on this CPU; returns whether they were enabled.
    #[inline]
    pub(super) fn intr_disable(self) -> bool {
        self.swap_intr_enabled(false)
    }

    /// Restores the state [`Cpu::intr_disable`] returned, taking any interrupt that
    /// became pending meanwhile: through the machine's interrupt vector
    /// (`Boot::intr_vector`, `intr::run_pending`), as a real CPU traps to its table
    /// the moment its interrupts come back on.
    #[inline]
    pub(super) fn intr_restore(self, was_enabled: bool) {
        if was_enabled {
            self.set_intr_enabled(true);
            if self.intr_pending() {
                (self.boot().intr_vector)(self);
            }
        } else {
            self.set_intr_enabled(false);
        }
    }

    #[inline]
    pub(super) fn intr_pending(self) -> bool {
        self.load8::<{ off!(intr_pending) }>()
    }
    #[inline]
    pub(super) fn set_intr_pending(self, on: bool) {
        self.store8::<{ off!(intr_pending) }>(on)
    }
    #[inline]
    pub(super) fn swap_intr_pending(self, on: bool) -> bool {
        self.swap8::<{ off!(intr_pending) }>(on)
    }
    /// Whether the machine runs in the seeded mode.
    #[inline]
    pub(super) fn seeded(self) -> bool {
        self.load8::<{ off!(seeded) }>()
    }
    #[inline]
    pub(super) fn user_mode(self) -> bool {
        self.load8::<{ off!(user_mode) }>()
    }
    #[inline]
    pub(super) fn set_user_mode(self, on: bool) {
        self.store8::<{ off!(user_mode) }>(on)
    }
    #[inline]
    pub(super) fn swap_user_mode(self, on: bool) -> bool {
        self.swap8::<{ off!(user_mode) }>(on)
    }
    #[inline]
    pub(super) fn in_sim(self) -> bool {
        self.load8::<{ off!(in_sim) }>()
    }
    #[inline]
    pub(super) fn set_in_sim(self, on: bool) {
        self.store8::<{ off!(in_sim) }>(on)
    }

    /// Whether the CPU runs the machine's own code, whose allocations are not the
    /// kernel heap's.
    #[inline]
    pub(super) fn machine_own(self) -> bool {
        self.load8::<{ off!(machine_own) }>()
    }

    /// Runs `f`, the machine's own work, in a [`Cpu::critical`] section, with its
    /// allocations kept off the kernel heap.
    pub(super) fn machine<R>(self, f: impl FnOnce() -> R) -> R {
        self.critical(|| {
            let was = self.swap8::<{ off!(machine_own) }>(true);
            let r = f();
            self.store8::<{ off!(machine_own) }>(was);
            r
        })
    }

    /// Spin locks this CPU holds that forbid allocation.
    #[inline]
    pub(super) fn noalloc(self) -> u32 {
        self.load32::<{ off!(noalloc) }>()
    }
    #[inline]
    pub(super) fn set_noalloc(self, n: u32) {
        // SAFETY: as in `load`, for the u32 field `noalloc`.
        unsafe {
            asm!("mov dword ptr gs:[{o}], {v:e}", v = in(reg) n, o = const off!(noalloc),
                 options(nostack, preserves_flags));
        }
    }

    #[inline(always)]
    fn load32<const OFF: usize>(self) -> u32 {
        let v: u32;
        // SAFETY: as in `load`, for a u32 field.
        unsafe {
            asm!("mov {v:e}, dword ptr gs:[{o}]", v = out(reg) v, o = const OFF,
                 options(nostack, preserves_flags, readonly));
        }
        v
    }

    #[inline]
    pub(super) fn in_critical(self) -> bool {
        self.load32::<{ off!(crit) }>() != 0
    }

    /// The CPU's block. Which CPU that is can change under the caller's feet while
    /// interrupts are enabled (the thread may be preempted and migrate), so only use
    /// it with interrupts disabled, or for fields that are the same on every CPU.
    #[inline]
    pub(super) fn percpu(self) -> &'static PerCpu {
        // SAFETY: `this` is the address of the live PerCpu that %gs points at; it
        // lives in the Boot, which outlives every simulated thread of the boot (the
        // 'static is a white lie that no caller keeps past its simulated code).
        unsafe { &*(self.this_addr() as *const PerCpu) }
    }

    /// The machine this CPU belongs to.
    #[inline]
    pub(super) fn boot(self) -> &'static Boot {
        // SAFETY: `boot` was set from a live Boot in `attach`; the Boot is kept alive
        // (by `run` and every CPU thread's Arc) until no simulated code runs any more.
        unsafe { &*(self.load::<{ off!(boot) }>() as *const Boot) }
    }

    /// Runs `f`, which takes a host lock, so that the CPU can neither be interrupted
    /// nor abandoned by a halt while it holds the lock: a handler on the same host
    /// thread taking that lock again would deadlock, and an abandoned holder would
    /// block the whole process.
    #[inline]
    pub(super) fn critical<R>(self, f: impl FnOnce() -> R) -> R {
        // Interrupts go off first: the thread cannot migrate between this and the
        // `inc`, so the count it puts up and takes down is the same CPU's.
        let was = self.intr_disable();
        // SAFETY: as in `load`, for the u32 field `crit`; one instruction.
        unsafe { asm!("inc dword ptr gs:[{o}]", o = const off!(crit), options(nostack)) };
        let r = f();
        // SAFETY: as above.
        unsafe { asm!("dec dword ptr gs:[{o}]", o = const off!(crit), options(nostack)) };
        self.intr_restore(was);
        r
    }
}

/// [`Cpu::critical`] on a simulated CPU; just `f()` on any other host thread.
#[inline]
pub(super) fn host_critical<R>(f: impl FnOnce() -> R) -> R {
    match Cpu::here() {
        Some(cpu) => cpu.critical(f),
        None => f(),
    }
}

/// [`host_critical`], the allocations of `f` the machine's own, not the kernel
/// heap's (`Cpu::machine`).
pub(super) fn host_machine<R>(f: impl FnOnce() -> R) -> R {
    match Cpu::here() {
        Some(cpu) => cpu.machine(f),
        None => f(),
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn not_on_cpu(what: &str) -> ! {
    panic!("sim: {what} called outside a simulated CPU (only inside arch::sim::boot)")
}
