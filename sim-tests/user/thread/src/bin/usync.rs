//! `usync`: the library's synchronization objects (S8, S9) between threads of one
//! LWP, of several LWPs, bound and unbound mixed. The argument's low byte picks
//! the test, the next one the kind of the objects (0 adaptive, 1 spin, 2 block):
//!
//! 1. **Producers and consumers** through a 4-slot buffer, a mutex and two
//!    condition variables: 4 producers and 4 consumers, half of them bound, on a
//!    pool of 2 LWPs; every one of 2,000 items is consumed exactly once.
//! 2. **A semaphore never over-admits**: 12 threads, half bound, pass a semaphore
//!    of 3 units 40 times each, yielding inside: never more than 3 inside, 3
//!    reached, and the 3 units back at the end.
//! 3. **Readers overlap, writers are not starved**: 6 readers keep taking a
//!    rwlock and yield inside (so that others come in meanwhile): more than one
//!    is seen inside at once; 2 writers get in 20 times each while the readers go
//!    on, never with a reader or the other writer inside.
//! 4. **Misuse gets errors**: unlocking a mutex held by another thread (`EPERM`)
//!    or free, locking one's own again (`EDEADLK`), any call on a zeroed
//!    (uninitialized) object or a destroyed one (`EINVAL`), destroying a held one
//!    (`EBUSY`), waiting on a condition variable without its mutex, unlocking a
//!    rwlock not held (`EPERM`); and for LWP mutexes the kernel's own answers:
//!    `lwp_mutex_unlock` by an LWP that does not own it (`EPERM`), and both calls
//!    on a destroyed one (`EINVAL`).
//! 5. **Spin, block and adaptive, owner asleep** (two bound threads, the owner
//!    asleep in `nanosleep` with the mutex held): an adaptive or blocking mutex
//!    makes the waiter block at once (counted: blocks, no spins); a spin mutex
//!    makes it spin (yield) until the owner lets go, and never block.
//! 6. **An LWP mutex between LWPs**: 4 bound threads add to a counter under an
//!    LWP mutex of the kind, 500 times each: the total is exact, and with
//!    contention a blocking one slept in the kernel, which handed it over.
//! 7. **Adaptive spinning while the owner runs** (several CPUs only): a bound
//!    thread holds an adaptive LWP mutex while it spins on its CPU for 5 ms;
//!    another on another CPU waits for it by spinning, not sleeping.
//!
//! Exit codes: 0 passed; 1 a call failed; 2 an item was lost or consumed twice;
//! 3 the semaphore over-admitted, or never admitted 3, or lost units; 4 readers
//! never overlapped; 5 a writer was inside with someone, or writers starved; 6 a
//! misuse was not refused right; 7 a kind did not wait its way; 8 the LWP mutex
//! let two in, or lost a count; 9 an unknown test or kind.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};

use lwp_thread::{self as thr, Cond, LwpLock, Mutex, RwLock, Sema, SyncKind, ThreadId, THR_BOUND};
use lwp_user::abi::{LWP_MUTEX_DEAD, LWP_MUTEX_MAGIC_OFFSET};
use lwp_user::errno::{EBUSY, EDEADLK, EINVAL, EPERM};
use lwp_user::{check, lwp_mutex_timedlock, lwp_mutex_unlock, ok, say, sleep_ms};

lwp_user::main!(main);

fn kind_of(k: u64) -> SyncKind {
    match k {
        0 => SyncKind::Adaptive,
        1 => SyncKind::Spin,
        2 => SyncKind::Block,
        _ => lwp_user::fail("usync", 9, format_args!("no kind {k}")),
    }
}

/// The kind of this run's objects (they are statics, made with every kind).
static KIND: AtomicU64 = AtomicU64::new(0);

fn k() -> usize {
    KIND.load(SeqCst) as usize
}

fn main(arg: u64) {
    thr::init();
    let kind = (arg >> 8) & 0xff;
    kind_of(kind);
    KIND.store(kind, SeqCst);
    match arg & 0xff {
        1 => producers_consumers(),
        2 => semaphore(),
        3 => rwlock(),
        4 => misuse(),
        5 => owner_asleep(),
        6 => lwp_mutex(),
        7 => adaptive_spin(),
        _ => check!(9, false, "no test {arg}"),
    }
}

