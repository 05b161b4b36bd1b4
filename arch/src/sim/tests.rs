//! Tests of the host simulation machine: real stack switches, preemption by the clock
//! signal on one and several CPUs, preempted threads migrating between CPUs, halt,
//! the interrupt flag, the console, and user mode (address spaces, user programs'
//! traps, `copyin`/`copyout`, interrupts in user code).
//!
//! Kernel entry points are plain `fn`s, so each test keeps its state in statics of its
//! own; the simulations themselves are serialised by `run`.

use core::hint::black_box;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::vec::Vec;

use super::*;
use crate::cell::StaticRef;
use crate::PendingWork;

#[global_allocator]
static ALLOC: SimAlloc = SimAlloc;

/// Deliberately below the simulation's minimum, which rounds it up.
const STACK: usize = 8 * 1024;

/// Generous: only a broken machine comes near it.
const TIMEOUT: Duration = Duration::from_secs(30);

/// These tests never poke a CPU: a cross-call arriving is a bug of the machine.
fn unexpected_poke() {
    panic!("sim: a cross-call arrived that no test sent");
}

/// Tests that run no user code: a trap from user mode is a bug of the machine.
fn unexpected_user_trap(_frame: &UserFrame, why: crate::UserTrap) {
    panic!("sim: a user trap ({why:?}) in a test that runs no user code");
}

/// The test kernel's thread: its pending-work word first (`ThreadRegister`).
#[repr(C)]
struct T {
    pending: PendingWork,
    id: usize,
    ctx: Context,
    /// The next thread in a test scheduler's ring.
    next: StaticRef<T>,
    /// How often the thread went round its loop.
    count: AtomicU64,
    /// Events the thread observed (interleavings, migrations).
    seen: AtomicU64,
}

// SAFETY: T is the only ThreadRegister type in this crate's tests, `#[repr(C)]`
// with its pending-work word first.
unsafe impl ThreadRegister for T {}

fn thread(id: usize, entry: ThreadEntry, arg: usize) -> &'static T {
    Box::leak(Box::new(T {
        pending: PendingWork::new(),
        id,
        ctx: Sim::context_new(STACK, entry, arg),
        next: StaticRef::none(),
        count: AtomicU64::new(0),
        seen: AtomicU64::new(0),
    }))
}

/// The calling CPU's boot thread, installed as its current thread.
fn boot_thread(id: usize) -> &'static T {
    let t = Box::leak(Box::new(T {
        pending: PendingWork::new(),
        id,
        ctx: Sim::BOOT_CONTEXT,
        next: StaticRef::none(),
        count: AtomicU64::new(0),
        seen: AtomicU64::new(0),
    }));
    Sim::set_curthread(t);
    t
}

fn me() -> &'static T {
    Sim::curthread::<T>()
}

fn switch_to(to: &'static T) {
    let was = Sim::intr_disable();
    Sim::switch(&me().ctx, &to.ctx, to);
    Sim::intr_restore(was);
}

fn config(ncpus: usize) -> SimConfig {
    SimConfig { timeout: Some(TIMEOUT), ..SimConfig::new(ncpus) }
}

fn seeded(ncpus: usize, seed: u64) -> SimConfig {
    SimConfig { schedule: Schedule::Seeded(seed), ..config(ncpus) }
}

/// Spins until `cond` holds; halts the machine with failure if it takes over `TIMEOUT`
/// (of machine time: virtual in the seeded mode).
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Sim::now_ns();
    while !cond() {
        if Sim::now_ns() - start > TIMEOUT.as_nanos() as u64 {
            Sim::console_write(std::format!("gave up waiting for {what}\n").as_bytes());
            Sim::halt(false);
        }
        Sim::relax();
    }
}

