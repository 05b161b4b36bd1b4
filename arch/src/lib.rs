//! The machine under the portable kernel.
//!
//! `kern` reaches the hardware only through the [`Machine`] trait defined here.
//! Two machines implement it:
//!
//! * `sparc64` — the real one: an UltraSPARC-IIi under `qemu-system-sparc64 -M sun4u`
//!   (S19). `%g7` is the current-thread register (S7), `resume()` flushes the
//!   register windows and switches kernel stacks (S17), `%tick_cmpr` is the clock.
//! * [`sim`] — the host simulation machine: simulated CPUs, each with its own
//!   current-thread register, real stack switches, and a simulated clock interrupt, so
//!   that the same `kern` source is tested on the host (S3, S19). The CPUs run as host
//!   threads in parallel, or on one host thread interleaved by a seeded schedule in
//!   virtual time, so that a run replays exactly from its seed.
//!
//! Which one is compiled is chosen by the target; [`M`] names it. Everything
//! `unsafe` or target-specific lives in this crate: `kern` denies `unsafe_code`.
//!
//! What a release store or an acquire load costs is the machine's memory model's
//! ([`order`]): SPARC's TSO needs no barrier instruction for either.
//!
//! Calls that the machine makes into the kernel (the clock interrupt, system calls,
//! faults in user mode) go through [`Upcalls`], which `kern` registers at boot, so
//! that the dependency arrow points one way only: `kern` → `arch`.
//!
//! User mode (S3, S5.1, S13, S16) is the machine's too: an address space
//! ([`Machine::AddrSpace`]: an MMU context and its pages, which come from the
//! machine's page pool, apart from the kernel heap: [`Machine::page_stats`]),
//! entering user mode with
//! the [`UserFrame`] that holds an LWP's registers ([`Machine::user_enter`]),
//! `copyin`/`copyout` with the user's own rights, system calls through the kernel's
//! table ([`Upcalls::sysent`]), and every other way back into the kernel through
//! [`Upcalls::user_trap`] — including the work a thread's [`PendingWork`] word asks
//! for before it goes back to user mode. While an LWP does not run, the kernel may
//! take its registers back from the machine ([`Machine::user_frame_detach`]) to
//! swap them out with its `lwp` structure (S5), and give them back later.
//!
//! The machine's disk, the swap device, is reached through block I/O ([`blk`]):
//! requests handed over with their buffers, completions by interrupt
//! ([`Upcalls::blk_intr`]) and taken back with [`Machine::blk_reap`].

#![no_std]
#![cfg_attr(target_arch = "sparc64", feature(asm_experimental_arch))]
#![warn(missing_docs)]
// The documentation is read with the private items (`cargo doc --document-private-items`):
// a module's theory links the private functions it explains.
#![allow(rustdoc::private_intra_doc_links)]

extern crate alloc;
#[cfg(not(target_arch = "sparc64"))]
extern crate std;

pub mod blk;
pub mod cell;
pub mod kmem;
pub mod order;
pub mod uregs;

pub use blk::{BlkBuf, BlkDone, BlkError, BlkOp, BlkRequest, SECTOR_SIZE};
pub use kmem::{HeapStats, PageStats};
pub use uregs::{
    reg, Fault, FaultKind, FloatKind, FpRegs, FrameImageError, MapError, PendingWork, Prot, SysEnt,
    SysHandler, SysPath, SysRet, UserFrame, UserRegs, UserTrap, UserWindow, UserWindows, PAGE_SIZE,
    USER_LIMIT, USER_WBUF_WINDOWS,
};

#[cfg(target_arch = "sparc64")]
pub mod sparc64;
/// The machine this build runs on.
#[cfg(target_arch = "sparc64")]
pub type M = sparc64::Sparc64;
#[cfg(target_arch = "sparc64")]
use sparc64::user::MachFrame;

#[cfg(not(target_arch = "sparc64"))]
pub mod sim;
/// The machine this build runs on.
#[cfg(not(target_arch = "sparc64"))]
pub type M = sim::Sim;
#[cfg(not(target_arch = "sparc64"))]
use sim::user::MachFrame;

/// The type whose `&'static` the current-thread register holds.
///
/// # Safety
///
/// Exactly one type in the whole kernel may implement this trait: the kernel's thread
/// structure. The register is untyped; [`Machine::curthread`] turns its contents
/// back into a `&'static Self`, which is sound only if every pointer ever stored
/// there came from a `&'static` of that same type. The type's first field, at offset
/// 0, must be the thread's [`PendingWork`] word (a `#[repr(C)]` structure): the
/// machine's return path to user mode reads it straight through the register.
pub unsafe trait ThreadRegister: Sync + 'static {}