/// Makes `n` threads of `f(i)`, every other one bound; joins them.
fn run_all(n: u64, f: fn(u64) -> u64) {
    let mut ids: [ThreadId; 16] = [0; 16];
    for i in 0..n {
        let flags = if i % 2 == 1 { THR_BOUND } else { 0 };
        ids[i as usize] = ok!(1, thr::create(f, i, flags));
    }
    for &id in &ids[..n as usize] {
        ok!(1, thr::join(id));
    }
}

macro_rules! per_kind {
    ($t:ident::new($($a:expr),*)) => {
        [
            $t::new($($a,)* SyncKind::Adaptive),
            $t::new($($a,)* SyncKind::Spin),
            $t::new($($a,)* SyncKind::Block),
        ]
    };
}

// ---- 1 ------------------------------------------------------------------------

const SLOTS: usize = 4;
const ITEMS: u64 = 500;
const PRODUCERS: u64 = 4;

static BUF_M: [Mutex; 3] = per_kind!(Mutex::new());
static NOT_FULL: [Cond; 3] = per_kind!(Cond::new());
static NOT_EMPTY: [Cond; 3] = per_kind!(Cond::new());
static BUF: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
static BUF_IN: AtomicU64 = AtomicU64::new(0);
static BUF_OUT: AtomicU64 = AtomicU64::new(0);
/// One bit per item: consumed.
static SEEN: [AtomicU64; 32] = [const { AtomicU64::new(0) }; 32];
static TWICE: AtomicU64 = AtomicU64::new(0);

fn producer(p: u64) -> u64 {
    let (m, full, empty) = (&BUF_M[k()], &NOT_FULL[k()], &NOT_EMPTY[k()]);
    for i in 0..ITEMS {
        ok!(1, m.lock());
        while BUF_IN.load(SeqCst) - BUF_OUT.load(SeqCst) == SLOTS as u64 {
            ok!(1, full.wait(m));
        }
        let at = BUF_IN.load(SeqCst);
        BUF[at as usize % SLOTS].store(p * ITEMS + i, SeqCst);
        BUF_IN.store(at + 1, SeqCst);
        ok!(1, empty.signal());
        ok!(1, m.unlock());
    }
    0
}

fn consumer(_: u64) -> u64 {
    let (m, full, empty) = (&BUF_M[k()], &NOT_FULL[k()], &NOT_EMPTY[k()]);
    for _ in 0..ITEMS {
        ok!(1, m.lock());
        while BUF_IN.load(SeqCst) == BUF_OUT.load(SeqCst) {
            ok!(1, empty.wait(m));
        }
        let at = BUF_OUT.load(SeqCst);
        let item = BUF[at as usize % SLOTS].load(SeqCst);
        BUF_OUT.store(at + 1, SeqCst);
        ok!(1, full.signal());
        ok!(1, m.unlock());
        let bit = 1 << (item % 64);
        if SEEN[(item / 64) as usize].fetch_or(bit, SeqCst) & bit != 0 {
            TWICE.fetch_add(1, SeqCst);
        }
    }
    0
}

fn producers_consumers() {
    ok!(1, thr::set_concurrency(2));
    let ids: [ThreadId; 8] = core::array::from_fn(|i| {
        let (f, flags) = match i % 4 {
            0 => (producer as fn(u64) -> u64, 0),
            1 => (consumer as fn(u64) -> u64, 0),
            2 => (producer as fn(u64) -> u64, THR_BOUND),
            _ => (consumer as fn(u64) -> u64, THR_BOUND),
        };
        ok!(1, thr::create(f, i as u64 / 2, flags))
    });
    for id in ids {
        ok!(1, thr::join(id));
    }
    let seen: u32 = SEEN.iter().map(|w| w.load(SeqCst).count_ones()).sum();
    let twice = TWICE.load(SeqCst);
    check!(2, seen as u64 == PRODUCERS * ITEMS && twice == 0, "{seen} seen, {twice} twice");
    say!("kind {}: {} items, each consumed once", k(), PRODUCERS * ITEMS);
}

// ---- 2 ------------------------------------------------------------------------

static SEM: [Sema; 3] = per_kind!(Sema::new(3));
static IN_SEM: AtomicU64 = AtomicU64::new(0);
static MAX_IN_SEM: AtomicU64 = AtomicU64::new(0);

