//! The seeded mode: replay, virtual time, idling, cross-calls, and how runs fail.

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
    assert!(traces.len() >= 5, "5 other seeds gave only {} other interleavings", traces.len() - 1);
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
        blk_intr: unexpected_blk_intr,
        fatal_trap: unexpected_fatal_trap,
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
        blk_intr: unexpected_blk_intr,
        fatal_trap: unexpected_fatal_trap,
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
        blk_intr: unexpected_blk_intr,
        fatal_trap: unexpected_fatal_trap,
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