/// How a kernel thread starts: the function runs on the thread's own kernel stack,
/// with interrupts *disabled* (the kernel first finishes the switch that brought the
/// thread in, then enables them), and never returns: it ends by switching away for good.
pub type ThreadEntry = fn(usize) -> !;

/// The kernel's entry points that the machine calls.
pub struct Upcalls {
    /// The clock interrupt (S2's clock thread work, time slicing), told whether it
    /// interrupted user mode (S5.6: whose time the tick was). Runs with
    /// interrupts disabled on the interrupted thread's stack; it may switch threads,
    /// and the interrupted thread resumes where it was when it is switched back in.
    pub clock_intr: fn(from_user: bool),
    /// A cross-call from another CPU ([`Machine::poke_cpu`]): this CPU should look at
    /// its dispatch queue again. Runs like `clock_intr`.
    pub poke_intr: fn(),
    /// The system-call table (Solaris' `sysent`): entry `n` serves call number `n`.
    /// The machine calls a `fast` entry itself, straight from its trap path, with
    /// interrupts enabled, and puts its results in the LWP's registers; anything
    /// else is a [`UserTrap::Syscall`].
    pub sysent: &'static [SysEnt],
    /// User mode was left for the kernel (a system call that is not `fast`, a
    /// fault, or pending work on the way back): runs on the LWP's kernel stack with
    /// interrupts enabled, with the LWP's registers in `frame` as the trap saved
    /// them; what it leaves there is what user mode resumes with. It may sleep,
    /// switch, or never return (the LWP exits). `why` comes by reference so that a
    /// machine can make this call its last, as a tail call, in its own caller's
    /// register window (a value of that size would be a copy in its stack frame).
    pub user_trap: fn(frame: &UserFrame, why: &UserTrap),
    /// The disk finished one or more transfers ([`Machine::blk_reap`] hands them
    /// back). Runs like `clock_intr`, with interrupts disabled.
    pub blk_intr: fn(),
    /// A trap nobody expected was taken in the kernel, at `pc` with the trapped
    /// code's kernel stack at `sp`: the machine has printed its register report,
    /// and stops with failure when this returns. The kernel adds what it knows
    /// (its threads, the trapped stack: `kern::kmdb`), with interrupts off.
    pub fatal_trap: fn(pc: usize, sp: usize),
}

/// Where a walk of a kernel stack ([`Machine::stack_walk`]) begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkFrom {
    /// The registers a switched-out thread's context saved (S17).
    Saved,
    /// The caller of `stack_walk`, in the running thread.
    Here,
    /// A trap: the trapped `pc`, and the trapped code's stack pointer `sp`.
    Trap {
        /// The address of the trapped instruction: the first frame of the walk.
        pc: usize,
        /// The trapped code's kernel stack pointer as `%sp` held it (on sparc64,
        /// biased by the V9 stack bias of 2047).
        sp: usize,
    },
}

/// How the kernel's spin locks wait: through the machine, so that the host
/// simulation can let another simulated CPU run meanwhile.
pub struct Relax;

impl spin::RelaxStrategy for Relax {
    #[inline(always)]
    fn relax() {
        M::relax()
    }
}

/// The fixed surface every machine implements, and the only one `kern` uses.
pub trait Machine {
    /// A kernel thread's machine context (S6, S17): its kernel stack and the kernel
    /// registers saved while it is not running. It owns the stack.
    type Context: Send + Sync + 'static;

    /// The context of the thread that boots each CPU: it already runs, on the boot
    /// stack, so it has nothing to be set up; it is saved the first time it switches away.
    #[allow(clippy::declare_interior_mutable_const)] // a fresh context per boot thread
    const BOOT_CONTEXT: Self::Context;

    /// A new context with a kernel stack of `stack_size` bytes that starts `entry(arg)`
    /// the first time it is switched to; `AllocError` if there is no memory for it.
    fn context_new(
        stack_size: usize,
        entry: ThreadEntry,
        arg: usize,
    ) -> Result<Self::Context, kmem::AllocError>;

    /// Makes a context whose thread has ended start afresh: a recycled thread
    /// structure keeps its stack (as Solaris' thread cache does), or gets a new one
    /// of `stack_size` bytes if [`Machine::context_release_stack`] took it
    /// (`AllocError` if there is no memory for it). Panics if the context is running.
    fn context_reset(
        ctx: &Self::Context,
        stack_size: usize,
        entry: ThreadEntry,
        arg: usize,
    ) -> Result<(), kmem::AllocError>;