fn sem_user(_: u64) -> u64 {
    let s = &SEM[k()];
    for _ in 0..40 {
        ok!(1, s.wait());
        let inside = IN_SEM.fetch_add(1, SeqCst) + 1;
        MAX_IN_SEM.fetch_max(inside, SeqCst);
        for _ in 0..3 {
            thr::yield_now();
        }
        IN_SEM.fetch_sub(1, SeqCst);
        ok!(1, s.post());
    }
    0
}

fn semaphore() {
    ok!(1, thr::set_concurrency(2));
    run_all(12, sem_user);
    let (max, left) = (MAX_IN_SEM.load(SeqCst), SEM[k()].count());
    check!(3, max == 3 && left == 3, "at most {max} inside, {left} units left");
    say!("kind {}: never more than 3 inside", k());
}

// ---- 3 ------------------------------------------------------------------------

static RW: [RwLock; 3] = per_kind!(RwLock::new());
static READERS_IN: AtomicU64 = AtomicU64::new(0);
static MAX_READERS: AtomicU64 = AtomicU64::new(0);
static WRITERS_IN: AtomicU64 = AtomicU64::new(0);
static BAD: AtomicU64 = AtomicU64::new(0);
static WRITES: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

fn reader(_: u64) -> u64 {
    let rw = &RW[k()];
    while !STOP.load(SeqCst) {
        ok!(1, rw.read());
        let n = READERS_IN.fetch_add(1, SeqCst) + 1;
        MAX_READERS.fetch_max(n, SeqCst);
        if WRITERS_IN.load(SeqCst) != 0 {
            BAD.fetch_add(1, SeqCst);
        }
        thr::yield_now();
        READERS_IN.fetch_sub(1, SeqCst);
        ok!(1, rw.unlock());
        thr::yield_now();
    }
    0
}

fn writer(_: u64) -> u64 {
    let rw = &RW[k()];
    for _ in 0..20 {
        ok!(1, rw.write());
        if WRITERS_IN.fetch_add(1, SeqCst) != 0 || READERS_IN.load(SeqCst) != 0 {
            BAD.fetch_add(1, SeqCst);
        }
        thr::yield_now();
        WRITERS_IN.fetch_sub(1, SeqCst);
        WRITES.fetch_add(1, SeqCst);
        ok!(1, rw.unlock());
        thr::yield_now();
    }
    0
}

fn rwlock() {
    ok!(1, thr::set_concurrency(2));
    let readers: [ThreadId; 6] = core::array::from_fn(|i| {
        ok!(1, thr::create(reader, 0, if i % 2 == 1 { THR_BOUND } else { 0 }))
    });
    let writers: [ThreadId; 2] = core::array::from_fn(|i| {
        ok!(1, thr::create(writer, 0, if i == 1 { THR_BOUND } else { 0 }))
    });
    // The writers finish while the readers still come and go: not starved.
    for id in writers {
        ok!(1, thr::join(id));
    }
    STOP.store(true, SeqCst);
    for id in readers {
        ok!(1, thr::join(id));
    }
    let (max, bad, writes) = (MAX_READERS.load(SeqCst), BAD.load(SeqCst), WRITES.load(SeqCst));
    check!(4, max > 1, "at most {max} reader inside at once");
    check!(5, bad == 0 && writes == 40, "{bad} sections shared with a writer, {writes} writes");
    say!("kind {}: up to {max} readers together, 40 writes alone", k());
}

// ---- 4 ------------------------------------------------------------------------

static HELD: Mutex = Mutex::new(SyncKind::Block);
static GRABBED: AtomicBool = AtomicBool::new(false);
static LET_GO: AtomicBool = AtomicBool::new(false);
static MISUSE_LWP: LwpLock = LwpLock::new(SyncKind::Block);

/// Holds `HELD` (and the LWP mutex) until told to let go.
fn holder(_: u64) -> u64 {
    ok!(1, HELD.lock());
    ok!(1, MISUSE_LWP.lock());
    GRABBED.store(true, SeqCst);
    while !LET_GO.load(SeqCst) {
        thr::yield_now();
    }
    ok!(1, MISUSE_LWP.unlock());
    ok!(1, HELD.unlock());
    0
}

