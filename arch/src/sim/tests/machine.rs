//! The machine as a whole: the interrupt flag and the clock, halting from a CPU or
//! from the clock interrupt, boots one after another, and how a run fails.

use super::*;

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
        blk_intr: unexpected_blk_intr,
        fatal_trap: unexpected_fatal_trap,
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
        blk_intr: unexpected_blk_intr,
        fatal_trap: unexpected_fatal_trap,
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