    /// Frees the kernel stack of a context whose thread has ended, to give memory
    /// back (a cache that shrinks); the next [`Machine::context_reset`] makes one.
    /// Returns whether it had one. Panics if the context is running.
    fn context_release_stack(ctx: &Self::Context) -> bool;

    /// Names `ctx` (made from [`Machine::BOOT_CONTEXT`]) the context of the thread
    /// this CPU boots on, which runs now: the machine keeps the running thread's
    /// context from here on, so that no switch has to ask whether it is this
    /// CPU's first. Called once per CPU, before that thread switches or enters user mode.
    fn context_boot(ctx: &Self::Context);

    /// `resume()` (S17): saves the running thread's kernel registers (on SPARC: all of
    /// its register windows, flushed to its stack) in `from`, makes `to_thread` the
    /// current thread (S7), and continues the thread saved in `to`. Returns when some
    /// later switch resumes `from`. Interrupts must be disabled; each side restores
    /// its own interrupt state afterwards. Panics if `to` is running.
    fn switch<T: ThreadRegister>(from: &Self::Context, to: &Self::Context, to_thread: &'static T);

    /// The current kernel thread (S7): one register read.
    fn curthread<T: ThreadRegister>() -> &'static T;

    /// Installs the thread that this CPU runs as it boots.
    fn set_curthread<T: ThreadRegister>(t: &'static T);

    /// This CPU's number, `0..ncpus()`.
    fn cpu_id() -> usize;
    /// How many CPUs the machine has.
    fn ncpus() -> usize;

    /// Disables interrupts on this CPU; returns whether they were enabled.
    fn intr_disable() -> bool;
    /// Puts back the state [`Machine::intr_disable`] returned.
    fn intr_restore(was_enabled: bool);
    /// Whether interrupts are enabled on this CPU.
    fn intr_enabled() -> bool;
    /// Asks `cpu` to take a cross-call interrupt soon, which runs
    /// [`Upcalls::poke_intr`] there.
    fn poke_cpu(cpu: usize);
    /// Spends a moment in a spin-wait loop.
    fn relax();
    /// Idles the CPU until an interrupt has been taken: called with interrupts
    /// disabled, enables them while waiting, returns with them disabled again.
    fn idle_wait();

    /// Registers the kernel's entry points; before this no upcall is made.
    fn set_upcalls(upcalls: &'static Upcalls);
    /// Starts the clock interrupt on this CPU at `hz` per second.
    fn clock_start(hz: u32);
    /// A monotonic clock in nanoseconds (on sparc64: `%tick` at 100 MHz).
    fn now_ns() -> u64;

    /// The kernel heap's size and use (`kmem`): what limits are sized from, and
    /// what leak checks compare.
    fn heap_stats() -> kmem::HeapStats;
    /// The page pool's size and use: the memory user address spaces are made of
    /// (their pages, the pages they share with the kernel, their page tables, a
    /// `fork` child's copies), apart from the heap. What the limits on processes
    /// and stacks are sized from, and what leak checks compare.
    fn page_stats() -> kmem::PageStats;
    /// This CPU takes a spin lock under which nothing may be allocated (`kmem`):
    /// in debug builds an allocation before the matching [`Machine::alloc_permit`]
    /// panics. Call with interrupts disabled.
    fn alloc_forbid();
    /// Undoes one [`Machine::alloc_forbid`]. Call with interrupts disabled.
    fn alloc_permit();

    /// The disk (the swap device), if the machine has one: its size in sectors of
    /// [`SECTOR_SIZE`] bytes (see [`blk`]).
    fn blk_sectors() -> Option<u64>;
    /// Starts a transfer. The machine owns the request, buffer included, until
    /// [`Machine::blk_reap`] gives it back finished; the device's completion
    /// interrupt calls [`Upcalls::blk_intr`]. A request the machine cannot start (no
    /// disk, sectors outside it, its queue full) comes back at once with the reason.
    fn blk_submit(req: BlkRequest) -> Result<(), (BlkRequest, BlkError)>;
    /// A finished transfer, if there is one; each comes back once.
    fn blk_reap() -> Option<BlkDone>;

    /// Writes to the console.
    fn console_write(bytes: &[u8]);
    /// The next byte typed on the console, if one is waiting (polled: no interrupt,
    /// no buffer beyond the device's). On the host simulation, the next byte of the
    /// boot's scripted input (`arch::sim::console_feed`).
    fn console_read() -> Option<u8>;

    /// The kernel image's own symbol table, as an ELF file of symbols only, or
    /// nothing if the build put none in (`kern::kmdb` reads it to name addresses).
    fn kernel_symbols() -> &'static [u8];
    /// Walks a kernel stack: writes the code addresses of its frames into `out`,
    /// innermost first (the first is the pc where the walk begins, each next one a
    /// return address), and returns how many. `ctx` is the thread whose stack it
    /// is: a switched-out one (`WalkFrom::Saved`), or the running thread's own
    /// (`Here`, `Trap`). Never reads outside that thread's kernel stack; returns 0
    /// for a thread another CPU runs, and on a machine that cannot walk its stacks.
    fn stack_walk(ctx: &Self::Context, from: WalkFrom, out: &mut [usize]) -> usize;
    /// The bytes of kernel stack `ctx` holds on the heap: 0 once
    /// [`Machine::context_release_stack`] took it, and for a boot thread, which runs
    /// on the machine's boot stack. Readable at any time.
    fn context_stack_bytes(ctx: &Self::Context) -> usize;
    /// The boot arguments (`qemu -append`; the `/chosen` `bootargs` property).
    fn boot_args() -> &'static str;
    /// Stops the machine with the kernel's verdict.
    fn halt(success: bool) -> !;
    /// Resets the machine (it boots again, or, when its host says so, stops as a
    /// halt does: QEMU's `-no-reboot`, the host simulation).
    fn reboot() -> !;

    /// A user address space: an MMU context and its pages (S1). Dropping it frees
    /// both; threads in it hold it by a shared handle ([`kmem::Shared`]) until they
    /// leave user mode for good.
    type AddrSpace: Send + Sync + 'static;

    /// User addresses the machine keeps for itself, where no user page may be
    /// mapped (on sparc64, the locked kernel window; empty on the simulation).
    const USER_RESERVED: core::ops::Range<u64>;

    /// A new, empty address space; `NoMemory` if no MMU context is free.
    fn as_create() -> Result<Self::AddrSpace, MapError>;
    /// Maps zero-filled pages of the page pool at `va..va + len` (page-aligned, not
    /// mapped yet: `Overlap` otherwise) with rights `prot` (empty: no access at
    /// all). `NoMemory` if the pool runs out: what the call had mapped is given back.
    fn as_map(space: &Self::AddrSpace, va: u64, len: u64, prot: Prot) -> Result<(), MapError>;
    /// Unmaps the pages of `va..va + len` (page-aligned) that `space` maps and gives
    /// them back to the pool, with whatever page tables that leaves empty; their
    /// translations go wherever the machine keeps them (on sparc64, each page's TLB
    /// entries, no more). Pages it does not map are skipped, and so are pages it
    /// shares with the kernel ([`Machine::as_map_shared`]). `BadRange`, nothing
    /// done, for a range `as_map` would refuse as such.
    fn as_unmap(space: &Self::AddrSpace, va: u64, len: u64) -> Result<(), MapError>;
    /// Gives every page of `va..va + len` (page-aligned) the rights `prot`, keeping
    /// its contents, and drops the translations that had the old rights.
    /// `Unmapped`, nothing changed, if one of the pages is not mapped (or is shared
    /// with the kernel); `BadRange` as for [`Machine::as_unmap`].
    fn as_protect(space: &Self::AddrSpace, va: u64, len: u64, prot: Prot) -> Result<(), MapError>;
    /// Writes `bytes` at `va` in `space`, whatever the pages' rights (the kernel
    /// loading a program); every page must be mapped.
    fn as_write(space: &Self::AddrSpace, va: u64, bytes: &[u8]) -> Result<(), MapError>;
    /// Reads `buf.len()` bytes at `va` of `space`, whatever the pages' rights.
    fn as_read(space: &Self::AddrSpace, va: u64, buf: &mut [u8]) -> Result<(), MapError>;
    /// A new address space holding a copy of every page of `space` that is its own,
    /// at the same addresses with the same rights, for a child process (`fork`):
    /// pages `space` shares with the kernel ([`Machine::as_map_shared`]) are not
    /// copied. The copy is copy-on-write: both spaces share each page until one of
    /// them writes it, and only then does that one take a page of the pool for it
    /// (a write that finds none is a fault: user code's a protection fault, a
    /// copy's `EFAULT`). `NoMemory` if there is not enough memory for the new
    /// space's tables (nothing is left behind).
    fn as_fork(space: &Self::AddrSpace) -> Result<Self::AddrSpace, MapError>;

    /// Enters user mode in `space` with the registers in `frame` (S17's last step):
    /// the current thread runs in `space` from now on — its switches take the MMU
    /// context along — with `frame` as the one place its user registers are saved
    /// and restored, and comes back into the kernel only through its system-call
    /// table and [`Upcalls::user_trap`].
    fn user_enter(space: kmem::Shared<Self::AddrSpace>, frame: UserFrame) -> !;
    /// Writes the current thread's user register windows that the machine still
    /// holds to their frames on the user's stack (on SPARC: the "other" windows,
    /// as `ta 3` does, and not the kernel's; a window whose stack cannot take it
    /// waits in the window buffer, and is the LWP's fault on the way back). The
    /// kernel does this before it writes a signal frame on the user's stack or
    /// resumes another user context, so that the stack holds every window and the
    /// return to user mode fills its window from the stack at the stack pointer it
    /// finds in the frame. A machine without register windows has nothing to do.
    fn user_flush_windows();
    /// The current thread's user mode starts over in `space` (`exec`): the user
    /// windows the machine still holds and any it buffered are dropped (they are
    /// the old image's), the FPU is off for its LWP again, and `space` is the
    /// space it runs in from now on (the old one is let go). Its registers are
    /// the caller's to set, in its frame.
    fn user_exec(space: kmem::Shared<Self::AddrSpace>);
    /// The current thread leaves its address space for good (its LWP is exiting):
    /// its user windows still in the machine are dropped with it, and the machine
    /// lets go of its frame.
    fn user_exit();
    /// Takes back the handle to its LWP's registers that a thread's context holds
    /// (given by [`Machine::user_enter`]), so that the registers can go out to the
    /// swap device with the LWP's `lwp` structure (S5); `None` if it holds none. The
    /// thread must not be running, nor be switched in until
    /// [`Machine::user_frame_attach`] gives it its registers back: a switch to it
    /// meanwhile panics. A reference to the handle kept on the thread's stack (a
    /// trap's) reaches the registers given back.
    fn user_frame_detach(ctx: &Self::Context) -> Option<UserFrame>;
    /// Gives a thread that is not running the registers its LWP's `lwp` structure
    /// brought back in (see [`Machine::user_frame_detach`]).
    fn user_frame_attach(ctx: &Self::Context, frame: UserFrame);
    /// Copies `buf.len()` bytes in from user address `uaddr` of the current thread's
    /// address space, with the user's own rights: `Err` with the fault if any byte
    /// is not readable by user mode (or the thread has no address space).
    fn copyin(uaddr: u64, buf: &mut [u8]) -> Result<(), Fault>;
    /// Copies `bytes` out to user address `uaddr`, with the user's own rights.
    fn copyout(uaddr: u64, bytes: &[u8]) -> Result<(), Fault>;
    /// Copies in `N` 64-bit words from user address `uaddr`, as `copyin` does (user
    /// memory is big-endian on both machines), and gives them to `f`, where they
    /// are: for structures of whole words (a signal's `ucontext_t`), no buffer is
    /// filled with zeros first, converted, or moved (on sparc64 the words land as
    /// they are, in the machine's own frame).
    fn copyin_words<const N: usize, R>(
        uaddr: u64,
        f: impl FnOnce(&[u64; N]) -> R,
    ) -> Result<R, Fault>;
    /// Copies `words` out to user address `uaddr` as big-endian words, as `copyout`
    /// does (a fault may leave the words before it written).
    fn copyout_words(uaddr: u64, words: &[u64]) -> Result<(), Fault>;
    /// Compare-and-swap of the 32-bit word at user address `uaddr` (4-aligned) of the
    /// current thread's address space, atomic with respect to user code on every
    /// CPU (SPARC's `cas`): stores `new` if the word holds `old`, and returns what it
    /// held; `Err` with the fault if user mode may not read and write it.
    fn user_cas32(uaddr: u64, old: u32, new: u32) -> Result<u32, Fault>;

    /// A page of memory the kernel shares with one user address space (Solaris'
    /// schedctl pages): user code reads and writes it at the address it is mapped
    /// at, and the kernel through its handle, 32-bit word by word, atomically, at any
    /// moment — in the middle of a switch, with interrupts off — and never faults.
    type SharedPage: Send + Sync + 'static;

    /// Maps a new zero-filled shared page at the page-aligned user address `va` of
    /// `space`, read-write for user mode, and returns the kernel's handle. The page
    /// lives as long as the handle or the mapping, whichever lasts longer.
    fn as_map_shared(
        space: &Self::AddrSpace,
        va: u64,
    ) -> Result<kmem::Shared<Self::SharedPage>, MapError>;
    /// The 32-bit word at byte `offset` (4-aligned, within the page) of a shared page,
    /// as user mode sees it.
    fn shared_load(page: &Self::SharedPage, offset: usize) -> u32;
    /// Stores the 32-bit word at byte `offset` of a shared page.
    fn shared_store(page: &Self::SharedPage, offset: usize, v: u32);
}
