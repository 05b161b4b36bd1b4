//! The host simulation machine: the machine's life (boot, the set of CPUs, halt) and
//! the [`Machine`] implementation, [`Sim`].
//!
//! It runs in one of two modes, chosen by [`SimConfig::schedule`]:
//!
//! * **Parallel** ([`Schedule::Parallel`]): each simulated CPU is a host thread.
//!   [`run`] (or [`boot`]) spawns them; each runs the kernel's `main(cpu)` as that
//!   CPU's boot thread, on the host thread's own stack, below a saved "exit" frame.
//!   The clock is a signal from a clock thread (`intr`). `Sim::halt` from any CPU
//!   records the verdict and jumps back to that CPU's exit frame; the others are kicked
//!   with the clock signal until each has jumped back to its own (from the signal
//!   handler, or from `idle_wait`). Then `run` stops the clock thread, joins the CPUs
//!   and returns the verdict.
//! * **Seeded** ([`Schedule::Seeded`]): one host thread runs every CPU, each on a host
//!   stack of its own, switching between them at the CPUs' machine calls as a seeded
//!   PRNG decides, in virtual time (`det`). The same seed gives the same run. A halt
//!   jumps back to that one thread's exit frame.
//!
//! Module map, from the bottom up: `percpu` the per-CPU block behind `%gs`, with
//! the interrupt flag and its masking; `console` the console capture; `host_alloc`
//! the allocator wrapper; `user` user mode: address spaces, user programs (host
//! functions playing SPARC user code), their system calls and faults (and the user
//! runtime's calls made for them when they return, given by
//! [`SimConfig::user_runtime`]), `copyin`/`copyout`; `context` kernel stacks and
//! the stack switch (a context carries its thread's user state); `intr` interrupt
//! delivery (the interrupt vector, `Boot`'s `intr_vector`, which a CPU takes when
//! its interrupts come back on), the parallel mode's clock signal and clock thread,
//! and idling; `det` the seeded mode's schedule and virtual time. This file wires
//! them into [`Sim`].
//!
//! Whole simulations are serialised by a process-wide mutex (cargo runs tests on
//! parallel threads of one process, and the clock signal handler is process-wide);
//! everything else belongs to one boot (`Boot`).
//!
//! Rules for code running on the simulated CPUs (kernel code and test code alike):
//! it reaches CPU state only through [`Sim`]; it takes host locks only with interrupts
//! disabled (a clock interrupt may switch threads, and the next thread on the same
//! host thread could want the same lock); and a binary that boots the simulation
//! installs [`SimAlloc`] as its global allocator.

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!("the host simulation machine (arch::sim) needs an x86_64 Linux host");

mod console;
mod context;
mod det;
mod disk;
mod host_alloc;
mod intr;
mod percpu;
#[cfg(test)]
mod tests;
pub mod user;

use core::any::Any;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use std::boxed::Box;
use std::collections::VecDeque;
use std::string::String;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};
use std::vec::Vec;

pub use context::Context;
pub use det::{SeededRun, STEP_NS};
pub use disk::{DiskConfig, DiskFaults, DiskStats};
pub use host_alloc::SimAlloc;
pub use user::AddrSpace;

use crate::kmem::Shared;
use crate::{
    BlkDone, BlkError, BlkRequest, Fault, Machine, MapError, Prot, ThreadEntry, ThreadRegister,
    Upcalls, UserFrame, WalkFrom, PAGE_SIZE,
};
use det::Det;
use percpu::{Cpu, PerCpu};

/// At most this many simulated CPUs.
pub const MAX_CPUS: usize = 64;

/// The host stack of each CPU thread, which is also its boot thread's kernel stack.
const CPU_STACK: usize = 8 << 20;

/// The simulated kernel heap unless [`SimConfig::heap_bytes`] says otherwise: about
/// three times the sparc64 kernel's, for the host's larger structures.
pub const DEFAULT_HEAP: usize = 32 << 20;

/// The simulated page pool unless [`SimConfig::pool_bytes`] says otherwise.
pub const DEFAULT_POOL: usize = 64 << 20;

/// How often `run` kicks the CPUs that have not yet gone home after a halt.
const KICK_INTERVAL: Duration = Duration::from_millis(1);

