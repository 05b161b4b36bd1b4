//! The seeded (deterministic) mode: every simulated CPU runs on one host thread,
//! interleaved by a seeded pseudo-random schedule, in virtual time, so that a run is
//! a function of its seed and any failure replays exactly with it.
//!
//! This module owns that schedule: the CPUs' host stacks (each CPU is a coroutine),
//! the choice of which CPU runs next, the virtual clock, and the delivery of clock
//! interrupts and cross-calls in this mode. The parallel mode's machinery (host
//! threads per CPU, the clock thread, signals) is not used, except for the signal that
//! brings the host thread home after a timeout.
//!
//! # Scheduling points
//!
//! A CPU runs until it makes one of these `Machine` calls: `intr_disable`,
//! `intr_restore`, `relax`, `idle_wait`, `poke_cpu`, `switch`, `clock_start`,
//! `now_ns`, `console_write`, `user_enter`, `copyin`, `copyout`; or, in user code,
//! one of the user program's machine calls (`user::syscall`, the loads and stores,
//! `user::fault`). (Not `curthread`, `cpu_id`, `ncpus`, `intr_enabled`,
//! `set_curthread`, `boot_args`, contexts, the address-space calls, nor the host
//! allocator: allocating while holding a plain spin lock is common and must not let
//! another CPU spin on it.)
//! At each point ([`point`]):
//!
//! 1. virtual time advances by [`STEP_NS`] divided by the number of CPUs that are not
//!    idle (each busy CPU makes about one point per `STEP_NS`, as if they ran in
//!    parallel);
//! 2. the PRNG decides whether another CPU runs now: with the run's switch chance
//!    (drawn from the seed: 1/2, 1/8, 1/32 or 1/128), or 1/2 in `relax`, a spin-wait,
//!    so that the holder of a spin lock gets to run; the next CPU is drawn uniformly
//!    from the CPUs that can run (not idle, or idle with an interrupt due);
//! 3. once this CPU runs again, its interrupts that are due are marked pending
//!    (a clock tick when virtual time has reached it, a cross-call when poked) and,
//!    if its interrupts are enabled, taken right there through the same
//!    `intr::run_pending` as the parallel mode's signal handler.
//!
//! `idle_wait` always gives way to another runnable CPU; when every CPU idles, virtual
//! time jumps to the next clock tick due on any of them.
//!
//! Code that computes without making any of these calls runs on undisturbed until it
//! makes one: there is no preemption between points. **A loop in kernel or test code
//! that waits for another CPU (or for the clock) must make a kernel call that reaches
//! the machine** — take a `DispLock`, yield, sleep, read `now_ns`, call `M::relax()` —
//! or it spins forever (the run's wall-clock timeout then reports it, with the seed).
//! Spin locks must spin through `arch::Relax` for the same reason.
//!
//! # Replay
//!
//! Everything the schedule depends on is in the run: the seed, the CPUs' calls, virtual
//! time. The same seed on the same kernel gives the same interleaving, the same
//! console output, and the same [`SeededRun::trace`] (a hash of every change of CPU
//! and the step it happened at). What the kernel does with host addresses (a sleep
//! queue hashed by a wait channel's address, say) is the one thing outside the seed:
//! two runs in one process see different heap addresses, so a test that needs exact
//! replay of such a kernel runs each boot in a fresh process with address-space
//! randomisation off (see `sim-tests/host/tests/seeded`).

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::boxed::Box;

use super::context::{self, Context};
use super::percpu::{self, Cpu};
use super::{console, intr, Boot, Point, CPU_STACK, DISK_CPU};

/// Virtual time one scheduling point of one busy CPU stands for.
pub const STEP_NS: u64 = 4_000;

/// Chances are out of this.
const CHANCE_ONE: u64 = 1 << 16;
/// The switch chances a seed can give its run: from very fine interleaving to long runs.
const CHANCES: [u64; 4] = [CHANCE_ONE / 2, CHANCE_ONE / 8, CHANCE_ONE / 32, CHANCE_ONE / 128];
/// The switch chance at a spin-wait.
const RELAX_CHANCE: u64 = CHANCE_ONE / 2;

/// What a seeded run did: for reports, and to compare two runs of one seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeededRun {
    /// The seed.
    pub seed: u64,
    /// The chance that an ordinary scheduling point changed CPU, out of 65536.
    pub switch_chance: u64,
    /// Scheduling points passed.
    pub steps: u64,
    /// Changes of CPU.
    pub switches: u64,
    /// Virtual time at the end, in nanoseconds.
    pub virtual_ns: u64,
    /// A hash of the whole schedule: every change of CPU and the step it happened at.
    pub trace: u64,
}