#[test]
fn switches_pass_values_and_set_curthread() {
    static MAILBOX: AtomicUsize = AtomicUsize::new(0);
    static THREADS: spin::Once<[&'static T; 3]> = spin::Once::new();

    fn entry(arg: usize) -> ! {
        let [t0, _, t2] = *THREADS.get().unwrap();
        let me = me();
        assert_eq!(me.id, arg);
        assert!(!Sim::intr_enabled(), "a new thread starts with interrupts disabled");
        // As a kernel's thread start does, once the switch that brought it in is done.
        Sim::intr_restore(true);
        loop {
            assert!(ptr::eq(Sim::curthread::<T>(), me));
            assert!(Sim::intr_enabled(), "a kernel thread runs with interrupts enabled");
            MAILBOX.store(MAILBOX.load(SeqCst) * 10 + me.id, SeqCst);
            me.count.fetch_add(1, SeqCst);
            switch_to(if me.id == 1 { t2 } else { t0 });
        }
    }

    fn main(_cpu: usize) {
        let t0 = boot_thread(0);
        let t1 = thread(1, entry, 1);
        let t2 = thread(2, entry, 2);
        THREADS.call_once(|| [t0, t1, t2]);
        MAILBOX.store(7, SeqCst);
        for round in 1..=3 {
            switch_to(t1);
            assert!(ptr::eq(me(), t0));
            assert!(!Sim::intr_enabled(), "the boot thread got its own interrupt state back");
            assert_eq!(t1.count.load(SeqCst), round);
            assert_eq!(t2.count.load(SeqCst), round);
        }
        Sim::halt(true)
    }

    assert!(boot(config(1), main));
    assert_eq!(MAILBOX.load(SeqCst), 7_121_212);
}

#[test]
fn context_reset_restarts_a_thread_on_its_own_stack() {
    static RUNS: spin::Mutex<Vec<(usize, usize)>> = spin::Mutex::new(Vec::new());
    static BOOT_T: StaticRef<T> = StaticRef::none();

    fn entry(arg: usize) -> ! {
        let local = 0u8;
        let at = black_box(&local) as *const u8 as usize;
        let was = Sim::intr_disable();
        RUNS.lock().push((arg, at));
        Sim::intr_restore(was);
        // The thread ends: it switches away for good.
        let boot = BOOT_T.get().unwrap();
        Sim::intr_disable();
        Sim::switch(&me().ctx, &boot.ctx, boot);
        unreachable!("an ended thread was resumed");
    }

    fn main(_cpu: usize) {
        let t0 = boot_thread(0);
        BOOT_T.set(Some(t0));
        let t1 = thread(1, entry, 10);
        switch_to(t1);
        Sim::context_reset(&t1.ctx, entry, 20);
        switch_to(t1);
        Sim::halt(true)
    }

    assert!(boot(config(1), main));
    let runs = RUNS.lock().clone();
    assert_eq!(runs.len(), 2);
    assert_eq!((runs[0].0, runs[1].0), (10, 20));
    assert_eq!(runs[0].1, runs[1].1, "the second run starts afresh on the same stack");
}

#[test]
fn switching_to_a_running_context_panics() {
    static BOOT_T: StaticRef<T> = StaticRef::none();
    static IDLE_T: StaticRef<T> = StaticRef::none();
    static CHECKED: AtomicBool = AtomicBool::new(false);

    fn panics(f: impl FnOnce()) -> bool {
        catch_unwind(AssertUnwindSafe(f)).is_err()
    }

    fn entry(_arg: usize) -> ! {
        let me = me();
        let boot = BOOT_T.get().unwrap();
        let idle = IDLE_T.get().unwrap();
        Sim::intr_disable();
        assert!(panics(|| Sim::switch(&me.ctx, &me.ctx, me)), "switch to itself");
        assert!(panics(|| Sim::context_reset(&me.ctx, entry, 0)), "reset of itself");
        assert!(
            panics(|| Sim::switch(&idle.ctx, &boot.ctx, boot)),
            "switch from another thread's context"
        );
        // Nothing of that changed anything: still current, and it switches normally.
        assert!(ptr::eq(Sim::curthread::<T>(), me));
        CHECKED.store(true, SeqCst);
        Sim::switch(&me.ctx, &boot.ctx, boot);
        unreachable!();
    }

    fn main(_cpu: usize) {
        let t0 = boot_thread(0);
        BOOT_T.set(Some(t0));
        IDLE_T.set(Some(thread(2, entry, 0)));
        let t1 = thread(1, entry, 0);
        Sim::intr_restore(true);
        assert!(panics(|| Sim::switch(&t0.ctx, &t1.ctx, t1)), "switch with interrupts enabled");
        Sim::intr_disable();
        // A boot context runs from the start.
        assert!(panics(|| Sim::switch(&t0.ctx, &t0.ctx, t0)), "switch to the running boot context");
        switch_to(t1);
        assert!(CHECKED.load(SeqCst));
        // t1 ended, so it is no longer running: it may be reset now.
        Sim::context_reset(&t1.ctx, entry, 0);
        Sim::halt(true)
    }

    assert!(boot(config(1), main));
}

/// Clock-driven round-robin between two CPU-bound threads on each CPU, neither of
/// which ever yields: each thread counts the times it sees the other's counter move,
/// which only a preemption (of itself, then of the other) can bring about.
mod preemption {
    use super::*;

    /// Interleavings each thread must see.
    const ROUNDS: u64 = 3;
    /// Serialises the two tests below, which share these statics.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    static DONE: AtomicUsize = AtomicUsize::new(0);
    static TOTAL: AtomicUsize = AtomicUsize::new(0);
    /// The first thing found wrong (0: nothing).
    static BAD: AtomicUsize = AtomicUsize::new(0);
    const BAD_CURTHREAD: usize = 1;
    const BAD_CPU: usize = 2;
    const BAD_INTR: usize = 3;
    static THREADS: spin::Mutex<Vec<&'static T>> = spin::Mutex::new(Vec::new());

    fn tick(from_user: bool) {
        assert!(!from_user, "a tick from user mode where no user code runs");
        let me = me();
        if let Some(next) = me.next.get() {
            Sim::switch(&me.ctx, &next.ctx, next);
        }
    }
    static UPCALLS: Upcalls = Upcalls {
        clock_intr: tick,
        poke_intr: unexpected_poke,
        sysent: &[],
        user_trap: unexpected_user_trap,
    };

    fn spinner(_arg: usize) -> ! {
        Sim::intr_restore(true);
        let me = me();
        let other = me.next.get().unwrap();
        let cpu = Sim::cpu_id();
        let mut last = other.count.load(SeqCst);
        loop {
            // Not a yield: only a scheduling point of the seeded mode, where its
            // clock interrupts can be taken (a no-op in the parallel mode).
            Sim::relax();
            me.count.fetch_add(1, SeqCst);
            if !ptr::eq(Sim::curthread::<T>(), me) {
                let _ = BAD.compare_exchange(0, BAD_CURTHREAD, SeqCst, SeqCst);
            }
            if Sim::cpu_id() != cpu {
                let _ = BAD.compare_exchange(0, BAD_CPU, SeqCst, SeqCst);
            }
            if !Sim::intr_enabled() {
                let _ = BAD.compare_exchange(0, BAD_INTR, SeqCst, SeqCst);
            }
            let now = other.count.load(SeqCst);
            if now != last {
                last = now;
                if me.seen.fetch_add(1, SeqCst) + 1 == ROUNDS
                    && DONE.fetch_add(1, SeqCst) + 1 == TOTAL.load(SeqCst)
                {
                    Sim::halt(BAD.load(SeqCst) == 0);
                }
            }
        }
    }

    fn main(cpu: usize) {
        let t0 = boot_thread(100 + cpu);
        let a = thread(2 * cpu, spinner, 0);
        let b = thread(2 * cpu + 1, spinner, 0);
        a.next.set(Some(b));
        b.next.set(Some(a));
        let was = Sim::intr_disable();
        THREADS.lock().extend([a, b]);
        Sim::intr_restore(was);
        Sim::set_upcalls(&UPCALLS);
        Sim::clock_start(1000);
        Sim::intr_disable();
        // The boot thread leaves the ring for good.
        Sim::switch(&t0.ctx, &a.ctx, a);
        unreachable!();
    }

    fn interleave(config: SimConfig) {
        let ncpus = config.ncpus;
        let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        DONE.store(0, SeqCst);
        TOTAL.store(2 * ncpus, SeqCst);
        BAD.store(0, SeqCst);
        THREADS.lock().clear();
        let out = run(config, main);
        assert_eq!(BAD.load(SeqCst), 0, "1: curthread wrong, 2: moved CPU, 3: interrupts off");
        assert!(out.success && !out.timed_out, "{out:?}");
        let threads = THREADS.lock();
        assert_eq!(threads.len(), 2 * ncpus);
        for t in threads.iter() {
            assert!(t.seen.load(SeqCst) >= ROUNDS, "thread {} saw too few interleavings", t.id);
            assert!(t.count.load(SeqCst) > 0);
        }
    }

    #[test]
    fn clock_preemption_interleaves_cpu_bound_threads_on_1_cpu() {
        interleave(config(1));
    }

    #[test]
    fn clock_preemption_interleaves_cpu_bound_threads_on_4_cpus() {
        interleave(config(4));
    }

    #[test]
    fn seeded_clock_preemption_interleaves_cpu_bound_threads() {
        for (ncpus, seed) in [(1, 1), (3, 2), (4, 3)] {
            interleave(seeded(ncpus, seed));
        }
    }
}

/// Three CPU-bound threads on two CPUs, rescheduled from one shared run queue at each
/// clock tick, so that a thread preempted on one CPU is resumed on the other (and, in
/// the parallel mode, returns from its signal handler on the other host thread). They
/// allocate and use floating point as they spin, and check their stacks.
#[test]
fn preempted_threads_migrate_between_cpus() {
    migrate(config(2));
}

#[test]
fn seeded_preempted_threads_migrate_between_cpus() {
    for seed in 10..14 {
        migrate(seeded(2, seed));
    }
}

fn migrate(config: SimConfig) {
    const THREADS: usize = 3;
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    const MIGRATIONS: u64 = 3;
    static QUEUE: spin::Mutex<VecDeque<&'static T>> = spin::Mutex::new(VecDeque::new());
    /// The dispatcher lock, held across each switch and released by the thread that
    /// runs next, so that no CPU takes a thread whose switch-out is unfinished.
    static DISPATCH: AtomicBool = AtomicBool::new(false);
    static READY: AtomicBool = AtomicBool::new(false);
    static DONE: AtomicUsize = AtomicUsize::new(0);
    static BAD: AtomicUsize = AtomicUsize::new(0);
    static ALL: spin::Mutex<Vec<&'static T>> = spin::Mutex::new(Vec::new());

    fn lock() {
        while DISPATCH.compare_exchange_weak(false, true, SeqCst, SeqCst).is_err() {
            Sim::relax();
        }
    }
    fn unlock() {
        DISPATCH.store(false, SeqCst);
    }
    fn bad(code: usize) {
        let _ = BAD.compare_exchange(0, code, SeqCst, SeqCst);
    }

    fn tick(from_user: bool) {
        assert!(!from_user, "a tick from user mode where no user code runs");
        let me = me();
        // A tick that finds the dispatcher busy is skipped, not waited for: a new
        // thread takes its first interrupts (the trampoline enables them) before its
        // entry can release the lock that the switch into it handed over.
        if DISPATCH.compare_exchange(false, true, SeqCst, SeqCst).is_err() {
            return;
        }
        let next = {
            let mut q = QUEUE.lock();
            q.push_back(me);
            q.pop_front().unwrap()
        };
        if !ptr::eq(next, me) {
            Sim::switch(&me.ctx, &next.ctx, next);
        }
        unlock();
    }
    static UPCALLS: Upcalls = Upcalls {
        clock_intr: tick,
        poke_intr: unexpected_poke,
        sysent: &[],
        user_trap: unexpected_user_trap,
    };

    fn migrant(_arg: usize) -> ! {
        // The switch that started this thread held the dispatcher lock; interrupts
        // come on only once it is released (a tick in between would deadlock on it).
        unlock();
        Sim::intr_restore(true);
        let me = me();
        let canary = [(me.id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15); 8];
        let mut cpu = Sim::cpu_id();
        let mut f = 0.0f64;
        let mut n = 0u64;
        loop {
            Sim::relax();
            n += 1;
            f += 1.0;
            if f != n as f64 {
                bad(1);
            }
            if black_box(&canary).iter().any(|&c| c != canary[0]) {
                bad(2);
            }
            if !ptr::eq(Sim::curthread::<T>(), me) {
                bad(3);
            }
            if !Sim::intr_enabled() {
                bad(4);
            }
            let v: Vec<u64> = (0..n % 32).collect();
            if black_box(v).len() as u64 != n % 32 {
                bad(5);
            }
            me.count.fetch_add(1, SeqCst);
            let now = Sim::cpu_id();
            if now != cpu {
                cpu = now;
                if me.seen.fetch_add(1, SeqCst) + 1 == MIGRATIONS
                    && DONE.fetch_add(1, SeqCst) + 1 == THREADS
                {
                    Sim::halt(BAD.load(SeqCst) == 0);
                }
            }
        }
    }

    fn main(cpu: usize) {
        let t0 = boot_thread(100 + cpu);
        if cpu == 0 {
            let was = Sim::intr_disable();
            let mut q = QUEUE.lock();
            q.reserve(THREADS + 4);
            for id in 0..THREADS {
                let t = thread(id, migrant, 0);
                q.push_back(t);
                ALL.lock().push(t);
            }
            drop(q);
            Sim::intr_restore(was);
            READY.store(true, SeqCst);
        }
        wait_until("the run queue", || READY.load(SeqCst));
        Sim::set_upcalls(&UPCALLS);
        Sim::clock_start(1000);
        Sim::intr_disable();
        lock();
        let first = QUEUE.lock().pop_front().unwrap();
        Sim::switch(&t0.ctx, &first.ctx, first);
        unreachable!();
    }

    QUEUE.lock().clear();
    ALL.lock().clear();
    READY.store(false, SeqCst);
    DISPATCH.store(false, SeqCst);
    DONE.store(0, SeqCst);
    BAD.store(0, SeqCst);
    let out = run(config, main);
    assert_eq!(
        BAD.load(SeqCst),
        0,
        "1: FP state, 2: stack, 3: curthread, 4: interrupts off, 5: heap"
    );
    assert!(out.success && !out.timed_out, "{out:?}");
    for t in ALL.lock().iter() {
        assert!(t.seen.load(SeqCst) >= MIGRATIONS, "thread {} migrated too little", t.id);
    }
}

#[test]
fn disabled_interrupts_defer_the_clock_until_enabled() {
    static TICKS: AtomicUsize = AtomicUsize::new(0);
    fn tick(from_user: bool) {
        assert!(!from_user, "a tick from user mode where no user code runs");
        assert!(!Sim::intr_enabled(), "the clock runs with interrupts disabled");
        TICKS.fetch_add(1, SeqCst);
    }
    static UPCALLS: Upcalls = Upcalls {
        clock_intr: tick,
        poke_intr: unexpected_poke,
        sysent: &[],
        user_trap: unexpected_user_trap,
    };

    fn main(_cpu: usize) {
        assert!(!Sim::intr_enabled(), "a CPU boots with interrupts disabled");
        Sim::set_upcalls(&UPCALLS);
        Sim::clock_start(1000);
        let cpu = Cpu::expect("test");
        wait_until("a pending clock interrupt", || cpu.intr_pending());
        assert_eq!(TICKS.load(SeqCst), 0);
        assert!(!Sim::intr_disable());
        Sim::intr_restore(false);
        assert_eq!(TICKS.load(SeqCst), 0);
        // Taken right here, as interrupts come back on.
        Sim::intr_restore(true);
        assert!(TICKS.load(SeqCst) >= 1);
        assert!(!cpu.intr_pending());
        assert!(Sim::intr_disable());

        let before = TICKS.load(SeqCst);
        Sim::idle_wait();
        assert!(TICKS.load(SeqCst) > before, "idle_wait returns after an interrupt");
        assert!(!Sim::intr_enabled(), "idle_wait returns with interrupts disabled");
        Sim::halt(true)
    }

    assert!(boot(config(1), main));
}

#[test]
fn halt_from_one_cpu_stops_all_and_returns_the_verdict() {
    static READY: AtomicUsize = AtomicUsize::new(0);
    static VERDICT: AtomicBool = AtomicBool::new(false);
    static PAST: AtomicBool = AtomicBool::new(false);

    fn main(cpu: usize) {
        match cpu {
            // Spins with interrupts on and its clock running.
            0 => {
                Sim::clock_start(500);
                Sim::intr_restore(true);
                READY.fetch_add(1, SeqCst);
                while !black_box(false) {}
            }
            // Spins with interrupts off and no clock.
            1 => {
                READY.fetch_add(1, SeqCst);
                while !black_box(false) {}
            }
            // Idles, with no clock.
            2 => {
                READY.fetch_add(1, SeqCst);
                while !black_box(false) {
                    Sim::idle_wait();
                }
            }
            _ => {
                wait_until("the other CPUs", || READY.load(SeqCst) == 3);
                Sim::console_write(b"halting\n");
                Sim::halt(VERDICT.load(SeqCst));
            }
        }
        PAST.store(true, SeqCst);
    }

    for verdict in [true, false, true] {
        READY.store(0, SeqCst);
        VERDICT.store(verdict, SeqCst);
        let out = run(config(4), main);
        assert_eq!(out.success, verdict);
        assert!(!out.timed_out);
        assert_eq!(out.console, "halting\n");
        assert!(!PAST.load(SeqCst));
    }
}

#[test]
fn halt_from_inside_the_clock_interrupt() {
    static TICKS: AtomicUsize = AtomicUsize::new(0);
    fn tick(from_user: bool) {
        assert!(!from_user, "a tick from user mode where no user code runs");
        if TICKS.fetch_add(1, SeqCst) + 1 == 5 {
            Sim::halt(true);
        }
    }
    static UPCALLS: Upcalls = Upcalls {
        clock_intr: tick,
        poke_intr: unexpected_poke,
        sysent: &[],
        user_trap: unexpected_user_trap,
    };

    fn main(cpu: usize) {
        Sim::set_upcalls(&UPCALLS);
        if cpu == 0 {
            Sim::clock_start(1000);
            Sim::intr_restore(true);
            while !black_box(false) {}
        }
        while !black_box(false) {
            Sim::idle_wait();
        }
    }

    assert!(boot(config(2), main));
    assert!(TICKS.load(SeqCst) >= 5);
}

#[test]
fn boots_run_one_after_another_with_their_own_cpus_args_and_console() {
    static WRITTEN: AtomicUsize = AtomicUsize::new(0);

    fn main(cpu: usize) {
        let line = std::format!("cpu {cpu} of {}: {}\n", Sim::ncpus(), Sim::boot_args());
        Sim::console_write(line.as_bytes());
        WRITTEN.fetch_add(1, SeqCst);
        if cpu == 0 {
            wait_until("every CPU's line", || WRITTEN.load(SeqCst) == Sim::ncpus());
            assert!(console_output().contains(&line), "readable while running");
            Sim::halt(true);
        }
        while !black_box(false) {
            Sim::idle_wait();
        }
    }

    for (ncpus, args) in [(1, "run=a"), (3, "run=b"), (2, "run=c")] {
        WRITTEN.store(0, SeqCst);
        let out = run(SimConfig { boot_args: args, ..config(ncpus) }, main);
        assert!(out.success);
        assert_eq!(out.console.lines().count(), ncpus, "{}", out.console);
        for cpu in 0..ncpus {
            assert!(
                out.console.contains(&std::format!("cpu {cpu} of {ncpus}: {args}\n")),
                "{}",
                out.console
            );
        }
        assert_eq!(console_output(), out.console);
    }
}

#[test]
fn a_cpu_whose_main_returns_fails_the_run() {
    fn main(_cpu: usize) {}
    let out = run(config(2), main);
    assert!(!out.success && !out.timed_out);
    assert!(out.console.contains("main returned"), "{}", out.console);
}

#[test]
fn a_stuck_machine_times_out() {
    fn main(_cpu: usize) {
        // Interrupts off, no clock: only the halt's kicks get this CPU home.
        while !black_box(false) {}
    }
    let out =
        run(SimConfig { timeout: Some(Duration::from_millis(100)), ..SimConfig::new(1) }, main);
    assert!(!out.success && out.timed_out);
}

#[test]
#[should_panic(expected = "boom in a kernel thread")]
fn a_panic_on_a_cpu_reaches_the_caller() {
    fn entry(_arg: usize) -> ! {
        panic!("boom in a kernel thread");
    }
    fn main(_cpu: usize) {
        boot_thread(0);
        switch_to(thread(1, entry, 0));
    }
    boot(config(1), main);
}

#[test]
#[should_panic(expected = "outside a simulated CPU")]
fn machine_calls_off_the_cpus_panic() {
    Sim::cpu_id();
}

/// The seeded mode: replay, virtual time, idling, cross-calls, and how runs fail.
mod seeded {
    use super::*;

    /// Serialises the tests of this module, which share statics.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The order in which the CPUs passed their steps, and the virtual times they saw.
    static TRACE: spin::Mutex<Vec<(usize, u64)>> = spin::Mutex::new(Vec::new());
    static STEPS: AtomicUsize = AtomicUsize::new(0);
    const TOTAL_STEPS: usize = 3000;

    /// Every CPU takes steps (each a scheduling point), logging them, until there are
    /// `TOTAL_STEPS`; also writes to the console now and then.
    fn stepper(cpu: usize) {
        let mut mine = 0u64;
        loop {
            let was = Sim::intr_disable();
            // No scheduling point between reading the clock and logging it.
            let t = Sim::now_ns();
            let n = STEPS.fetch_add(1, SeqCst);
            if n < TOTAL_STEPS {
                TRACE.lock().push((cpu, t));
            }
            Sim::intr_restore(was);
            if n >= TOTAL_STEPS {
                break;
            }
            mine += 1;
            if mine.is_multiple_of(100) {
                Sim::console_write(std::format!("cpu {cpu} step {mine}\n").as_bytes());
            }
        }
        if cpu == 0 {
            Sim::halt(true);
        }
        loop {
            Sim::idle_wait();
        }
    }

    fn trace_of(ncpus: usize, seed: u64) -> (Vec<(usize, u64)>, Outcome) {
        TRACE.lock().clear();
        STEPS.store(0, SeqCst);
        let out = run(seeded(ncpus, seed), stepper);
        assert!(out.success, "{out:?}");
        (TRACE.lock().clone(), out)
    }

    #[test]
    fn one_seed_replays_exactly_and_seeds_differ() {
        let _s = serial();
        let (a, out_a) = trace_of(4, 42);
        let (b, out_b) = trace_of(4, 42);
        assert_eq!(a.len(), TOTAL_STEPS);
        assert!(a == b, "seed 42 interleaved the CPUs differently in two runs");
        assert_eq!(out_a.console, out_b.console, "seed 42 wrote different consoles");
        let (ra, rb) = (out_a.seeded.unwrap(), out_b.seeded.unwrap());
        assert_eq!(ra, rb, "the same seed gave different schedules");
        assert!(
            out_a.console.ends_with(&std::format!("sim: seeded schedule: 4 CPU(s), {ra}\n")),
            "{}",
            out_a.console
        );
        // Every CPU took steps, interleaved with the others.
        for cpu in 0..4 {
            assert!(a.iter().any(|&(c, _)| c == cpu), "cpu {cpu} never ran");
        }
        let changes = a.windows(2).filter(|w| w[0].0 != w[1].0).count();
        assert!(changes >= 10, "only {changes} changes of CPU in {TOTAL_STEPS} steps");
        // Virtual time only goes forward.
        assert!(a.windows(2).all(|w| w[0].1 <= w[1].1));
        // Other seeds interleave differently (all of them alike would be a broken PRNG).
        let mut traces = std::collections::BTreeSet::new();
        traces.insert(ra.trace);
        for seed in 1..6 {
            let (t, out) = trace_of(4, seed);
            let r = out.seeded.unwrap();
            assert_eq!(r.seed, seed);
            if t != a {
                traces.insert(r.trace);
            }
        }
        assert!(
            traces.len() >= 5,
            "5 other seeds gave only {} other interleavings",
            traces.len() - 1
        );
    }

    #[test]
    fn idle_cpus_let_virtual_time_jump_to_the_next_tick() {
        static TICKS: AtomicUsize = AtomicUsize::new(0);
        static NOW_AT_50: AtomicU64 = AtomicU64::new(0);
        fn tick(from_user: bool) {
            assert!(!from_user, "a tick from user mode where no user code runs");
            assert!(!Sim::intr_enabled());
            if Sim::cpu_id() == 0 && TICKS.fetch_add(1, SeqCst) + 1 == 50 {
                NOW_AT_50.store(Sim::now_ns(), SeqCst);
                Sim::halt(true);
            }
        }
        static UPCALLS: Upcalls = Upcalls {
            clock_intr: tick,
            poke_intr: unexpected_poke,
            sysent: &[],
            user_trap: unexpected_user_trap,
        };
        fn main(_cpu: usize) {
            Sim::set_upcalls(&UPCALLS);
            Sim::clock_start(100);
            loop {
                Sim::idle_wait();
                assert!(!Sim::intr_enabled(), "idle_wait returns with interrupts disabled");
            }
        }
        let _s = serial();
        TICKS.store(0, SeqCst);
        let out = run(seeded(3, 7), main);
        assert!(out.success, "{out:?}");
        let r = out.seeded.unwrap();
        let at = NOW_AT_50.load(SeqCst);
        // 50 ticks of a 100 Hz clock: half a virtual second, and few steps for it.
        assert!((500_000_000..=510_000_000).contains(&at), "the 50th tick came at {at} ns");
        assert!(r.steps < 2_000, "{} steps to idle half a second", r.steps);
    }

    #[test]
    fn a_poke_reaches_an_idle_cpu_and_waits_while_interrupts_are_off() {
        static POKES: AtomicUsize = AtomicUsize::new(0);
        static ARMED: AtomicBool = AtomicBool::new(false);
        fn poked() {
            assert_eq!(Sim::cpu_id(), 1, "the cross-call reached the wrong CPU");
            POKES.fetch_add(1, SeqCst);
        }
        fn no_clock(_from_user: bool) {
            panic!("no clock runs in this test");
        }
        static UPCALLS: Upcalls = Upcalls {
            clock_intr: no_clock,
            poke_intr: poked,
            sysent: &[],
            user_trap: unexpected_user_trap,
        };
        fn main(cpu: usize) {
            Sim::set_upcalls(&UPCALLS);
            if cpu == 1 {
                // Interrupts off: a poke waits.
                ARMED.store(true, SeqCst);
                wait_until("the first poke to be sent", || !ARMED.load(SeqCst));
                for _ in 0..100 {
                    Sim::relax();
                }
                assert_eq!(POKES.load(SeqCst), 0, "a cross-call was taken with interrupts off");
                Sim::intr_restore(true);
                // (cpu 0 may have run and poked again meanwhile.)
                assert!(
                    POKES.load(SeqCst) >= 1,
                    "the pending cross-call was not taken as interrupts came on"
                );
                Sim::intr_disable();
                loop {
                    Sim::idle_wait();
                }
            }
            wait_until("cpu 1", || ARMED.load(SeqCst));
            Sim::poke_cpu(1);
            ARMED.store(false, SeqCst);
            wait_until("the first poke", || POKES.load(SeqCst) == 1);
            // Now cpu 1 idles (or soon will): a poke wakes it.
            Sim::poke_cpu(1);
            wait_until("the second poke", || POKES.load(SeqCst) == 2);
            Sim::halt(true)
        }
        let _s = serial();
        for seed in 0..8 {
            POKES.store(0, SeqCst);
            ARMED.store(false, SeqCst);
            let out = run(seeded(2, seed), main);
            assert!(out.success, "seed {seed}: {out:?}");
        }
    }

    #[test]
    fn every_cpu_idle_with_no_clock_fails_the_run() {
        fn main(_cpu: usize) {
            loop {
                Sim::idle_wait();
            }
        }
        let _s = serial();
        let out = run(seeded(2, 5), main);
        assert!(!out.success && !out.timed_out, "{out:?}");
        assert!(out.console.contains("nothing can happen"), "{}", out.console);
        assert!(out.console.contains("sim: seeded schedule: 2 CPU(s), seed 5"), "{}", out.console);
    }

    #[test]
    fn a_cpu_computing_without_machine_calls_times_out() {
        fn main(cpu: usize) {
            if cpu == 1 {
                // Never a scheduling point: only the timeout's signal gets it home.
                while !black_box(false) {}
            }
            loop {
                Sim::relax();
            }
        }
        let _s = serial();
        for seed in 0..2 {
            let cfg = SimConfig { timeout: Some(Duration::from_millis(150)), ..seeded(2, seed) };
            let out = run(cfg, main);
            assert!(!out.success && out.timed_out, "{out:?}");
            assert_eq!(out.seeded.unwrap().seed, seed);
        }
    }

    #[test]
    fn the_virtual_time_limit_stops_a_run_at_the_same_point_every_time() {
        fn main(_cpu: usize) {
            // Makes machine calls forever: only the virtual limit stops it.
            loop {
                Sim::relax();
            }
        }
        let _s = serial();
        let cfg = || SimConfig { virtual_timeout: Some(Duration::from_millis(50)), ..seeded(3, 4) };
        let (a, b) = (run(cfg(), main), run(cfg(), main));
        assert!(!a.success && a.timed_out, "{a:?}");
        assert!(a.console.contains("sim: timed out after 50 ms of virtual time"), "{}", a.console);
        let r = a.seeded.unwrap();
        assert!((50_000_000..50_010_000).contains(&r.virtual_ns), "stopped at {} ns", r.virtual_ns);
        assert_eq!(r, b.seeded.unwrap(), "two runs of one seed stopped at different points");
    }

    #[test]
    fn a_cpu_whose_main_returns_fails_the_run() {
        fn main(cpu: usize) {
            if cpu == 0 {
                return;
            }
            loop {
                Sim::relax();
            }
        }
        let _s = serial();
        let out = run(seeded(3, 9), main);
        assert!(!out.success && !out.timed_out);
        assert!(out.console.contains("cpu 0: main returned"), "{}", out.console);
    }

    #[test]
    #[should_panic(expected = "boom on a seeded CPU")]
    fn a_panic_on_a_seeded_cpu_reaches_the_caller() {
        fn entry(_arg: usize) -> ! {
            Sim::relax();
            panic!("boom on a seeded CPU");
        }
        fn main(cpu: usize) {
            boot_thread(cpu);
            if cpu == 1 {
                switch_to(thread(1, entry, 0));
            }
            loop {
                Sim::relax();
            }
        }
        let _s = serial();
        run(seeded(2, 3), main);
    }

    #[test]
    fn halt_and_interrupt_flag_behave_as_in_the_parallel_mode() {
        static TICKS: AtomicUsize = AtomicUsize::new(0);
        fn tick(from_user: bool) {
            assert!(!from_user, "a tick from user mode where no user code runs");
            assert!(!Sim::intr_enabled(), "the clock runs with interrupts disabled");
            TICKS.fetch_add(1, SeqCst);
        }
        static UPCALLS: Upcalls = Upcalls {
            clock_intr: tick,
            poke_intr: unexpected_poke,
            sysent: &[],
            user_trap: unexpected_user_trap,
        };
        fn main(cpu: usize) {
            if cpu != 0 {
                loop {
                    Sim::relax();
                }
            }
            assert!(!Sim::intr_enabled(), "a CPU boots with interrupts disabled");
            Sim::set_upcalls(&UPCALLS);
            Sim::clock_start(1000);
            let c = Cpu::expect("test");
            wait_until("a pending clock interrupt", || c.intr_pending());
            assert_eq!(TICKS.load(SeqCst), 0);
            Sim::intr_restore(true);
            assert_eq!(TICKS.load(SeqCst), 1, "taken as interrupts come on");
            let t0 = Sim::now_ns();
            wait_until("ten more ticks", || TICKS.load(SeqCst) >= 11);
            let dt = Sim::now_ns() - t0;
            // 10 ticks of 1 ms each, in virtual time (the last one lands within a step).
            assert!((9_000_000..=11_000_000).contains(&dt), "10 ticks took {dt} ns");
            Sim::halt(true)
        }
        let _s = serial();
        TICKS.store(0, SeqCst);
        let out = run(seeded(4, 11), main);
        assert!(out.success, "{out:?}");
    }
}

/// User mode: address spaces, user programs and their traps, `copyin`/`copyout`, and
/// interrupts taken in user code. A small fake kernel runs LWPs one after another
/// from CPU 0's boot thread: each maps its own address space and enters user mode;
/// the kernel's `user_trap` logs what reaches it and ends an LWP by leaving its
/// address space and switching back to the boot thread for good.
mod user_mode {
    use super::*;
    use crate::uregs::{reg, USER_LIMIT};
    use crate::{FaultKind, MapError, Prot, SysEnt, SysRet, UserRegs, UserTrap, PAGE_SIZE};
    use std::sync::Weak;
    use user::TEXT;

    /// Every LWP's address space: `TEXT` (with the rights the test asks for), a
    /// read-write page `DATA`, a read-only page `RO` right above it; `HOLE` is unmapped.
    const DATA: u64 = 0x2000_0000;
    const RO: u64 = DATA + PAGE_SIZE;
    const HOLE: u64 = 0x3000_0000;

    /// The fake kernel's system calls (besides `exit`, 1).
    const SYS_EXIT: u64 = 1;
    const SYS_ECHO: u64 = 300;
    const SYS_FAIL: u64 = 301;
    const SYS_CHECK: u64 = 302;
    const SYS_COPY: u64 = 303;

    /// Serialises the tests of this module, which share statics.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// What one boot runs: the upcalls, the text page's rights, and the LWPs in
    /// order, each as (pc, argument).
    struct Plan {
        upcalls: &'static Upcalls,
        text: Prot,
        lwps: Vec<(u64, u64)>,
    }
    static PLAN: spin::Mutex<Option<Plan>> = spin::Mutex::new(None);
    static BOOT_T: StaticRef<T> = StaticRef::none();
    /// The running LWP's address space, weakly: the kernel's handle to it, and the
    /// proof that it is gone once the LWP has ended.
    static SPACE: spin::Mutex<Weak<AddrSpace>> = spin::Mutex::new(Weak::new());

    /// One upcall that reached the fake kernel, with the registers as it found them.
    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Event {
        lwp: usize,
        why: UserTrap,
        regs: UserRegs,
        intr_enabled: bool,
    }
    static LOG: spin::Mutex<Vec<Event>> = spin::Mutex::new(Vec::new());

    /// Host locks are taken with interrupts disabled (the `sim` rules).
    fn locked<R>(f: impl FnOnce() -> R) -> R {
        let was = Sim::intr_disable();
        let r = f();
        Sim::intr_restore(was);
        r
    }

    fn record(frame: &UserFrame, why: UserTrap) {
        let e = Event { lwp: me().id, why, regs: frame.load(), intr_enabled: Sim::intr_enabled() };
        locked(|| LOG.lock().push(e));
    }

    fn space() -> Arc<AddrSpace> {
        locked(|| SPACE.lock().upgrade()).expect("the running LWP's address space")
    }

    fn no_clock(_from_user: bool) {
        panic!("no clock runs in this test");
    }

    /// Ends the running LWP: it leaves its address space, and its thread switches
    /// back to the boot thread for good.
    fn lwp_end() -> ! {
        Sim::user_exit();
        let boot = BOOT_T.get().unwrap();
        Sim::intr_disable();
        Sim::switch(&me().ctx, &boot.ctx, boot);
        unreachable!("an ended LWP was resumed");
    }

    /// Maps an LWP's address space.
    fn new_space(text: Prot) -> Arc<AddrSpace> {
        let space = Arc::new(Sim::as_create().unwrap());
        if !text.is_empty() {
            Sim::as_map(&space, TEXT.start, PAGE_SIZE, text).unwrap();
        }
        Sim::as_map(&space, DATA, PAGE_SIZE, Prot::READ | Prot::WRITE).unwrap();
        Sim::as_map(&space, RO, PAGE_SIZE, Prot::READ).unwrap();
        space
    }

    fn lwp_entry(i: usize) -> ! {
        Sim::intr_restore(true);
        let (text, (pc, arg)) = locked(|| {
            let plan = PLAN.lock();
            let plan = plan.as_ref().unwrap();
            (plan.text, plan.lwps[i])
        });
        let space = new_space(text);
        locked(|| *SPACE.lock() = Arc::downgrade(&space));
        Sim::user_enter(space, UserFrame::new(&UserRegs::for_entry(pc, DATA + PAGE_SIZE, arg)))
    }

    /// CPU 0 runs the plan's LWPs one after another; the other CPUs idle.
    fn main(cpu: usize) {
        if cpu != 0 {
            loop {
                Sim::idle_wait();
            }
        }
        let t0 = boot_thread(0);
        BOOT_T.set(Some(t0));
        let (upcalls, n) = {
            let plan = PLAN.lock();
            let plan = plan.as_ref().unwrap();
            (plan.upcalls, plan.lwps.len())
        };
        Sim::set_upcalls(upcalls);
        // A thread with no address space copies nothing: before its first switch
        // (the CPU knows no context of it) and after.
        let mut buf = [0u8; 4];
        let unmapped = Err(Fault { kind: FaultKind::Unmapped, addr: DATA });
        assert_eq!(Sim::copyin(DATA, &mut buf), unmapped);
        for i in 0..n {
            switch_to(thread(i + 1, lwp_entry, i));
            // Back here: the LWP has ended, and its address space is gone with it.
            assert!(
                locked(|| SPACE.lock().upgrade()).is_none(),
                "LWP {} left its address space alive",
                i + 1
            );
            assert_eq!(Sim::copyout(DATA, &buf), unmapped);
        }
        Sim::halt(true)
    }

    /// Runs `lwps` under `upcalls` on each test machine (parallel, seeded on one
    /// and two CPUs); returns each run's log.
    fn run_lwps(upcalls: &'static Upcalls, text: Prot, lwps: &[(u64, u64)]) -> Vec<Vec<Event>> {
        [config(1), seeded(1, 3), seeded(2, 4)]
            .into_iter()
            .map(|cfg| {
                *PLAN.lock() = Some(Plan { upcalls, text, lwps: lwps.to_vec() });
                LOG.lock().clear();
                let out = run(cfg.clone(), main);
                assert!(out.success && !out.timed_out, "{cfg:?}: {out:?}");
                LOG.lock().clone()
            })
            .collect()
    }

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn syscalls(log: &[Event]) -> Vec<u64> {
        log.iter().filter(|e| e.why == UserTrap::Syscall).map(|e| e.regs.r[reg::G1]).collect()
    }

    fn faults(log: &[Event]) -> Vec<Fault> {
        log.iter()
            .filter_map(|e| match e.why {
                UserTrap::Fault(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn programs_get_distinct_aligned_pcs_in_the_text_page() {
        fn a(_: u64) {}
        fn b(_: u64) {
            black_box(1);
        }
        let (pa, pb) = (user::program(a), user::program(b));
        assert_eq!(user::program(a), pa, "a program registered twice keeps its pc");
        assert_ne!(pa, pb);
        for pc in [pa, pb] {
            assert!(TEXT.contains(&pc) && pc % 4 == 0, "pc {pc:#x}");
        }
    }

    #[test]
    fn address_spaces_map_read_and_write_and_refuse_bad_ranges() {
        fn main(_cpu: usize) {
            let s = Sim::as_create().unwrap();
            let rw = Prot::READ | Prot::WRITE;
            for (va, len) in [
                (DATA + 8, PAGE_SIZE),
                (DATA, 8),
                (DATA, 0),
                (USER_LIMIT, PAGE_SIZE),
                (USER_LIMIT - PAGE_SIZE, 2 * PAGE_SIZE),
                (u64::MAX - PAGE_SIZE + 1, PAGE_SIZE),
            ] {
                assert_eq!(
                    Sim::as_map(&s, va, len, rw),
                    Err(MapError::BadRange),
                    "map {va:#x}+{len:#x}"
                );
            }
            Sim::as_map(&s, DATA, 2 * PAGE_SIZE, rw).unwrap();
            Sim::as_map(&s, USER_LIMIT - PAGE_SIZE, PAGE_SIZE, Prot::READ).unwrap();
            assert_eq!(
                Sim::as_map(&s, DATA - PAGE_SIZE, 2 * PAGE_SIZE, rw),
                Err(MapError::Overlap)
            );
            assert_eq!(Sim::as_map(&s, DATA + PAGE_SIZE, PAGE_SIZE, rw), Err(MapError::Overlap));
            assert_eq!(
                Sim::as_map(&s, 1 << 40, 1 << 40, rw),
                Err(MapError::NoMemory),
                "more than the machine's memory"
            );

            // Fresh pages are zero; a write may cross pages; the kernel ignores rights.
            let mut buf = [0xffu8; 16];
            Sim::as_read(&s, DATA + PAGE_SIZE - 8, &mut buf).unwrap();
            assert_eq!(buf, [0; 16]);
            Sim::as_write(&s, DATA + PAGE_SIZE - 3, b"across").unwrap();
            Sim::as_write(&s, USER_LIMIT - 2, b"ro").unwrap();
            Sim::as_read(&s, DATA + PAGE_SIZE - 4, &mut buf[..8]).unwrap();
            assert_eq!(&buf[..8], b"\0across\0");
            Sim::as_read(&s, USER_LIMIT - 2, &mut buf[..2]).unwrap();
            assert_eq!(&buf[..2], b"ro");

            // All or nothing: a write running into an unmapped page writes nothing.
            assert_eq!(
                Sim::as_write(&s, DATA + 2 * PAGE_SIZE - 2, b"xyz"),
                Err(MapError::Unmapped)
            );
            Sim::as_read(&s, DATA + 2 * PAGE_SIZE - 2, &mut buf[..2]).unwrap();
            assert_eq!(&buf[..2], b"\0\0");
            assert_eq!(Sim::as_read(&s, HOLE, &mut buf), Err(MapError::Unmapped));
            assert_eq!(Sim::as_read(&s, USER_LIMIT - 2, &mut buf[..3]), Err(MapError::BadRange));
            assert_eq!(Sim::as_write(&s, u64::MAX - 1, b"xyz"), Err(MapError::BadRange));

            // As many live spaces as the MMU has user contexts; a dropped one is free.
            let mut more: Vec<AddrSpace> = (1..8191).map(|_| Sim::as_create().unwrap()).collect();
            assert_eq!(Sim::as_create().map(drop), Err(MapError::NoMemory));
            more.pop();
            more.push(Sim::as_create().unwrap());
            drop(s);
            more.push(Sim::as_create().unwrap());
            assert_eq!(Sim::as_create().map(drop), Err(MapError::NoMemory));
            Sim::halt(true)
        }
        assert!(boot(config(1), main));
    }

    #[test]
    fn a_system_call_reaches_the_kernel_with_its_registers_and_returns_its_result() {
        fn program(arg: u64) {
            assert_eq!(arg, 77);
            assert_eq!(user::syscall(SYS_ECHO, [1, 2, 3, 4, 5, 6]), Ok((21, 6)));
            assert_eq!(user::syscall(SYS_FAIL, [13, 0, 0, 0, 0, 0]), Err(13));
            assert_eq!(user::syscall(SYS_ECHO, [0, 0, 0, 0, 0, 9]), Ok((9, 9)));
            // Falls off its end: the machine makes the exit call.
        }
        fn kernel(regs: &UserFrame, why: UserTrap) {
            record(regs, why);
            assert_eq!(why, UserTrap::Syscall);
            match regs.sysnum() {
                SYS_ECHO => regs.set_rval((0..6).map(|i| regs.sysarg(i)).sum(), regs.sysarg(5)),
                SYS_FAIL => regs.set_error(regs.sysarg(0)),
                SYS_EXIT => lwp_end(),
                n => panic!("system call {n}"),
            }
        }
        static UPCALLS: Upcalls = Upcalls {
            clock_intr: no_clock,
            poke_intr: unexpected_poke,
            sysent: &[],
            user_trap: kernel,
        };
        let _s = serial();
        let pc = user::program(program);
        let entry = UserRegs::for_entry(pc, DATA + PAGE_SIZE, 77);
        for log in run_lwps(&UPCALLS, Prot::READ | Prot::EXEC, &[(pc, 77)]) {
            assert_eq!(syscalls(&log), [SYS_ECHO, SYS_FAIL, SYS_ECHO, SYS_EXIT]);
            assert!(log.iter().all(|e| e.lwp == 1 && e.intr_enabled), "{log:?}");
            let first = log[0].regs;
            assert_eq!(&first.r[reg::O0..reg::O0 + 6], &[1, 2, 3, 4, 5, 6]);
            // The rest is what user_enter started with.
            assert_eq!(first.sp(), entry.sp());
            for (k, e) in log.iter().enumerate() {
                // Each `ta 0x40` is one instruction further on.
                assert_eq!(
                    (e.regs.pc(), e.regs.r[reg::NPC]),
                    (pc + 4 * (k as u64 + 1), pc + 4 * (k as u64 + 2))
                );
            }
            assert_eq!(log[3].regs.r[reg::O0], 0, "exit status");
        }
    }

    /// Calls the table marks `fast` are made by the machine itself: the handler runs
    /// with the arguments, its results (or error, with the carry) come back, the
    /// kernel's `user_trap` never sees the call, and the frame counts it. A bit the
    /// handler sets in the thread's pending-work word brings a `Return` before user
    /// code goes on; a call that is not `fast` still goes to `user_trap`.
    #[test]
    fn fast_system_calls_are_made_by_the_machine_and_pending_work_follows() {
        const SYS_FAST_ADD: u64 = 2;
        const SYS_FAST_FAIL: u64 = 3;
        const SYS_FAST_ASK: u64 = 4;
        const ASKED: u32 = 1;
        static FAST_CALLS: AtomicU64 = AtomicU64::new(0);
        extern "C" fn add(a0: u64, a1: u64, _: u64, _: u64, _: u64, a5: u64) -> SysRet {
            FAST_CALLS.fetch_add(1, SeqCst);
            SysRet { r0: a0 + a1, r1: a5, err: 0 }
        }
        extern "C" fn fail(a0: u64, _: u64, _: u64, _: u64, _: u64, _: u64) -> SysRet {
            FAST_CALLS.fetch_add(1, SeqCst);
            SysRet { r0: 0, r1: 0, err: a0 }
        }
        extern "C" fn ask(_: u64, _: u64, _: u64, _: u64, _: u64, _: u64) -> SysRet {
            FAST_CALLS.fetch_add(1, SeqCst);
            me().pending.set(ASKED);
            SysRet { r0: 7, r1: 0, err: 0 }
        }
        static TABLE: [SysEnt; 5] = [
            SysEnt { call: fail, fast: false },
            SysEnt { call: fail, fast: false },
            SysEnt { call: add, fast: true },
            SysEnt { call: fail, fast: true },
            SysEnt { call: ask, fast: true },
        ];
        fn program(_: u64) {
            assert_eq!(user::syscall(SYS_FAST_ADD, [40, 2, 0, 0, 0, 9]), Ok((42, 9)));
            assert_eq!(user::syscall(SYS_FAST_FAIL, [13, 0, 0, 0, 0, 0]), Err(13));
            assert_eq!(user::syscall(SYS_FAST_ASK, [0; 6]), Ok((7, 0)));
            assert_eq!(user::syscall(SYS_ECHO, [5, 0, 0, 0, 0, 0]), Ok((5, 0)));
        }
        fn kernel(regs: &UserFrame, why: UserTrap) {
            record(regs, why);
            match why {
                UserTrap::Return => {
                    assert_eq!(me().pending.take(ASKED), ASKED, "a Return nobody asked for");
                }
                UserTrap::Syscall if regs.sysnum() == SYS_ECHO => {
                    assert_eq!(regs.syscalls(), 4, "every call is counted, fast or not");
                    regs.set_rval(regs.sysarg(0), 0)
                }
                UserTrap::Syscall if regs.sysnum() == SYS_EXIT => lwp_end(),
                _ => panic!("{why:?}"),
            }
        }
        static UPCALLS: Upcalls = Upcalls {
            clock_intr: no_clock,
            poke_intr: unexpected_poke,
            sysent: &TABLE,
            user_trap: kernel,
        };
        let _s = serial();
        let pc = user::program(program);
        FAST_CALLS.store(0, SeqCst);
        for log in run_lwps(&UPCALLS, Prot::READ | Prot::EXEC, &[(pc, 0)]) {
            let whys: Vec<UserTrap> = log.iter().map(|e| e.why).collect();
            assert_eq!(whys, [UserTrap::Return, UserTrap::Syscall, UserTrap::Syscall], "{log:?}");
            // The Return came with the registers of the call that asked for it.
            assert_eq!(log[0].regs.r[reg::G1], SYS_FAST_ASK);
            assert_eq!(log[0].regs.r[reg::O0], 7);
            assert_eq!(syscalls(&log), [SYS_ECHO, SYS_EXIT]);
        }
        assert_eq!(FAST_CALLS.load(SeqCst), 3 * 3, "three fast calls in each of three runs");
    }

    #[test]
    fn user_enter_delivers_a_fault_for_a_pc_it_cannot_fetch() {
        fn program(arg: u64) {
            assert_eq!(user::syscall(SYS_ECHO, [arg, 0, 0, 0, 0, 0]), Ok((arg, 0)));
        }
        static GOOD_PC: AtomicU64 = AtomicU64::new(0);
        fn kernel(regs: &UserFrame, why: UserTrap) {
            record(regs, why);
            match why {
                // The text was not loaded yet: load it, and the fetch is retried.
                UserTrap::Fault(Fault { kind: FaultKind::Unmapped, addr }) => {
                    Sim::as_map(
                        &space(),
                        addr & !(PAGE_SIZE - 1),
                        PAGE_SIZE,
                        Prot::READ | Prot::EXEC,
                    )
                    .unwrap();
                }
                UserTrap::Fault(Fault { kind: FaultKind::Protection, .. }) => lwp_end(),
                // Somewhere else to go.
                UserTrap::Fault(_) => {
                    regs.store(&UserRegs::for_entry(GOOD_PC.load(SeqCst), DATA + PAGE_SIZE, 5))
                }
                UserTrap::Syscall if regs.sysnum() == SYS_ECHO => regs.set_rval(regs.sysarg(0), 0),
                UserTrap::Syscall if regs.sysnum() == SYS_EXIT => lwp_end(),
                _ => panic!("{why:?}"),
            }
        }
        static UPCALLS: Upcalls = Upcalls {
            clock_intr: no_clock,
            poke_intr: unexpected_poke,
            sysent: &[],
            user_trap: kernel,
        };
        let _s = serial();
        let pc = user::program(program);
        GOOD_PC.store(pc, SeqCst);
        let fault = |kind, addr| Fault { kind, addr };
        // (text rights, starting pc, the faults, what the program echoed: 0 if it
        // never ran).
        let cases = [
            (Prot::empty(), pc, std::vec![fault(FaultKind::Unmapped, pc)], 1),
            (Prot::READ, pc, std::vec![fault(FaultKind::Protection, pc)], 0),
            (
                Prot::READ | Prot::EXEC,
                pc + 8,
                std::vec![fault(FaultKind::IllegalInstruction, pc + 8)],
                5,
            ),
            (Prot::READ | Prot::EXEC, pc + 2, std::vec![fault(FaultKind::Misaligned, pc + 2)], 5),
            // Mapped on demand, but no program is there: zeros, `illtrap`.
            (
                Prot::READ | Prot::EXEC,
                TEXT.end,
                std::vec![
                    fault(FaultKind::Unmapped, TEXT.end),
                    fault(FaultKind::IllegalInstruction, TEXT.end)
                ],
                5,
            ),
        ];
        for (text, start, expected, echoed) in cases {
            for log in run_lwps(&UPCALLS, text, &[(start, 1)]) {
                assert_eq!(faults(&log), expected, "{log:?}");
                assert_eq!(log[0].regs.pc(), start);
                assert!(log.iter().all(|e| e.intr_enabled && e.lwp == 1));
                if echoed == 0 {
                    assert_eq!(log.len(), 1, "the LWP ran on after its end: {log:?}");
                } else {
                    // The fetch was made again, and the program ran.
                    assert_eq!(syscalls(&log), [SYS_ECHO, SYS_EXIT], "{log:?}");
                    assert_eq!(log[expected.len()].regs.r[reg::O0], echoed);
                }
            }
        }
    }

    #[test]
    fn user_loads_and_stores_check_the_users_rights_and_fault_to_the_kernel() {
        const DEMAND: u64 = 0x4242;
        fn program(case: u64) {
            match case {
                0 => {
                    user::store_u64(DATA + 8, 0x0102_0304_0506_0708);
                    assert_eq!(user::load_u64(DATA + 8), 0x0102_0304_0506_0708);
                    // Big-endian, as on SPARC.
                    assert_eq!((user::load_u8(DATA + 8), user::load_u8(DATA + 15)), (1, 8));
                    user::store_u8(DATA + 16, 0xab);
                    user::store_u32(DATA + 20, 0x1122_3344);
                    assert_eq!(
                        (user::load_u32(DATA + 20), user::load_u8(DATA + 23)),
                        (0x1122_3344, 0x44)
                    );
                    assert_eq!(user::load_u32(DATA + 8), 0x0102_0304);
                    assert_eq!(user::load_u64(RO), 0, "a read-only page is readable");
                    // The kernel maps the missing page, and the load is retried.
                    assert_eq!(user::load_u64(HOLE + 8), DEMAND);
                    user::syscall(SYS_CHECK, [0; 6]).unwrap();
                }
                1 => user::store_u64(RO, 5),
                2 => drop(user::load_u64(DATA + 4)),
                3 => drop(user::load_u8(USER_LIMIT + 5)),
                // (Misaligned for 4 bytes, too.)
                6 => drop(user::load_u32(DATA + 2)),
                4 => drop(user::load_u64(u64::MAX - 7)),
                5 => user::fault(FaultKind::DivisionByZero, 0x1234),
                _ => unreachable!(),
            }
        }
        fn kernel(regs: &UserFrame, why: UserTrap) {
            record(regs, why);
            match why {
                UserTrap::Fault(Fault { kind: FaultKind::Unmapped, addr }) if addr == HOLE + 8 => {
                    let s = space();
                    Sim::as_map(&s, HOLE, PAGE_SIZE, Prot::READ).unwrap();
                    Sim::as_write(&s, HOLE + 8, &DEMAND.to_be_bytes()).unwrap();
                }
                // The program goes on after the faulting instruction.
                UserTrap::Fault(Fault { kind: FaultKind::DivisionByZero, .. }) => {}
                UserTrap::Fault(_) => lwp_end(),
                UserTrap::Syscall if regs.sysnum() == SYS_CHECK => {
                    let mut b = [0u8; 16];
                    Sim::as_read(&space(), DATA + 8, &mut b).unwrap();
                    assert_eq!(b, [1, 2, 3, 4, 5, 6, 7, 8, 0xab, 0, 0, 0, 0x11, 0x22, 0x33, 0x44]);
                    regs.set_rval(0, 0);
                }
                UserTrap::Syscall if regs.sysnum() == SYS_EXIT => lwp_end(),
                _ => panic!("{why:?}"),
            }
        }
        static UPCALLS: Upcalls = Upcalls {
            clock_intr: no_clock,
            poke_intr: unexpected_poke,
            sysent: &[],
            user_trap: kernel,
        };
        let _s = serial();
        let pc = user::program(program);
        let lwps: Vec<(u64, u64)> = (0..7).map(|case| (pc, case)).collect();
        for log in run_lwps(&UPCALLS, Prot::READ | Prot::EXEC, &lwps) {
            let of = |lwp| log.iter().filter(|e| e.lwp == lwp).copied().collect::<Vec<_>>();
            let fault = |kind, addr| Fault { kind, addr };
            assert_eq!(faults(&of(1)), [fault(FaultKind::Unmapped, HOLE + 8)]);
            assert_eq!(syscalls(&of(1)), [SYS_CHECK, SYS_EXIT]);
            for (lwp, f) in [
                (2, fault(FaultKind::Protection, RO)),
                (3, fault(FaultKind::Misaligned, DATA + 4)),
                (4, fault(FaultKind::Unmapped, USER_LIMIT + 5)),
                (5, fault(FaultKind::Unmapped, u64::MAX - 7)),
            ] {
                assert_eq!(
                    of(lwp).iter().map(|e| e.why).collect::<Vec<_>>(),
                    [UserTrap::Fault(f)],
                    "LWP {lwp}"
                );
            }
            assert_eq!(faults(&of(6)), [fault(FaultKind::DivisionByZero, 0x1234)]);
            assert_eq!(syscalls(&of(6)), [SYS_EXIT], "the program went on after its fault");
            assert_eq!(faults(&of(7)), [fault(FaultKind::Misaligned, DATA + 2)]);
            assert!(log.iter().all(|e| e.intr_enabled));
        }
    }

    #[test]
    fn copyin_and_copyout_use_the_users_rights_and_fail_cleanly() {
        const WO: u64 = RO + 4 * PAGE_SIZE;
        fn program(_: u64) {
            user::syscall(SYS_COPY, [0; 6]).unwrap();
            let bytes = |va: u64, n: u64| (va..va + n).map(user::load_u8).collect::<Vec<u8>>();
            assert_eq!(bytes(DATA + 100, 5), b"hello");
            assert_eq!(bytes(RO - 3, 3), b"abc");
        }
        fn kernel(regs: &UserFrame, why: UserTrap) {
            record(regs, why);
            match regs.sysnum() {
                SYS_COPY => {
                    let s = space();
                    Sim::as_map(&s, WO, PAGE_SIZE, Prot::WRITE).unwrap();
                    Sim::as_map(&s, USER_LIMIT - PAGE_SIZE, PAGE_SIZE, Prot::READ | Prot::WRITE)
                        .unwrap();
                    let fault = |kind, addr| Err(Fault { kind, addr });
                    let mut b = [0u8; 5];
                    Sim::copyout(DATA + 100, b"hello").unwrap();
                    Sim::copyin(DATA + 100, &mut b).unwrap();
                    assert_eq!(&b, b"hello");
                    // Readable across DATA and RO, but not writable in RO: then
                    // nothing is written.
                    Sim::copyout(RO - 3, b"abc").unwrap();
                    assert_eq!(Sim::copyout(RO - 3, b"xyzw"), fault(FaultKind::Protection, RO));
                    let mut e = [0xffu8; 6];
                    Sim::copyin(RO - 3, &mut e).unwrap();
                    assert_eq!(&e, b"abc\0\0\0");
                    // A write-only page cannot be read.
                    Sim::copyout(WO, b"w").unwrap();
                    assert_eq!(Sim::copyin(WO, &mut b), fault(FaultKind::Protection, WO));
                    // Unmapped, past the end of user space, wrapping round.
                    assert_eq!(Sim::copyin(HOLE, &mut b), fault(FaultKind::Unmapped, HOLE));
                    assert_eq!(
                        Sim::copyin(RO + PAGE_SIZE - 2, &mut b),
                        fault(FaultKind::Unmapped, RO + PAGE_SIZE)
                    );
                    assert_eq!(
                        Sim::copyout(USER_LIMIT - 2, b"hello"),
                        fault(FaultKind::Unmapped, USER_LIMIT)
                    );
                    assert_eq!(
                        Sim::copyin(u64::MAX - 1, &mut b),
                        fault(FaultKind::Unmapped, u64::MAX - 1)
                    );
                    assert_eq!(
                        Sim::copyin(HOLE, &mut []),
                        Ok(()),
                        "nothing to copy, nothing to fault"
                    );
                    regs.set_rval(0, 0);
                }
                SYS_EXIT => lwp_end(),
                n => panic!("system call {n}"),
            }
        }
        static UPCALLS: Upcalls = Upcalls {
            clock_intr: no_clock,
            poke_intr: unexpected_poke,
            sysent: &[],
            user_trap: kernel,
        };
        let _s = serial();
        let pc = user::program(program);
        for log in run_lwps(&UPCALLS, Prot::READ | Prot::EXEC, &[(pc, 0), (pc, 0)]) {
            assert_eq!(syscalls(&log), [SYS_COPY, SYS_EXIT, SYS_COPY, SYS_EXIT]);
        }
    }

    /// One CPU round-robins, at each clock tick, between a kernel thread (the boot
    /// thread, spinning in the kernel) and two LWPs, each looping in user code over
    /// its own address space. Ticks in user code must say so; the kernel asks for a
    /// `Return` in the thread's pending-work word at each of them, which must come
    /// before the user code goes on; the kernel thread's ticks never do; and each
    /// LWP comes back in user mode, in its own address space, after being switched out.
    mod preempted {
        use super::*;

        const ROUNDS: u64 = 3;
        /// The fake kernel's pending-work bit: act on the way back to user mode.
        const PENDING_RETURN: u32 = 1;
        static USER_TICKS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];
        static KERNEL_TICKS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];
        static RETURNS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];
        /// A tick from user mode awaits its `Return`.
        static OWED: [AtomicBool; 3] = [const { AtomicBool::new(false) }; 3];
        static CHECKS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

        fn program(id: u64) {
            for i in 0.. {
                let v = id << 32 | i;
                user::store_u64(DATA, v);
                assert_eq!(user::load_u64(DATA), v, "LWP {id} sees another address space");
                user::syscall(SYS_CHECK, [id, v, 0, 0, 0, 0]).unwrap();
            }
        }

        fn tick(from_user: bool) {
            let me = me();
            if from_user {
                assert!(me.id != 0, "a tick in the kernel thread said it came from user mode");
                assert!(!OWED[me.id].swap(true, SeqCst), "two user ticks without a Return between");
                USER_TICKS[me.id].fetch_add(1, SeqCst);
                me.pending.set(PENDING_RETURN);
            } else {
                KERNEL_TICKS[me.id].fetch_add(1, SeqCst);
            }
            let next = me.next.get().unwrap();
            Sim::switch(&me.ctx, &next.ctx, next);
        }

        fn kernel(regs: &UserFrame, why: UserTrap) {
            let id = me().id;
            assert!(Sim::intr_enabled());
            match why {
                UserTrap::Return => {
                    assert_eq!(me().pending.take(PENDING_RETURN), PENDING_RETURN);
                    assert!(OWED[id].swap(false, SeqCst), "a Return with no user tick before it");
                    RETURNS[id].fetch_add(1, SeqCst);
                    let done = (0..3).all(|k| {
                        if k == 0 {
                            KERNEL_TICKS[0].load(SeqCst) >= ROUNDS
                        } else {
                            RETURNS[k].load(SeqCst) >= ROUNDS && CHECKS[k].load(SeqCst) > 0
                        }
                    });
                    if done {
                        Sim::halt(true);
                    }
                }
                UserTrap::Syscall if regs.sysnum() == SYS_CHECK => {
                    assert!(!OWED[id].load(SeqCst), "user code went on without its Return");
                    assert_eq!(regs.sysarg(0), id as u64, "another LWP's registers");
                    let mut b = [0u8; 8];
                    Sim::copyin(DATA, &mut b).unwrap();
                    assert_eq!(
                        u64::from_be_bytes(b),
                        regs.sysarg(1),
                        "the kernel sees another address space"
                    );
                    CHECKS[id].fetch_add(1, SeqCst);
                    regs.set_rval(0, 0);
                }
                _ => panic!("{why:?}"),
            }
        }
        static UPCALLS: Upcalls = Upcalls {
            clock_intr: tick,
            poke_intr: unexpected_poke,
            sysent: &[],
            user_trap: kernel,
        };
        static PC: AtomicU64 = AtomicU64::new(0);

        fn lwp(id: usize) -> ! {
            Sim::intr_restore(true);
            let space = new_space(Prot::READ | Prot::EXEC);
            Sim::user_enter(
                space,
                UserFrame::new(&UserRegs::for_entry(PC.load(SeqCst), DATA + PAGE_SIZE, id as u64)),
            )
        }

        fn main(_cpu: usize) {
            let t0 = boot_thread(0);
            let (a, b) = (thread(1, lwp, 1), thread(2, lwp, 2));
            t0.next.set(Some(a));
            a.next.set(Some(b));
            b.next.set(Some(t0));
            Sim::set_upcalls(&UPCALLS);
            Sim::clock_start(1000);
            Sim::intr_restore(true);
            loop {
                Sim::relax();
            }
        }

        #[test]
        fn a_tick_in_user_code_is_reported_and_followed_by_return_and_user_mode_survives_a_switch()
        {
            let _s = serial();
            let pc = user::program(program);
            PC.store(pc, SeqCst);
            for cfg in [config(1), seeded(1, 21), seeded(1, 22)] {
                for k in 0..3 {
                    for c in [&USER_TICKS[k], &KERNEL_TICKS[k], &RETURNS[k], &CHECKS[k]] {
                        c.store(0, SeqCst);
                    }
                    OWED[k].store(false, SeqCst);
                }
                let out = run(cfg.clone(), main);
                assert!(out.success && !out.timed_out, "{cfg:?}: {out:?}");
                for (k, ticks) in USER_TICKS.iter().enumerate().skip(1) {
                    assert!(
                        ticks.load(SeqCst) >= ROUNDS,
                        "{cfg:?}: LWP {k} took too few ticks in user code"
                    );
                }
                assert_eq!(USER_TICKS[0].load(SeqCst), 0);
            }
        }
    }
}