/// Serialises whole simulations within the process.
static SIMULATIONS: Mutex<()> = Mutex::new(());

/// The host simulation machine.
pub struct Sim;

/// How the simulated CPUs share the host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Schedule {
    /// Each CPU is a host thread, interleaved by the host's scheduler; the clock is a
    /// signal (real time). Finds what real parallelism finds, but no run repeats.
    #[default]
    Parallel,
    /// Every CPU on one host thread, interleaved by a PRNG seeded with this, in
    /// virtual time: a run is a function of the seed (see the `det` module comment for
    /// what code must do to run in this mode).
    Seeded(u64),
}

/// How to boot the simulated machine.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// How many CPUs, `1..=MAX_CPUS`.
    pub ncpus: usize,
    /// What `Sim::boot_args()` returns.
    pub boot_args: &'static str,
    /// If set, a machine still running after this long is halted with failure (and
    /// [`Outcome::timed_out`] set), so that a hung kernel fails its test instead of
    /// hanging it. A CPU holding a host lock forever can still hang the run.
    pub timeout: Option<Duration>,
    /// Echo the console to stderr as it is written (also when `SIM_CONSOLE=1`).
    pub echo_console: bool,
    /// Parallel or seeded.
    pub schedule: Schedule,
    /// The size of the simulated kernel heap: what the simulated CPUs may allocate
    /// at once (kernel stacks count their nominal size); beyond it allocations fail.
    pub heap_bytes: usize,
    /// The size of the page pool: the memory user address spaces may hold at once
    /// (their pages, and the pages they share with the kernel), apart from the heap
    /// (`user`); beyond it mapping fails as it does on sparc64 when RAM runs out.
    pub pool_bytes: usize,
    /// Seeded mode only: a machine whose virtual clock passes this is halted with
    /// failure (and [`Outcome::timed_out`] set). Unlike the wall-clock `timeout` this
    /// stops a run at the same point every time, so it replays; and a kernel that
    /// hangs making machine calls reaches it in far less host time.
    pub virtual_timeout: Option<Duration>,
    /// The disk, if the machine has one (`disk`).
    pub disk: Option<DiskConfig>,
    /// What is "typed" on the console: `Sim::console_read` gives these bytes one
    /// by one, then whatever [`console_feed`] adds.
    pub console_input: Vec<u8>,
    /// The system calls the machine makes when a user program or a signal handler
    /// returns ([`user::Runtime`]); a machine without them runs only user code that
    /// never returns.
    pub user_runtime: Option<user::Runtime>,
}

impl SimConfig {
    /// `ncpus` CPUs, no boot arguments, no timeout, no echo, the parallel mode, no
    /// user runtime.
    pub fn new(ncpus: usize) -> Self {
        SimConfig {
            ncpus,
            boot_args: "",
            timeout: None,
            echo_console: false,
            schedule: Schedule::Parallel,
            heap_bytes: DEFAULT_HEAP,
            pool_bytes: DEFAULT_POOL,
            virtual_timeout: None,
            disk: None,
            console_input: Vec::new(),
            user_runtime: None,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig::new(1)
    }
}

/// How a simulation ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The kernel's verdict: `Sim::halt(success)`; false if the machine stopped any
    /// other way (timeout, a CPU's `main` returned).
    pub success: bool,
    /// Whether [`SimConfig::timeout`] (or [`SimConfig::virtual_timeout`]) stopped it.
    pub timed_out: bool,
    /// Everything written to the console (and the simulation's own notes).
    pub console: String,
    /// In the seeded mode: what the schedule did (its seed, steps, trace).
    pub seeded: Option<SeededRun>,
    /// What the disk did, if there was one.
    pub disk: Option<DiskStats>,
}

/// Boots the machine and runs it until it halts; returns the kernel's verdict.
/// See [`run`].
pub fn boot(config: SimConfig, main: fn(cpu: usize)) -> bool {
    run(config, main).success
}