fn misuse() {
    let kind = kind_of(KIND.load(SeqCst));
    let m = Mutex::new(kind);
    check!(6, m.unlock() == Err(EPERM), "unlocking a free mutex");
    ok!(1, m.lock());
    check!(6, m.lock() == Err(EDEADLK), "locking one's own mutex again");
    check!(6, m.destroy() == Err(EBUSY), "destroying a held mutex");
    let c = Cond::new(kind);
    ok!(1, m.unlock());
    check!(6, c.wait(&m) == Err(EPERM), "waiting without the mutex");
    ok!(1, m.destroy());
    check!(6, m.lock() == Err(EINVAL) && m.unlock() == Err(EINVAL), "a destroyed mutex");
    let rw = RwLock::new(kind);
    check!(6, rw.unlock() == Err(EPERM), "unlocking a free rwlock");
    ok!(1, rw.write());
    check!(6, rw.write() == Err(EDEADLK) && rw.read() == Err(EDEADLK), "relocking a rwlock");
    check!(6, rw.destroy() == Err(EBUSY), "destroying a held rwlock");
    ok!(1, rw.unlock());
    ok!(1, rw.destroy());
    check!(6, rw.read() == Err(EINVAL), "a destroyed rwlock");
    let s = Sema::new(0, kind);
    ok!(1, s.destroy());
    check!(6, s.post() == Err(EINVAL) && s.wait() == Err(EINVAL), "a destroyed semaphore");
    ok!(1, c.destroy());
    check!(6, c.signal() == Err(EINVAL), "a destroyed condition variable");
    // Objects nobody made: memory of zeros.
    // SAFETY: every object is atomics and integers, for which zero bytes are a
    // value; zero is what a program's uninitialized object holds.
    let (zm, zc, zs, zr): (Mutex, Cond, Sema, RwLock) = unsafe {
        (core::mem::zeroed(), core::mem::zeroed(), core::mem::zeroed(), core::mem::zeroed())
    };
    let zeroed = [zm.lock(), zc.signal(), zs.post(), zr.read()];
    check!(6, zeroed.iter().all(|r| *r == Err(EINVAL)), "uninitialized objects: {zeroed:?}");
    // Held by another thread (bound: on another LWP): not ours to unlock — the
    // library says so for a thread's mutex, the kernel for an LWP mutex.
    let h = ok!(1, thr::create(holder, 0, THR_BOUND));
    while !GRABBED.load(SeqCst) {
        thr::yield_now();
    }
    check!(6, HELD.unlock() == Err(EPERM), "unlocking another thread's mutex");
    check!(6, MISUSE_LWP.unlock() == Err(EPERM), "unlocking another LWP's LWP mutex");
    let r = lwp_mutex_unlock(MISUSE_LWP.raw());
    check!(6, r == Err(EPERM), "the kernel let another LWP unlock: {r:?}");
    LET_GO.store(true, SeqCst);
    ok!(1, thr::join(h));
    // A destroyed LWP mutex: the library's check, and the kernel's.
    let l = LwpLock::new(kind);
    ok!(1, l.destroy());
    check!(6, l.lock() == Err(EINVAL) && l.unlock() == Err(EINVAL), "a destroyed LWP mutex");
    let raw = l.raw();
    let word = (raw as *const _ as u64 + LWP_MUTEX_MAGIC_OFFSET) as *const AtomicU32;
    // SAFETY: a read of the mutex's own type word, which is where the ABI says.
    let magic = unsafe { (*word).load(SeqCst) };
    check!(6, magic == LWP_MUTEX_DEAD, "a destroyed LWP mutex's type word");
    let (a, b) = (lwp_mutex_timedlock(raw, None), lwp_mutex_unlock(raw));
    check!(6, a == Err(EINVAL) && b == Err(EINVAL), "the kernel took a destroyed one: {a:?} {b:?}");
    say!("kind {kind:?}: every misuse refused");
}

// ---- 5 ------------------------------------------------------------------------

static SLEEPY: [Mutex; 3] = per_kind!(Mutex::new());
static TAKEN: AtomicBool = AtomicBool::new(false);

/// Takes the mutex and sleeps 50 ms holding it: its LWP is off the CPU.
fn sleeper(_: u64) -> u64 {
    ok!(1, SLEEPY[k()].lock());
    TAKEN.store(true, SeqCst);
    sleep_ms(50);
    ok!(1, SLEEPY[k()].unlock());
    0
}

