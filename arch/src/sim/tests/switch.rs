//! Context switches: values and the current thread across switches, a context
//! reset, and a switch to a context that is running.

use super::*;

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
        Sim::context_reset(&t1.ctx, STACK, entry, 20).expect("its stack is kept");
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
        assert!(
            panics(|| {
                let _ = Sim::context_reset(&me.ctx, STACK, entry, 0);
            }),
            "reset of itself"
        );
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
        Sim::context_reset(&t1.ctx, STACK, entry, 0).expect("its stack is kept");
        Sim::halt(true)
    }

    assert!(boot(config(1), main));
}