/// Boots the machine: `config.ncpus` CPUs, each a host thread running `main(cpu)` as
/// its boot thread with interrupts disabled, no current thread and no clock. Returns
/// once the kernel calls `Sim::halt` (on any CPU) and every CPU has stopped.
///
/// A CPU whose `main` returns halts the machine with failure. A panic on a simulated
/// CPU halts it with failure too, and is then resumed on the calling thread, so that
/// a failed assertion in kernel or test code fails the calling test with its message.
///
/// In the seeded mode the console ends with a line `sim: seeded schedule: ...` (the
/// seed, steps, trace), and a run that fails (a failed halt, a timeout, a panic)
/// also prints that line, and how to replay the seed, to stderr.
///
/// Panics if called from a simulated CPU.
pub fn run(config: SimConfig, main: fn(cpu: usize)) -> Outcome {
    assert!(Cpu::here().is_none(), "sim: run called from a simulated CPU");
    let ncpus = config.ncpus;
    assert!((1..=MAX_CPUS).contains(&ncpus), "sim: {ncpus} CPUs; 1 to {MAX_CPUS} are possible");
    intr::install_handler();
    let serial = SIMULATIONS.lock().unwrap_or_else(PoisonError::into_inner);

    host_alloc::heap_reset(config.heap_bytes);
    let echo = config.echo_console || std::env::var_os("SIM_CONSOLE").is_some_and(|v| v == "1");
    let det = match config.schedule {
        Schedule::Parallel => None,
        Schedule::Seeded(seed) => {
            let limit = config
                .virtual_timeout
                .map_or(u64::MAX, |t| t.as_nanos().try_into().unwrap_or(u64::MAX));
            Some(Det::new(seed, ncpus, main, limit))
        }
    };
    let boot = Arc::new(Boot {
        ncpus,
        boot_args: config.boot_args,
        echo,
        percpu: (0..ncpus).map(PerCpu::new).collect(),
        upcalls: AtomicPtr::new(core::ptr::null_mut()),
        intr_vector: intr::run_pending,
        state: AtomicU8::new(RUNNING),
        out: AtomicUsize::new(0),
        waiter: thread::current(),
        timer: OnceLock::new(),
        timer_stop: AtomicBool::new(false),
        console: spin::Mutex::new(Vec::new()),
        input: spin::Mutex::new(config.console_input.iter().copied().collect()),
        panic: Mutex::new(None),
        det,
        spaces: Arc::new(AtomicUsize::new(0)),
        pool: Arc::new(user::Pool::new(config.pool_bytes / PAGE_SIZE as usize)),
        disk: config.disk.map(|d| {
            let seed = match config.schedule {
                Schedule::Seeded(seed) => seed ^ DISK_SEED,
                Schedule::Parallel => d.seed,
            };
            disk::Disk::new(d, seed)
        }),
        user_runtime: config.user_runtime,
    });

    // Parallel: a clock thread and a host thread per CPU. Seeded: one host thread.
    let timer = if boot.det.is_none() {
        let b = Arc::clone(&boot);
        let timer = thread::Builder::new()
            .name("sim-clock".into())
            .spawn(move || intr::clock_thread(&b))
            .expect("sim: cannot spawn the clock thread");
        let _ = boot.timer.set(timer.thread().clone());
        Some(timer)
    } else {
        None
    };
    let cpus: Vec<JoinHandle<()>> = if boot.det.is_none() {
        (0..ncpus)
            .map(|cpu| {
                let boot = Arc::clone(&boot);
                thread::Builder::new()
                    .name(std::format!("sim-cpu{cpu}"))
                    .stack_size(CPU_STACK)
                    .spawn(move || cpu_thread(&boot, cpu, main))
                    .expect("sim: cannot spawn a CPU thread")
            })
            .collect()
    } else {
        let boot = Arc::clone(&boot);
        let host = thread::Builder::new()
            .name("sim-seeded".into())
            // It only holds the exit frame: the CPUs run on stacks of their own.
            .stack_size(1 << 20)
            .spawn(move || det::host_thread(&boot))
            .expect("sim: cannot spawn the seeded mode's host thread");
        std::vec![host]
    };

    let mut timed_out = wait_for_halt(&boot, config.timeout);

    // Bring every CPU home. A CPU notices the halt in its signal handler, while
    // idling, or (seeded) at its next scheduling point; kicks keep coming until it
    // has (one holding a host lock lets it go).
    while boot.out.load(Ordering::Acquire) < ncpus {
        for pc in boot.percpu.iter().filter(|pc| !pc.out.load(Ordering::Acquire)) {
            intr::kick(pc.pthread.load(Ordering::Acquire));
        }
        thread::park_timeout(KICK_INTERVAL);
    }
    // The clock thread goes first: it must send no signal to a joined thread.
    boot.timer_stop.store(true, Ordering::Release);
    if let Some(timer) = timer {
        timer.thread().unpark();
        let _ = timer.join();
    }
    let mut host_panic = None;
    for cpu in cpus {
        if let Err(p) = cpu.join() {
            host_panic.get_or_insert(p);
        }
    }

    let success = boot.state.load(Ordering::Acquire) == HALTED_OK;
    let seeded = boot.det.as_ref().map(Det::report);
    let disk = boot.disk.as_ref().map(disk::Disk::stats);
    timed_out |= boot.det.as_ref().is_some_and(Det::expired);
    let panic = boot.panic.lock().unwrap_or_else(PoisonError::into_inner).take().or(host_panic);
    if let Some(report) = seeded {
        let line = std::format!("sim: seeded schedule: {ncpus} CPU(s), {report}\n");
        boot.console.lock().extend_from_slice(line.as_bytes());
        if !success || panic.is_some() {
            std::eprintln!(
                "{line}sim: this seeded run FAILED; it replays exactly with \
                 Schedule::Seeded({}) on {ncpus} CPU(s)",
                report.seed
            );
        }
    }
    let console = String::from_utf8_lossy(&boot.console.lock()).into_owned();
    console::set_last(&console);
    drop(boot);
    drop(serial);
    if let Some(payload) = panic {
        std::panic::resume_unwind(payload);
    }
    Outcome { success, timed_out, console, seeded, disk }
}