fn contender(_: u64) -> u64 {
    while !TAKEN.load(SeqCst) {
        thr::yield_now();
    }
    let s0 = (thr::STATS.blocks.load(SeqCst), thr::STATS.spins.load(SeqCst));
    ok!(1, SLEEPY[k()].lock());
    ok!(1, SLEEPY[k()].unlock());
    let (blocks, spins) =
        (thr::STATS.blocks.load(SeqCst) - s0.0, thr::STATS.spins.load(SeqCst) - s0.1);
    let right = match k() {
        1 => blocks == 0 && spins > 0,
        _ => blocks == 1 && spins == 0,
    };
    check!(7, right, "kind {}, owner asleep: {blocks} blocks, {spins} spins", k());
    say!("kind {}, owner asleep: {blocks} blocks, {spins} spins", k());
    0
}

fn owner_asleep() {
    let a = ok!(1, thr::create(sleeper, 0, THR_BOUND));
    let b = ok!(1, thr::create(contender, 0, THR_BOUND));
    ok!(1, thr::join(a));
    ok!(1, thr::join(b));
}

// ---- 6 ------------------------------------------------------------------------

static LWP_M: [LwpLock; 3] =
    [LwpLock::new(SyncKind::Adaptive), LwpLock::new(SyncKind::Spin), LwpLock::new(SyncKind::Block)];
static LWP_COUNT: AtomicU64 = AtomicU64::new(0);
static LWP_INSIDE: AtomicU64 = AtomicU64::new(0);
static LWP_SLEPT: AtomicU64 = AtomicU64::new(0);

fn lwp_counter(_: u64) -> u64 {
    let m = &LWP_M[k()];
    for i in 0..500 {
        let took = ok!(1, m.lock());
        if took.slept {
            LWP_SLEPT.fetch_add(1, SeqCst);
        }
        if LWP_INSIDE.fetch_add(1, SeqCst) != 0 {
            BAD.fetch_add(1, SeqCst);
        }
        let v = LWP_COUNT.load(SeqCst);
        if i % 8 == 0 {
            // Let the others find it held.
            let _ = lwp_user::yield_now();
        }
        LWP_COUNT.store(v + 1, SeqCst);
        LWP_INSIDE.fetch_sub(1, SeqCst);
        ok!(1, m.unlock());
    }
    0
}

fn lwp_mutex() {
    let ids: [ThreadId; 4] =
        core::array::from_fn(|_| ok!(1, thr::create(lwp_counter, 0, THR_BOUND)));
    for id in ids {
        ok!(1, thr::join(id));
    }
    let (count, bad, slept) = (LWP_COUNT.load(SeqCst), BAD.load(SeqCst), LWP_SLEPT.load(SeqCst));
    check!(8, count == 2000 && bad == 0, "count {count}, {bad} overlaps");
    // A spin one never sleeps; the others, owner preempted inside (one CPU, or
    // yielding), sleep in the kernel.
    let right = if k() == 1 { slept == 0 } else { slept > 0 };
    check!(7, right, "kind {}: {slept} sleeps in the kernel", k());
    say!("kind {}: 4 LWPs counted 2000 under an LWP mutex, {slept} kernel sleeps", k());
}

// ---- 7 ------------------------------------------------------------------------

static SPIN_M: LwpLock = LwpLock::new(SyncKind::Adaptive);
static SPIN_HELD: AtomicBool = AtomicBool::new(false);

/// Holds the mutex while it spins on its CPU for 5 ms.
fn busy_owner(_: u64) -> u64 {
    ok!(1, SPIN_M.lock());
    SPIN_HELD.store(true, SeqCst);
    let end = lwp_user::gethrtime() + 5_000_000;
    while lwp_user::gethrtime() < end {}
    ok!(1, SPIN_M.unlock());
    0
}

fn spinning_waiter(_: u64) -> u64 {
    while !SPIN_HELD.load(SeqCst) {
        core::hint::spin_loop();
    }
    let took = ok!(1, SPIN_M.lock());
    ok!(1, SPIN_M.unlock());
    check!(7, took.spins > 0 && !took.slept, "owner on a CPU: {took:?}");
    say!("owner on another CPU: the waiter spun {} rounds, never slept", took.spins);
    0
}

fn adaptive_spin() {
    let a = ok!(1, thr::create(busy_owner, 0, THR_BOUND));
    let b = ok!(1, thr::create(spinning_waiter, 0, THR_BOUND));
    ok!(1, thr::join(a));
    ok!(1, thr::join(b));
}