impl core::fmt::Display for SeededRun {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "seed {} (switch chance {}/65536): {} steps, {} CPU switches, {} ms virtual, \
             trace {:016x}",
            self.seed,
            self.switch_chance,
            self.steps,
            self.switches,
            self.virtual_ns / 1_000_000,
            self.trace
        )
    }
}

/// The seeded schedule of one boot. Only the one host thread that runs the CPUs
/// touches it (the atomics are for `Sync`, all `Relaxed`), and `run` reads the
/// counters once that thread has gone home.
pub(super) struct Det {
    seed: u64,
    chance: u64,
    main: fn(usize),
    /// xorshift64* state, never 0.
    rng: AtomicU64,
    now: AtomicU64,
    steps: AtomicU64,
    switches: AtomicU64,
    trace: AtomicU64,
    /// CPUs not idling.
    busy: AtomicUsize,
    /// The virtual time at which the run is stopped (`SimConfig::virtual_timeout`).
    limit: u64,
    /// Whether it was.
    expired: AtomicBool,
    /// Cleared by each change of CPU, in place of a context's running flag.
    scratch: AtomicBool,
    cpus: Box<[DetCpu]>,
}

/// One CPU as the schedule sees it.
struct DetCpu {
    /// Where its host thread's stack pointer was when it last gave way (its initial
    /// frame before it first ran).
    sp: AtomicUsize,
    /// In `idle_wait`: it can run again only once an interrupt is due.
    idle: AtomicBool,
    /// The CPU's host stack, on which its boot thread runs: owned here only to keep
    /// it mapped for the whole run.
    _stack: Context,
}