/// Makes `cmd`, a process that will boot the seeded simulation, run with address
/// randomisation off: the kernel's behaviour may depend on addresses (which sleep
/// queue a wait channel hashes to, say), so a seed replays exactly only if they
/// repeat from run to run.
pub fn fixed_addresses(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and makes one system
    // call, personality(2), which is async-signal-safe; it touches no memory shared
    // with the parent. Its failure (a kernel that refuses) only costs the guarantee
    // that addresses repeat, so it is ignored.
    unsafe {
        cmd.pre_exec(|| {
            libc::personality(libc::ADDR_NO_RANDOMIZE as libc::c_ulong);
            Ok(())
        });
    }
}

/// On a simulated CPU: adds `bytes` to the console input of this boot, after what
/// is still unread (as if typed now). Panics on any other thread.
pub fn console_feed(bytes: &[u8]) {
    console::feed(bytes)
}

/// On a simulated CPU: what this boot has written to the console so far. On any other
/// thread: what the last boot that this thread ran wrote. (Per thread, because tests
/// boot one after another from parallel threads.)
pub fn console_output() -> String {
    console::output()
}

/// Mixed into a seeded run's seed for its disk's PRNG (a stream of its own).
const DISK_SEED: u64 = 0xd15c_5eed;

/// The CPU that takes the disk's interrupt.
const DISK_CPU: usize = 0;

const RUNNING: u8 = 0;
const HALTED_OK: u8 = 1;
const HALTED_FAIL: u8 = 2;

/// One boot of the machine: what its CPUs share.
struct Boot {
    ncpus: usize,
    boot_args: &'static str,
    echo: bool,
    percpu: Box<[PerCpu]>,
    upcalls: AtomicPtr<Upcalls>,
    /// The machine's interrupt vector: where a CPU whose interrupts come back on
    /// (`Cpu::intr_restore`) takes those that became pending meanwhile.
    intr_vector: fn(Cpu),
    /// RUNNING, or the verdict of the first halt.
    state: AtomicU8,
    /// How many CPUs are back on their host stacks for good.
    out: AtomicUsize,
    /// The host thread in `run`, woken by a halt and by each CPU going home.
    waiter: Thread,
    /// The clock thread, woken when a CPU (re)starts its clock.
    timer: OnceLock<Thread>,
    timer_stop: AtomicBool,
    console: spin::Mutex<Vec<u8>>,
    /// The console's scripted input, not yet read.
    input: spin::Mutex<VecDeque<u8>>,
    /// The first panic on a simulated CPU, for `run` to resume.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// The schedule of the seeded mode; `None` in the parallel mode.
    det: Option<Det>,
    /// Live address spaces (MMU contexts), shared with each space, which may outlive
    /// the boot.
    spaces: Arc<AtomicUsize>,
    /// The page pool, shared with each space and shared page (which may outlive
    /// the boot).
    pool: Arc<user::Pool>,
    /// The disk, if the machine has one.
    disk: Option<disk::Disk>,
    /// [`SimConfig::user_runtime`].
    user_runtime: Option<user::Runtime>,
}

