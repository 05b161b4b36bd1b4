//! Clock-driven round-robin between two CPU-bound threads on each CPU, neither of
//! which ever yields: each thread counts the times it sees the other's counter move,
//! which only a preemption (of itself, then of the other) can bring about.
//!
//! And threads preempted on one CPU resumed on another (migration).

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
    blk_intr: unexpected_blk_intr,
    fatal_trap: unexpected_fatal_trap,
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
        blk_intr: unexpected_blk_intr,
        fatal_trap: unexpected_fatal_trap,
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