/// splitmix64: spreads a seed into well-mixed words.
pub(super) fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Det {
    pub(super) fn new(seed: u64, ncpus: usize, main: fn(usize), limit: u64) -> Det {
        let mut s = seed;
        let chance = CHANCES[(splitmix(&mut s) % CHANCES.len() as u64) as usize];
        let rng = splitmix(&mut s).max(1);
        let cpus = (0..ncpus)
            .map(|cpu| {
                let stack = Context::machine_own(CPU_STACK, cpu_entry, cpu);
                DetCpu {
                    sp: AtomicUsize::new(context::initial_sp(&stack)),
                    idle: AtomicBool::new(false),
                    _stack: stack,
                }
            })
            .collect();
        Det {
            seed,
            chance,
            main,
            rng: AtomicU64::new(rng),
            now: AtomicU64::new(0),
            steps: AtomicU64::new(0),
            switches: AtomicU64::new(0),
            trace: AtomicU64::new(seed),
            busy: AtomicUsize::new(ncpus),
            limit,
            expired: AtomicBool::new(false),
            scratch: AtomicBool::new(false),
            cpus,
        }
    }

    pub(super) fn report(&self) -> SeededRun {
        SeededRun {
            seed: self.seed,
            switch_chance: self.chance,
            steps: self.steps.load(Relaxed),
            switches: self.switches.load(Relaxed),
            virtual_ns: self.now.load(Relaxed),
            trace: self.trace.load(Relaxed),
        }
    }

    /// Whether the virtual time limit stopped the run.
    pub(super) fn expired(&self) -> bool {
        self.expired.load(Relaxed)
    }

    /// Stops the run, with failure, if virtual time has passed the limit.
    fn check_limit(&self, cpu: Cpu) {
        if self.now.load(Relaxed) > self.limit && !self.expired.swap(true, Relaxed) {
            let msg = std::format!(
                "sim: timed out after {} ms of virtual time\n",
                self.limit / 1_000_000
            );
            console::note(cpu, &msg);
            super::halt(cpu, false);
        }
    }

    /// The next pseudo-random word (xorshift64*).
    fn next(&self) -> u64 {
        let mut x = self.rng.load(Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.store(x, Relaxed);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A pseudo-random number in `0..n` (`n` below 2^32).
    fn below(&self, n: usize) -> usize {
        (((self.next() >> 32) * n as u64) >> 32) as usize
    }

    /// One scheduling point's worth of virtual time.
    fn advance(&self) {
        self.steps.fetch_add(1, Relaxed);
        let busy = self.busy.load(Relaxed).max(1) as u64;
        self.now.fetch_add(STEP_NS / busy, Relaxed);
    }

    fn set_idle(&self, cpu: usize, idle: bool) {
        if self.cpus[cpu].idle.swap(idle, Relaxed) != idle {
            if idle {
                self.busy.fetch_sub(1, Relaxed);
            } else {
                self.busy.fetch_add(1, Relaxed);
            }
        }
    }

    /// Whether CPU `k` has an interrupt to take.
    fn due(&self, boot: &Boot, k: usize) -> bool {
        let pc = &boot.percpu[k];
        let period = pc.clock_period_ns.load(Relaxed);
        let now = self.now.load(Relaxed);
        pc.poked.load(Relaxed)
            || pc.pending()
            || (period != 0 && now >= pc.clock_next_ns.load(Relaxed))
            || (k == DISK_CPU && disk_due(boot).is_some_and(|due| now >= due))
    }

    fn runnable(&self, boot: &Boot, k: usize) -> bool {
        !self.cpus[k].idle.load(Relaxed) || self.due(boot, k)
    }

    /// Draws one of the CPUs other than `me` that can run, if there is any.
    fn pick(&self, boot: &Boot, me: usize) -> Option<usize> {
        let n = self.cpus.len();
        let count = (0..n).filter(|&k| k != me && self.runnable(boot, k)).count();
        if count == 0 {
            return None;
        }
        (0..n).filter(|&k| k != me && self.runnable(boot, k)).nth(self.below(count))
    }

    /// Every CPU idles, and none but perhaps `me` has an interrupt due: moves virtual
    /// time on to the next clock tick and returns a CPU that takes it.
    fn wake_earliest(&self, cpu: Cpu, me: usize) -> usize {
        let boot = cpu.boot();
        if self.due(boot, me) {
            return me;
        }
        let running = |k: &usize| boot.percpu[*k].clock_period_ns.load(Relaxed) != 0;
        let n = self.cpus.len();
        let ticks = (0..n).filter(running).map(|k| boot.percpu[k].clock_next_ns.load(Relaxed));
        let Some(at) = ticks.chain(disk_due(boot)).min() else {
            console::note(
                cpu,
                "sim: every CPU idles and no clock runs: nothing can happen any more\n",
            );
            super::halt(cpu, false)
        };
        if at > self.now.load(Relaxed) {
            self.now.store(at, Relaxed);
        }
        let due = (0..n).filter(|&k| self.due(boot, k)).count();
        (0..n).filter(|&k| self.due(boot, k)).nth(self.below(due)).unwrap_or(me)
    }

    /// Suspends CPU `me` (running on this host thread now) and continues CPU `next`;
    /// returns when some CPU continues `me` again.
    fn switch_cpu(&self, boot: &Boot, me: usize, next: usize) {
        let steps = self.steps.load(Relaxed);
        self.switches.fetch_add(1, Relaxed);
        let mut h = self.trace.load(Relaxed) ^ steps.rotate_left(17) ^ (next as u64);
        self.trace.store(splitmix(&mut h), Relaxed);
        percpu::set_gs_to(&boot.percpu[next]);
        let to = self.cpus[next].sp.load(Relaxed);
        context::coroutine_switch(&self.cpus[me].sp, to, &self.scratch);
        // Whoever continued this CPU pointed %gs back at it.
    }
}

/// When the disk's next transfer is due, if it has one in flight.
fn disk_due(boot: &Boot) -> Option<u64> {
    boot.disk.as_ref().and_then(|d| d.next_due())
}

/// Marks this CPU's due interrupts pending, and takes them if its interrupts are on.
fn deliver(cpu: Cpu, det: &Det) {
    let pc = cpu.percpu();
    if cpu.cpu() == DISK_CPU {
        if let Some(disk) = &cpu.boot().disk {
            if disk.complete_due(det.now.load(Relaxed)) {
                pc.disk_due.store(true, Relaxed);
                cpu.set_intr_pending(true);
            }
        }
    }
    let period = pc.clock_period_ns.load(Relaxed);
    if period != 0 {
        let now = det.now.load(Relaxed);
        let next = pc.clock_next_ns.load(Relaxed);
        if now >= next {
            pc.clock_due.store(true, Relaxed);
            cpu.set_intr_pending(true);
            // Ticks this CPU was too busy (or not scheduled) to take are dropped, as
            // a real clock that latches one interrupt drops them.
            let after = if next + period > now { next + period } else { now + period };
            pc.clock_next_ns.store(after, Relaxed);
        }
    }
    if pc.poked.load(Relaxed) {
        cpu.set_intr_pending(true);
    }
    if cpu.intr_enabled() && cpu.intr_pending() {
        intr::run_pending(cpu);
    }
}

/// A scheduling point (see the module comment).
pub(super) fn point(cpu: Cpu, kind: Point) {
    let boot = cpu.boot();
    let det = boot.det();
    det.advance();
    if boot.halted() {
        // Only a timeout halts the machine from outside the simulation.
        super::exit_to_host(cpu);
    }
    det.check_limit(cpu);
    let chance = if kind == Point::Relax { RELAX_CHANCE } else { det.chance };
    if det.next() % CHANCE_ONE < chance {
        let me = cpu.cpu();
        if let Some(next) = det.pick(boot, me) {
            det.switch_cpu(boot, me, next);
        }
    }
    deliver(cpu, det);
}

/// `Machine::idle_wait`: gives way to the other CPUs until an interrupt has been taken
/// here; interrupts are enabled meanwhile and disabled again on return.
pub(super) fn idle_wait(cpu: Cpu) {
    let (this, count) = (cpu.this_addr(), cpu.intr_count());
    let boot = cpu.boot();
    let det = boot.det();
    cpu.intr_restore(true);
    // A change of CPU means the thread was switched out from an interrupt and resumed
    // elsewhere: an interrupt was taken, too.
    while cpu.this_addr() == this && cpu.intr_count() == count {
        det.advance();
        if boot.halted() {
            super::exit_to_host(cpu);
        }
        let me = cpu.cpu();
        det.set_idle(me, true);
        let next = match det.pick(boot, me) {
            Some(next) => next,
            None => det.wake_earliest(cpu, me),
        };
        if next != me {
            det.switch_cpu(boot, me, next);
        }
        det.set_idle(me, false);
        det.check_limit(cpu);
        deliver(cpu, det);
    }
    cpu.intr_disable();
}

/// The virtual clock.
pub(super) fn now(cpu: Cpu) -> u64 {
    cpu.boot().det().now.load(Relaxed)
}

/// The seeded mode's one host thread: it becomes every CPU in turn, and comes home
/// when the machine halts.
pub(super) fn host_thread(boot: &Boot) {
    // The handler must not see this thread before it is a whole CPU, nor after.
    intr::block_signal(true);
    let first = &boot.percpu[0];
    first.attach(boot);
    let me = first.pthread.load(core::sync::atomic::Ordering::Acquire);
    for pc in boot.percpu.iter() {
        pc.attach_alias(boot, me);
        pc.set_seeded();
    }
    intr::block_signal(false);
    context::enter(first.exit_sp_slot(), start, boot as *const Boot as usize);
    // Home: the machine halted, every CPU with it.
    intr::block_signal(true);
    percpu::set_gs_to(first);
    for pc in boot.percpu.iter() {
        pc.set_in_sim(false);
        pc.out.store(true, core::sync::atomic::Ordering::Release);
    }
    boot.out.store(boot.ncpus, core::sync::atomic::Ordering::Release);
    boot.waiter.unpark();
    first.detach();
}

/// Below the host thread's exit frame: starts the first CPU the seed picks.
extern "C" fn start(arg: usize) {
    // SAFETY: `arg` is the Boot that `host_thread` borrows for the whole simulation.
    let boot = unsafe { &*(arg as *const Boot) };
    // Every CPU goes home to the one exit frame.
    let exit = boot.percpu[0].exit_sp_slot().load(Relaxed);
    for pc in boot.percpu.iter() {
        pc.exit_sp_slot().store(exit, Relaxed);
        pc.set_in_sim(true);
    }
    let cpu = Cpu::expect("the seeded mode's start");
    if boot.halted() {
        super::exit_to_host(cpu);
    }
    let det = boot.det();
    let first = det.below(det.cpus.len());
    let mut h = det.trace.load(Relaxed) ^ first as u64;
    det.trace.store(splitmix(&mut h), Relaxed);
    percpu::set_gs_to(&boot.percpu[first]);
    context::jump(det.cpus[first].sp.load(Relaxed))
}

/// The bottom of a CPU's host stack, entered (through `context`'s thread start, which
/// catches panics) the first time the schedule runs the CPU.
fn cpu_entry(cpu: usize) -> ! {
    let c = Cpu::expect("a seeded CPU");
    (c.boot().det().main)(cpu);
    let c = Cpu::expect("a seeded CPU");
    console::note(c, &std::format!("sim: cpu {cpu}: main returned without halting the machine\n"));
    super::halt(c, false)
}