impl Boot {
    fn halted(&self) -> bool {
        self.state.load(Ordering::Acquire) != RUNNING
    }

    /// Halts the machine with `success`, unless it has halted already; returns whether
    /// this call did it.
    fn request_halt(&self, success: bool) -> bool {
        let verdict = if success { HALTED_OK } else { HALTED_FAIL };
        let won = self
            .state
            .compare_exchange(RUNNING, verdict, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        self.waiter.unpark();
        won
    }

    /// The seeded schedule; only called in the seeded mode.
    fn det(&self) -> &Det {
        self.det.as_ref().expect("sim: the seeded schedule of a parallel run")
    }

    fn upcalls(&self) -> Option<&'static Upcalls> {
        let p = self.upcalls.load(Ordering::Acquire);
        // SAFETY: only `&'static Upcalls` are stored (set_upcalls), or null.
        unsafe { p.as_ref() }
    }
}

/// Waits for the machine to halt; halts it if `timeout` passes first (returns true then).
fn wait_for_halt(boot: &Boot, timeout: Option<Duration>) -> bool {
    let deadline = timeout.map(|t| Instant::now() + t);
    while !boot.halted() {
        match deadline {
            None => thread::park(),
            Some(deadline) => {
                let now = Instant::now();
                if now < deadline {
                    thread::park_timeout(deadline - now);
                } else if boot.request_halt(false) {
                    let msg =
                        std::format!("sim: timed out after {:?}\n", timeout.unwrap_or_default());
                    boot.console.lock().extend_from_slice(msg.as_bytes());
                    std::eprint!("{msg}");
                    return true;
                }
            }
        }
    }
    false
}

/// What a CPU thread's `cpu_main` needs.
struct CpuStart {
    main: fn(usize),
    cpu: usize,
}

/// A CPU's host thread.
fn cpu_thread(boot: &Boot, cpu: usize, main: fn(usize)) {
    // The handler must not see this thread before it is a whole CPU, nor after.
    intr::block_signal(true);
    let pc = &boot.percpu[cpu];
    pc.attach(boot);
    let start = CpuStart { main, cpu };
    intr::block_signal(false);
    context::enter(pc.exit_sp_slot(), cpu_main, &start as *const CpuStart as usize);
    intr::block_signal(true);
    pc.set_in_sim(false);
    pc.out.store(true, Ordering::Release);
    boot.out.fetch_add(1, Ordering::AcqRel);
    boot.waiter.unpark();
    // This thread (and its thread-locals) must outlive all simulated code: a thread
    // that migrated from here may still read this thread's IS_CPU flag through an
    // address computed before it migrated.
    while boot.out.load(Ordering::Acquire) < boot.ncpus {
        thread::park_timeout(KICK_INTERVAL);
    }
    pc.detach();
}

/// The bottom of a CPU's boot thread, entered below the CPU's exit frame.
extern "C" fn cpu_main(arg: usize) {
    // SAFETY: `arg` is the CpuStart on cpu_thread's stack, which outlives `enter`.
    let start = unsafe { &*(arg as *const CpuStart) };
    let cpu = Cpu::expect("cpu_main");
    // Only now may a halt send this CPU home: the exit frame exists.
    cpu.set_in_sim(true);
    if cpu.boot().halted() {
        exit_to_host(cpu);
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (start.main)(start.cpu))) {
        Ok(()) => {
            let cpu = Cpu::expect("cpu_main");
            let msg =
                std::format!("sim: cpu {}: main returned without halting the machine\n", start.cpu);
            console::note(cpu, &msg);
            halt(cpu, false)
        }
        Err(payload) => fail(Cpu::expect("cpu_main"), payload),
    }
}

