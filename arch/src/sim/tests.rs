//! Tests of the host simulation machine: real stack switches, preemption by the clock
//! signal on one and several CPUs, preempted threads migrating between CPUs, halt,
//! the interrupt flag, and the console.
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

/// The test kernel's thread.
struct T {
    id: usize,
    ctx: Context,
    /// The next thread in a test scheduler's ring.
    next: StaticRef<T>,
    /// How often the thread went round its loop.
    count: AtomicU64,
    /// Events the thread observed (interleavings, migrations).
    seen: AtomicU64,
}

// SAFETY: T is the only ThreadRegister type in this crate's tests.
unsafe impl ThreadRegister for T {}

fn thread(id: usize, entry: ThreadEntry, arg: usize) -> &'static T {
    Box::leak(Box::new(T {
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

/// Spins until `cond` holds; halts the machine with failure if it takes over `TIMEOUT`.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Sim::now_ns();
    while !cond() {
        if Sim::now_ns() - start > TIMEOUT.as_nanos() as u64 {
            Sim::console_write(std::format!("gave up waiting for {what}\n").as_bytes());
            Sim::halt(false);
        }
        core::hint::spin_loop();
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
        assert!(panics(|| Sim::switch(&idle.ctx, &boot.ctx, boot)), "switch from another thread's context");
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

    fn tick() {
        let me = me();
        if let Some(next) = me.next.get() {
            Sim::switch(&me.ctx, &next.ctx, next);
        }
    }
    static UPCALLS: Upcalls = Upcalls { clock_intr: tick, poke_intr: unexpected_poke };

    fn spinner(_arg: usize) -> ! {
        let me = me();
        let other = me.next.get().unwrap();
        let cpu = Sim::cpu_id();
        let mut last = other.count.load(SeqCst);
        loop {
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
                if me.seen.fetch_add(1, SeqCst) + 1 == ROUNDS && DONE.fetch_add(1, SeqCst) + 1 == TOTAL.load(SeqCst) {
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

    fn interleave(ncpus: usize) {
        let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        DONE.store(0, SeqCst);
        TOTAL.store(2 * ncpus, SeqCst);
        BAD.store(0, SeqCst);
        THREADS.lock().clear();
        let out = run(config(ncpus), main);
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
        interleave(1);
    }

    #[test]
    fn clock_preemption_interleaves_cpu_bound_threads_on_4_cpus() {
        interleave(4);
    }
}

/// Three CPU-bound threads on two CPUs, rescheduled from one shared run queue at each
/// clock tick, so that a thread preempted on one CPU is resumed on the other (and
/// returns from its signal handler on the other host thread). They allocate and use
/// floating point as they spin, and check their stacks.
#[test]
fn preempted_threads_migrate_between_cpus() {
    const THREADS: usize = 3;
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
            core::hint::spin_loop();
        }
    }
    fn unlock() {
        DISPATCH.store(false, SeqCst);
    }
    fn bad(code: usize) {
        let _ = BAD.compare_exchange(0, code, SeqCst, SeqCst);
    }

    fn tick() {
        let me = me();
        lock();
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
    static UPCALLS: Upcalls = Upcalls { clock_intr: tick, poke_intr: unexpected_poke };

    fn migrant(_arg: usize) -> ! {
        // The switch that started this thread held the dispatcher lock.
        unlock();
        let me = me();
        let canary = [(me.id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15); 8];
        let mut cpu = Sim::cpu_id();
        let mut f = 0.0f64;
        let mut n = 0u64;
        loop {
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
                if me.seen.fetch_add(1, SeqCst) + 1 == MIGRATIONS && DONE.fetch_add(1, SeqCst) + 1 == THREADS {
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

    let out = run(config(2), main);
    assert_eq!(BAD.load(SeqCst), 0, "1: FP state, 2: stack, 3: curthread, 4: interrupts off, 5: heap");
    assert!(out.success && !out.timed_out, "{out:?}");
    for t in ALL.lock().iter() {
        assert!(t.seen.load(SeqCst) >= MIGRATIONS, "thread {} migrated too little", t.id);
    }
}

#[test]
fn disabled_interrupts_defer_the_clock_until_enabled() {
    static TICKS: AtomicUsize = AtomicUsize::new(0);
    fn tick() {
        assert!(!Sim::intr_enabled(), "the clock runs with interrupts disabled");
        TICKS.fetch_add(1, SeqCst);
    }
    static UPCALLS: Upcalls = Upcalls { clock_intr: tick, poke_intr: unexpected_poke };

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
    fn tick() {
        if TICKS.fetch_add(1, SeqCst) + 1 == 5 {
            Sim::halt(true);
        }
    }
    static UPCALLS: Upcalls = Upcalls { clock_intr: tick, poke_intr: unexpected_poke };

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
            assert!(out.console.contains(&std::format!("cpu {cpu} of {ncpus}: {args}\n")), "{}", out.console);
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
    let out = run(SimConfig { timeout: Some(Duration::from_millis(100)), ..SimConfig::new(1) }, main);
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