/// Halts the machine (unless it already has) and sends this CPU home.
fn halt(cpu: Cpu, success: bool) -> ! {
    cpu.boot().request_halt(success);
    exit_to_host(cpu)
}

/// Halts the machine with failure because of a panic on a simulated CPU, keeping the
/// first panic for `run` to resume.
fn fail(cpu: Cpu, payload: Box<dyn Any + Send>) -> ! {
    cpu.critical(|| {
        let mut first = cpu.boot().panic.lock().unwrap_or_else(PoisonError::into_inner);
        if first.is_none() {
            *first = Some(payload);
        }
    });
    halt(cpu, false)
}

/// Leaves the simulation for good: back to the CPU's exit frame on its host stack,
/// abandoning whatever the CPU was running.
fn exit_to_host(cpu: Cpu) -> ! {
    // From here on the signal handler leaves this CPU alone, so nothing can move the
    // thread before it reads its exit frame.
    cpu.set_in_sim(false);
    cpu.set_intr_enabled(false);
    context::jump(cpu.exit_sp())
}

/// What kind of scheduling point (see `det`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Point {
    /// An ordinary machine call.
    Call,
    /// A spin-wait: another CPU must make progress.
    Relax,
}

/// A scheduling point of the seeded mode (see `det`); nothing in the parallel mode.
#[inline(always)]
fn seeded_point(cpu: Cpu, kind: Point) {
    if cpu.seeded() {
        det::point(cpu, kind);
    }
}

impl Machine for Sim {
    type Context = Context;

    const BOOT_CONTEXT: Context = Context::BOOT;

    fn context_new(
        stack_size: usize,
        entry: ThreadEntry,
        arg: usize,
    ) -> Result<Context, crate::kmem::AllocError> {
        Context::new(stack_size, entry, arg)
    }

    fn context_reset(
        ctx: &Context,
        stack_size: usize,
        entry: ThreadEntry,
        arg: usize,
    ) -> Result<(), crate::kmem::AllocError> {
        ctx.reset(stack_size, entry, arg)
    }

    fn context_release_stack(ctx: &Context) -> bool {
        ctx.release_stack()
    }

    fn context_boot(ctx: &Context) {
        Cpu::expect("context_boot").set_cur_ctx(ctx as *const Context as usize);
    }

    fn switch<T: ThreadRegister>(from: &Context, to: &Context, to_thread: &'static T) {
        let cpu = Cpu::expect("switch");
        seeded_point(cpu, Point::Call);
        context::switch(cpu, from, to, to_thread as *const T as usize)
    }

    #[inline]
    fn curthread<T: ThreadRegister>() -> &'static T {
        let t = Cpu::expect("curthread").curthread();
        assert!(t != 0, "sim: curthread: this CPU has no current thread yet");
        // SAFETY: the register only ever holds 0 or a `&'static T` of the kernel's one
        // ThreadRegister type (set_curthread, switch), so T is that type.
        unsafe { &*(t as *const T) }
    }

    fn set_curthread<T: ThreadRegister>(t: &'static T) {
        Cpu::expect("set_curthread").set_curthread(t as *const T as usize)
    }

    #[inline]
    fn cpu_id() -> usize {
        Cpu::expect("cpu_id").cpu()
    }

    fn ncpus() -> usize {
        Cpu::expect("ncpus").boot().ncpus
    }

    #[inline]
    fn intr_disable() -> bool {
        let cpu = Cpu::expect("intr_disable");
        // Seeded: the point comes first, so that an interrupt due now is taken before
        // they go off, as one arriving just before the call would be.
        seeded_point(cpu, Point::Call);
        cpu.intr_disable()
    }

    #[inline]
    fn intr_restore(was_enabled: bool) {
        let cpu = Cpu::expect("intr_restore");
        cpu.intr_restore(was_enabled);
        seeded_point(cpu, Point::Call);
    }

    #[inline]
    fn intr_enabled() -> bool {
        Cpu::expect("intr_enabled").intr_enabled()
    }

    fn poke_cpu(cpu: usize) {
        let me = Cpu::expect("poke_cpu");
        let target = &me.boot().percpu[cpu];
        if me.seeded() {
            // Taken when the target next passes a scheduling point with interrupts on.
            target.poked.store(true, Ordering::Release);
            det::point(me, Point::Call);
        } else {
            intr::poke(target);
        }
    }

    #[inline(always)]
    fn relax() {
        match Cpu::here() {
            Some(cpu) if cpu.seeded() => det::point(cpu, Point::Relax),
            _ => core::hint::spin_loop(),
        }
    }

    fn idle_wait() {
        let cpu = Cpu::expect("idle_wait");
        if cpu.seeded() {
            det::idle_wait(cpu)
        } else {
            intr::idle_wait(cpu)
        }
    }

    fn set_upcalls(upcalls: &'static Upcalls) {
        let boot = Cpu::expect("set_upcalls").boot();
        boot.upcalls.store(upcalls as *const Upcalls as *mut Upcalls, Ordering::Release);
    }

    /// Starts (or with `hz == 0` stops) this CPU's clock, which the clock thread
    /// (parallel mode) or the schedule (seeded mode) then makes tick.
    fn clock_start(hz: u32) {
        let cpu = Cpu::expect("clock_start");
        seeded_point(cpu, Point::Call);
        let was = cpu.intr_disable();
        let pc = cpu.percpu();
        if hz == 0 {
            pc.clock_period_ns.store(0, Ordering::Release);
        } else {
            let period = (1_000_000_000 / u64::from(hz)).max(1);
            let now = if cpu.seeded() { det::now(cpu) } else { intr::now_ns() };
            pc.clock_next_ns.store(now + period, Ordering::Relaxed);
            pc.clock_period_ns.store(period, Ordering::Release);
        }
        if let Some(timer) = cpu.boot().timer.get() {
            timer.unpark();
        }
        cpu.intr_restore(was);
    }

    /// Parallel: the host's monotonic clock. Seeded: the virtual clock.
    fn now_ns() -> u64 {
        match Cpu::here() {
            Some(cpu) if cpu.seeded() => {
                det::point(cpu, Point::Call);
                det::now(cpu)
            }
            _ => intr::now_ns(),
        }
    }

    fn heap_stats() -> crate::HeapStats {
        host_alloc::heap_stats()
    }

    fn page_stats() -> crate::PageStats {
        Cpu::here().map_or_else(Default::default, |cpu| cpu.boot().pool.stats())
    }

    #[inline]
    fn alloc_forbid() {
        let cpu = Cpu::expect("alloc_forbid");
        if cfg!(debug_assertions) {
            cpu.set_noalloc(cpu.noalloc() + 1);
        }
    }

    #[inline]
    fn alloc_permit() {
        let cpu = Cpu::expect("alloc_permit");
        if cfg!(debug_assertions) {
            cpu.set_noalloc(cpu.noalloc().saturating_sub(1));
        }
    }

    fn blk_sectors() -> Option<u64> {
        Cpu::expect("blk_sectors").boot().disk.as_ref().map(disk::Disk::sectors)
    }

    fn blk_submit(req: BlkRequest) -> Result<(), (BlkRequest, BlkError)> {
        let cpu = Cpu::expect("blk_submit");
        seeded_point(cpu, Point::Call);
        let Some(disk) = &cpu.boot().disk else { return Err((req, BlkError::NoDevice)) };
        let now = if cpu.seeded() { det::now(cpu) } else { intr::now_ns() };
        let submitted = cpu.critical(|| disk.submit(req, now));
        if submitted.is_ok() {
            // The clock thread plays the disk in the parallel mode: it looks again.
            if let Some(timer) = cpu.boot().timer.get() {
                timer.unpark();
            }
        }
        submitted
    }

    fn blk_reap() -> Option<BlkDone> {
        let cpu = Cpu::expect("blk_reap");
        let disk = cpu.boot().disk.as_ref()?;
        cpu.critical(|| disk.reap())
    }

    fn console_write(bytes: &[u8]) {
        if let Some(cpu) = Cpu::here() {
            seeded_point(cpu, Point::Call);
        }
        console::write(bytes)
    }

    fn console_read() -> Option<u8> {
        if let Some(cpu) = Cpu::here() {
            seeded_point(cpu, Point::Call);
        }
        console::read()
    }

    /// None: nothing carries the test binary's symbols into the simulated kernel.
    fn kernel_symbols() -> &'static [u8] {
        &[]
    }

    /// Nothing: the host's code keeps no frame chain that could be walked safely
    /// (frame pointers are not forced on the host).
    fn stack_walk(_ctx: &Context, _from: WalkFrom, _out: &mut [usize]) -> usize {
        0
    }

    fn context_stack_bytes(ctx: &Context) -> usize {
        ctx.stack_bytes()
    }

    fn boot_args() -> &'static str {
        Cpu::expect("boot_args").boot().boot_args
    }

    fn halt(success: bool) -> ! {
        halt(Cpu::expect("halt"), success)
    }

    /// The simulation cannot boot again: it notes the request and stops as a
    /// successful halt does (QEMU's `-no-reboot` likewise exits).
    fn reboot() -> ! {
        let cpu = Cpu::expect("reboot");
        console::note(cpu, "sim: reboot requested: the simulation stops\n");
        halt(cpu, true)
    }

    type AddrSpace = AddrSpace;

    const USER_RESERVED: core::ops::Range<u64> = 0..0;

    fn as_create() -> Result<AddrSpace, MapError> {
        AddrSpace::new(Cpu::expect("as_create"))
    }

    fn as_map(space: &AddrSpace, va: u64, len: u64, prot: Prot) -> Result<(), MapError> {
        space.map(va, len, prot)
    }

    fn as_unmap(space: &AddrSpace, va: u64, len: u64) -> Result<(), MapError> {
        space.unmap(va, len)
    }

    fn as_protect(space: &AddrSpace, va: u64, len: u64, prot: Prot) -> Result<(), MapError> {
        space.protect(va, len, prot)
    }

    fn as_write(space: &AddrSpace, va: u64, bytes: &[u8]) -> Result<(), MapError> {
        space.write(va, bytes)
    }

    fn as_fork(space: &AddrSpace) -> Result<AddrSpace, MapError> {
        space.fork(Cpu::expect("as_fork"))
    }

    fn as_read(space: &AddrSpace, va: u64, buf: &mut [u8]) -> Result<(), MapError> {
        space.read(va, buf)
    }

    fn user_enter(space: crate::kmem::Shared<AddrSpace>, frame: UserFrame) -> ! {
        user::enter(space, frame)
    }

    fn user_flush_windows() {}

    fn user_exec(space: Shared<AddrSpace>) {
        user::exec(space)
    }

    fn user_exit() {
        user::exit()
    }

    fn user_frame_detach(ctx: &Context) -> Option<UserFrame> {
        let frame = ctx.user_frame_exchange(UserFrame::empty());
        (!frame.is_empty()).then_some(frame)
    }

    fn user_frame_attach(ctx: &Context, frame: UserFrame) {
        let old = ctx.user_frame_exchange(frame);
        assert!(old.is_empty(), "sim: a user frame attached over another");
    }

    fn copyin(uaddr: u64, buf: &mut [u8]) -> Result<(), Fault> {
        user::copyin(uaddr, buf)
    }

    fn copyout(uaddr: u64, bytes: &[u8]) -> Result<(), Fault> {
        user::copyout(uaddr, bytes)
    }

    fn copyin_words<const N: usize, R>(
        uaddr: u64,
        f: impl FnOnce(&[u64; N]) -> R,
    ) -> Result<R, Fault> {
        user::copyin_words(uaddr).map(|w| f(&w))
    }

    fn copyout_words(uaddr: u64, words: &[u64]) -> Result<(), Fault> {
        user::copyout_words(uaddr, words)
    }

    fn user_cas32(uaddr: u64, old: u32, new: u32) -> Result<u32, Fault> {
        user::cas32(uaddr, old, new)
    }

    type SharedPage = user::SharedPage;

    fn as_map_shared(space: &AddrSpace, va: u64) -> Result<Shared<user::SharedPage>, MapError> {
        space.map_shared(va)
    }

    fn shared_load(page: &user::SharedPage, offset: usize) -> u32 {
        page.load(offset)
    }

    fn shared_store(page: &user::SharedPage, offset: usize, v: u32) {
        page.store(offset, v)
    }
}
