//! `uthreads`: threads of the library (S4, S18) — their life, and many of them on
//! a few LWPs. The argument's low byte picks the test, the next ones its
//! parameters:
//!
//! 1. **Every kind of life**: unbound and bound threads, joinable and detached,
//!    ending by returning and by `exit` from deep inside: every joinable one is
//!    joined with its value, every detached one ran and its structure came back;
//!    join and detach refuse what they must (`ESRCH`, `EDEADLK`, `EINVAL`); ids
//!    are unique; a thread yields to every other runnable one (strict turns);
//!    per-thread data is per thread, and its destructors run at exit.
//! 2. **The last thread's exit ends the process**: the main thread exits first;
//!    the process lives on until its last thread ends it (with status 7, which
//!    only that thread can give).
//! 3. **1,000 unbound threads on 1, 2 or 4 LWPs** (byte 1: the LWPs; byte 2: the
//!    mutex kind, 0 adaptive, 1 spin, 2 block): at most 64 live at once, each
//!    adding one to a shared counter 20 times by a load and a store under the
//!    mutex, yielding inside the critical section every other time (so that the
//!    others find it busy): the total is exact, nobody was ever inside with
//!    another, and the mutex was contended the way its kind says (waiters blocked,
//!    or spun).
//! 4. **A thread blocked in the kernel blocks its LWP only**: on a pool of 2 LWPs,
//!    one thread sleeps 300 ms in `nanosleep`; 8 others yield their way through
//!    100 rounds each, all done before it wakes.
//! 5. **Every pool LWP asleep in the kernel, threads runnable**: on a pool of one
//!    LWP, 3 threads sleep 300 ms in `nanosleep` one after another as they run,
//!    ahead of a thread that counts; the kernel's notification makes the watchdog
//!    add LWPs (at least 3), and the counter is done before any sleeper wakes.
//! 6. **Signals that land in the middle of a switch**: on one LWP, two unbound
//!    threads yield to each other, each mixing six values at every round that it
//!    keeps in registers across its yields, while the LWP's `ITIMER_VIRTUAL`
//!    signals it at every tick of its time (the kernel flushes the register
//!    windows to the stack for the handler, which writes a few frames below the
//!    interrupted stack pointer). Once 30 signals have come while a thread was
//!    inside the switch's code (`switch_code`), each thread's values must be what
//!    as many rounds give without yields. (QEMU takes an interrupt only between
//!    the blocks of code it translates, so a tick lands at the switch's first
//!    instruction, never past it; under `-icount` it lands at any instruction,
//!    and the program says how many came in the middle: `scripts/test` boots this
//!    test so too.)
//!
//! Exit codes: 0 passed; 1 a call failed; 2 a joined value was wrong; 3 a
//! detached thread's structure did not come back (or it did not run); 4 a misuse
//! was not refused right; 5 ids repeat; 6 yields did not take turns; 7 per-thread
//! data leaked between threads or a destructor did not run; 8 the process ended
//! with its main thread; 9 the total is wrong; 10 two threads were inside at once;
//! 11 the mutex was not contended as its kind says; 12 an unknown test; 13 the
//! other threads waited for the one asleep in the kernel; 14 the watchdog added
//! no LWP; 15 a thread's values changed across its switches; 16 fewer than 30
//! signals came in the whole run; 17 a thread could not use most of its stack;
//! 18 running off its stack was not SIGSEGV in its guard page (once); 19 the
//! windows its stack refused were not in the signal frame.

#![no_std]
#![no_main]

use core::hint::black_box;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};

use lwp_thread::{self as thr, Mutex, SyncKind, ThreadId, THR_BOUND, THR_DETACHED};
use lwp_user::abi::{
    GWindows, ITimerVal, SigInfoT, SigSet, StackT, UContext, ITIMER_VIRTUAL, PROT_READ, PROT_WRITE,
    SA_ONSTACK, SA_SIGINFO, SEGV_ACCERR, SIGSEGV, SIGVTALRM, STACK_BIAS,
};
use lwp_user::errno::{EDEADLK, EINVAL, ESRCH};
use lwp_user::signal::{setitimer, sigaction, sigaltstack, timeval_ms, Disposition};
use lwp_user::{check, clock_ns, mmap_anon, mprotect, ok, say, sleep_ms, sleep_until};

lwp_user::main!(main);

fn main(arg: u64) {
    thr::init();
    match arg & 0xff {
        1 => every_kind_of_life(),
        2 => last_exit_ends_process(),
        3 => many_threads(((arg >> 8) & 0xff) as usize, (arg >> 16) & 0xff),
        4 => kernel_block(2, 1, 8),
        5 => kernel_block(1, 3, 1),
        6 => signals_in_switch(),
        7 => overflow_hits_guard(),
        _ => check!(12, false, "no test {arg}"),
    }
}

// ---- 1 ------------------------------------------------------------------------

static DETACHED_RAN: AtomicU64 = AtomicU64::new(0);

/// Returns twice its argument, from a few frames down by `exit` if it is odd.
fn doubler(arg: u64) -> u64 {
    fn deep(n: u64, arg: u64) -> u64 {
        if n == 0 {
            if arg % 2 == 1 {
                thr::exit(2 * arg);
            }
            return 2 * arg;
        }
        // Not a tail call: the frames stay on the stack for `thr::exit` to leave.
        core::hint::black_box(deep(n - 1, arg))
    }
    deep(5, arg)
}

fn detached(_: u64) -> u64 {
    thr::yield_now();
    DETACHED_RAN.fetch_add(1, SeqCst);
    0
}

/// Waits for a thread that never ends, until told.
static RELEASE: AtomicBool = AtomicBool::new(false);
fn waiter(_: u64) -> u64 {
    while !RELEASE.load(SeqCst) {
        thr::yield_now();
    }
    5
}

/// Strict turns: each of three threads records its number and yields.
static TURNS: AtomicU64 = AtomicU64::new(0);
static TURN_LOG: [AtomicU64; 30] = [const { AtomicU64::new(0) }; 30];
fn turn_taker(k: u64) -> u64 {
    for _ in 0..10 {
        let i = TURNS.fetch_add(1, SeqCst) as usize;
        TURN_LOG[i].store(k, SeqCst);
        thr::yield_now();
    }
    0
}

/// Three yielding threads take turns: strictly in order while one LWP runs them
/// all. The pool only grows, so one LWP after the turns is one throughout; it has
/// more only if the watchdog added one because its LWP slept in the kernel (a
/// stack's first `mmap` may, as the swapper works), and then each thread has
/// taken its ten turns, in no order the library promises.
fn turns() {
    let t: [ThreadId; 3] = core::array::from_fn(|k| ok!(1, thr::create(turn_taker, k as u64, 0)));
    for id in t {
        ok!(1, thr::join(id));
    }
    let lwps = thr::concurrency();
    for (i, k) in TURN_LOG.iter().enumerate() {
        let k = k.load(SeqCst);
        check!(6, lwps > 1 || k == i as u64 % 3, "turn {i} was thread {k}'s");
    }
    for k in 0..3 {
        let n = TURN_LOG.iter().filter(|t| t.load(SeqCst) == k).count();
        check!(6, n == 10, "thread {k} took {n} turns of 10");
    }
    if lwps > 1 {
        say!("the turns ran on {lwps} LWPs: their order is not checked");
    }
}

static DESTROYED: AtomicU64 = AtomicU64::new(0);
fn destroyed(v: u64) {
    DESTROYED.fetch_add(v, SeqCst);
}

static KEY: AtomicUsize = AtomicUsize::new(0);
/// Sets its own value for the key, yields so that the others set theirs, and
/// finds its own again; leaves it for the destructor.
fn tsd_user(k: u64) -> u64 {
    let key = KEY.load(SeqCst);
    check!(7, thr::get_specific(key) == 0, "a new thread found a value");
    ok!(1, thr::set_specific(key, 100 + k));
    for _ in 0..3 {
        thr::yield_now();
    }
    let v = thr::get_specific(key);
    check!(7, v == 100 + k, "thread {k} found {v} for its key");
    0
}

fn every_kind_of_life() {
    turns();
    // Joinable, unbound and bound, returning and exiting: each joined with its value.
    let mut ids: [ThreadId; 8] = [0; 8];
    for (k, id) in ids.iter_mut().enumerate() {
        let flags = if k % 4 < 2 { 0 } else { THR_BOUND };
        *id = ok!(1, thr::create(doubler, k as u64, flags));
    }
    for (k, &id) in ids.iter().enumerate() {
        let v = ok!(1, thr::join(id));
        check!(2, v == 2 * k as u64, "thread {k} gave {v}");
        check!(4, thr::join(id) == Err(ESRCH), "a thread was joined twice");
    }
    // Ids are unique among live threads: all at once, none repeating.
    let live: [ThreadId; 16] = core::array::from_fn(|_| ok!(1, thr::create(waiter, 0, 0)));
    for (i, a) in live.iter().enumerate() {
        check!(5, live[i + 1..].iter().all(|b| a != b) && *a != thr::self_id(), "ids repeat");
    }
    // Misuse.
    check!(4, thr::join(thr::self_id()) == Err(EDEADLK), "joining oneself");
    check!(4, thr::join(0) == Err(ESRCH) && thr::join(0xffff_fff0) == Err(ESRCH), "no thread");
    ok!(1, thr::detach(live[0]));
    check!(4, thr::detach(live[0]) == Err(EINVAL), "detached twice");
    check!(4, thr::join(live[0]) == Err(EINVAL), "joining a detached thread");
    RELEASE.store(true, SeqCst);
    for &id in &live[1..] {
        check!(2, ok!(1, thr::join(id)) == 5, "a waiter's value");
    }
    // A zombie detached: freed at once; a detached thread is freed as it ends.
    let z = ok!(1, thr::create(doubler, 4, 0));
    while thr::detach(z).is_err() {
        thr::yield_now();
    }
    for flags in [THR_DETACHED, THR_DETACHED | THR_BOUND] {
        for _ in 0..4 {
            ok!(1, thr::create(detached, 0, flags));
        }
    }
    let ran = sleep_until(2000, || {
        thr::yield_now();
        DETACHED_RAN.load(SeqCst) == 8
    });
    check!(3, ran, "{} of 8 detached threads ran", DETACHED_RAN.load(SeqCst));
    // Their structures (and the bound ones' LWPs and stacks) come back: as many
    // threads as the table holds can be made again, less the main thread, the
    // watchdog and the pool LWPs' idle threads (main's sleeps above, with threads
    // runnable, may have made the watchdog add LWPs).
    let mut made: [ThreadId; thr::MAX_THREADS] = [0; thr::MAX_THREADS];
    let mut n = 0;
    while let Ok(id) = thr::create(waiter, 0, 0) {
        made[n] = id;
        n += 1;
    }
    let free = thr::MAX_THREADS - 2 - thr::concurrency();
    check!(3, n == free, "{n} threads could be made afresh, not {free}");
    for &id in &made[..n] {
        ok!(1, thr::join(id));
    }
    // Per-thread data, and destructors.
    KEY.store(ok!(1, thr::key_create(Some(destroyed))), SeqCst);
    let users: [ThreadId; 4] = core::array::from_fn(|k| {
        let flags = if k % 2 == 0 { 0 } else { THR_BOUND };
        ok!(1, thr::create(tsd_user, k as u64, flags))
    });
    for id in users {
        ok!(1, thr::join(id));
    }
    let sum = DESTROYED.load(SeqCst);
    check!(7, sum == 100 + 101 + 102 + 103, "destructors got {sum}");
    check!(7, thr::set_specific(thr::NKEYS - 1, 1) == Err(EINVAL), "a key never made");
    say!("every kind of thread life passed");
}

// ---- 2 ------------------------------------------------------------------------

fn last_one(_: u64) -> u64 {
    sleep_ms(30);
    // Still here after the main thread's exit: this thread ends the process.
    lwp_user::exit(7)
}

fn last_exit_ends_process() {
    ok!(1, thr::create(last_one, 0, 0));
    thr::exit(0);
}

// ---- 3 ------------------------------------------------------------------------

static M: [Mutex; 3] =
    [Mutex::new(SyncKind::Adaptive), Mutex::new(SyncKind::Spin), Mutex::new(SyncKind::Block)];
static COUNT: AtomicU64 = AtomicU64::new(0);
static INSIDE: AtomicU64 = AtomicU64::new(0);
static OVERLAPS: AtomicU64 = AtomicU64::new(0);
const THREADS: u64 = 1_000;
const LIVE: usize = 64;
const ROUNDS: u64 = 20;

fn incrementer(kind: u64) -> u64 {
    let m = &M[kind as usize];
    for r in 0..ROUNDS {
        ok!(1, m.lock());
        if INSIDE.fetch_add(1, SeqCst) != 0 {
            OVERLAPS.fetch_add(1, SeqCst);
        }
        let v = COUNT.load(SeqCst);
        if r % 2 == 0 {
            thr::yield_now();
        }
        COUNT.store(v + 1, SeqCst);
        INSIDE.fetch_sub(1, SeqCst);
        ok!(1, m.unlock());
    }
    0
}

fn many_threads(lwps: usize, kind: u64) {
    check!(12, kind < 3 && (1..=4).contains(&lwps), "kind {kind}, {lwps} LWPs");
    ok!(1, thr::set_concurrency(lwps));
    let s0 = (thr::STATS.blocks.load(SeqCst), thr::STATS.spins.load(SeqCst));
    let mut live: [ThreadId; LIVE] = [0; LIVE];
    for i in 0..THREADS as usize {
        if i >= LIVE {
            ok!(1, thr::join(live[i % LIVE]));
        }
        live[i % LIVE] = ok!(1, thr::create(incrementer, kind, 0));
    }
    for id in live {
        ok!(1, thr::join(id));
    }
    let total = COUNT.load(SeqCst);
    check!(9, total == THREADS * ROUNDS, "total {total}, not {}", THREADS * ROUNDS);
    let overlaps = OVERLAPS.load(SeqCst);
    check!(10, overlaps == 0, "{overlaps} critical sections overlapped");
    let (blocks, spins) =
        (thr::STATS.blocks.load(SeqCst) - s0.0, thr::STATS.spins.load(SeqCst) - s0.1);
    let contended = match kind {
        1 => spins > 0 && blocks == 0,
        _ => blocks > 0,
    };
    check!(11, contended, "kind {kind}: {blocks} blocks, {spins} spins");
    say!(
        "{THREADS} threads on {} LWPs, kind {kind}: total {total}, {blocks} blocks, {spins} spins",
        thr::concurrency()
    );
}

// ---- 4, 5 ---------------------------------------------------------------------

static WOKE: AtomicU64 = AtomicU64::new(0);
static DONE: AtomicU64 = AtomicU64::new(0);

fn kernel_sleeper(_: u64) -> u64 {
    sleep_ms(300);
    WOKE.fetch_add(1, SeqCst);
    0
}

fn yielder(_: u64) -> u64 {
    for _ in 0..100 {
        thr::yield_now();
    }
    // Counted only if no sleeper woke yet.
    if WOKE.load(SeqCst) == 0 {
        DONE.fetch_add(1, SeqCst);
    }
    0
}

/// `sleepers` threads asleep in the kernel, queued before `workers` that yield,
/// on a pool of `lwps`: the workers finish while the sleepers sleep.
fn kernel_block(lwps: usize, sleepers: u64, workers: u64) {
    ok!(1, thr::set_concurrency(lwps));
    let added = thr::STATS.lwps_added.load(SeqCst);
    let mut ids: [ThreadId; 16] = [0; 16];
    let n = (sleepers + workers) as usize;
    for (i, id) in ids[..n].iter_mut().enumerate() {
        let f = if (i as u64) < sleepers { kernel_sleeper } else { yielder };
        *id = ok!(1, thr::create(f, 0, 0));
    }
    for &id in &ids[..n] {
        ok!(1, thr::join(id));
    }
    let done = DONE.load(SeqCst);
    check!(13, done == workers, "{done} of {workers} workers done before a sleeper woke");
    let added = thr::STATS.lwps_added.load(SeqCst) - added;
    if lwps == 1 {
        check!(14, added >= sleepers, "the watchdog added {added} LWPs for {sleepers} sleepers");
    }
    say!("{workers} workers done beside {sleepers} sleepers; {added} LWPs added");
}

// ---- 6 ------------------------------------------------------------------------

/// Signals taken, and of them those that came while a thread was switching.
static SIGNALS: AtomicU64 = AtomicU64::new(0);
static IN_SWITCH: AtomicU64 = AtomicU64::new(0);
/// Of them, those that came past its first instruction (with a window half
/// stored or half loaded).
static PAST_FIRST: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);
/// Where a context's `%pc` is (`gregs` as Solaris numbers them).
const REG_PC: usize = 1;

fn on_tick(_: u64, _: Option<&SigInfoT>, uc: &mut UContext) {
    SIGNALS.fetch_add(1, SeqCst);
    let (pc, code) = (uc.uc_mcontext.gregs[REG_PC], thr::switch_code());
    if code.contains(&pc) {
        IN_SWITCH.fetch_add(1, SeqCst);
    }
    if pc > code.start && pc < code.end {
        PAST_FIRST.fetch_add(1, SeqCst);
    }
    black_box(scribble(4));
}

/// Writes `n` frames of junk on the stack.
fn scribble(n: u64) -> u64 {
    let junk = black_box([n ^ 0x5a5a; 16]);
    if n == 0 {
        return junk[3];
    }
    black_box(scribble(n - 1)) + junk[7]
}

/// One round of a thread's values.
#[inline(always)]
fn mix(v: &mut [u64; 6]) {
    v[0] = v[0].wrapping_mul(6_364_136_223_846_793_005).wrapping_add(v[5]);
    v[1] = v[1].rotate_left(7) ^ v[0];
    v[2] = v[2].wrapping_add(v[1] | 1);
    v[3] ^= v[2] >> 3;
    v[4] = v[4].wrapping_sub(v[3]).rotate_right(11);
    v[5] = v[5].wrapping_add(v[4] ^ 0x9e37_79b9_7f4a_7c15);
}

fn seeded(seed: u64) -> [u64; 6] {
    core::array::from_fn(|i| seed.wrapping_mul(0x1000_0000_01b3) + i as u64)
}

/// Mixes and yields until told to stop (the leader, `seed` 1, tells once enough
/// signals came in the switch); then checks its values. Its rounds.
fn churner(seed: u64) -> u64 {
    let lead = seed == 1;
    let start = if lead { ok!(1, clock_ns()) } else { 0 };
    let mut v = seeded(seed);
    let mut n = 0u64;
    while !STOP.load(SeqCst) {
        mix(&mut v);
        n += 1;
        thr::yield_now();
        // Under -icount 30 signals land in the switch within seconds; under plain
        // QEMU they land only between translated blocks, which rarely split the
        // switch, so the run ends at its time budget instead, and only the values
        // are the test there.
        if lead && n.is_multiple_of(1024) {
            let secs = (ok!(1, clock_ns()) - start) / 1_000_000_000;
            if IN_SWITCH.load(SeqCst) >= 30 || secs >= 20 {
                STOP.store(true, SeqCst);
            }
        }
    }
    let mut w = seeded(seed);
    for _ in 0..n {
        mix(&mut w);
    }
    check!(15, v == w, "thread {seed}: values changed across its switches in {n} rounds");
    n
}

fn signals_in_switch() {
    ok!(1, sigaction(SIGVTALRM, Disposition::Catch(on_tick), 0, SigSet::EMPTY));
    let tick = ITimerVal { it_interval: timeval_ms(10), it_value: timeval_ms(10) };
    ok!(1, setitimer(ITIMER_VIRTUAL, &tick));
    let other = ok!(1, thr::create(churner, 2, 0));
    let rounds = churner(1);
    ok!(1, thr::join(other));
    ok!(1, setitimer(ITIMER_VIRTUAL, &ITimerVal::default()));
    let (signals, inside) = (SIGNALS.load(SeqCst), IN_SWITCH.load(SeqCst));
    let past = PAST_FIRST.load(SeqCst);
    check!(16, signals >= 30, "{signals} signals in the whole run");
    if past > 0 {
        // What scripts/test's boot under -icount looks for.
        say!("{past} signals came in the middle of a switch");
    }
    say!("{rounds} rounds each, {signals} signals, {inside} of them in the switch");
}

// ---- 7 ------------------------------------------------------------------------

/// The bottom of the overflowing thread's stack: its guard page is just below.
static STACK_LOW: AtomicU64 = AtomicU64::new(0);
/// SIGSEGVs taken, and windows the stack refused that came in their frames.
static SEGVS: AtomicU64 = AtomicU64::new(0);
static REFUSED: AtomicU64 = AtomicU64::new(0);
/// The address of the deepest frame's local of the last `descend`.
static DEEPEST: AtomicU64 = AtomicU64::new(0);

/// SIGSEGV, on the alternate stack: the fault must be in the guard page, and the
/// windows the stack could not take must be in the frame (`gwins`). The handler
/// then gives the guard page rights, as a program that grows its thread's stack
/// would, and returns to the faulting instruction.
fn on_segv(_: u64, info: Option<&SigInfoT>, uc: &mut UContext) {
    SEGVS.fetch_add(1, SeqCst);
    let low = STACK_LOW.load(SeqCst);
    let guard = low - thr::GUARD_SIZE as u64..low;
    let (code, addr) = info.map_or((0, 0), |i| (i.si_code, i.si_addr));
    check!(
        18,
        code == SEGV_ACCERR && guard.contains(&addr),
        "SIGSEGV code {code} at {addr:#x}; the guard page is {guard:#x?}"
    );
    check!(19, uc.uc_mcontext.gwins != 0, "no windows in the frame");
    // SAFETY: the kernel points `gwins` at the gwindows_t it wrote in this frame.
    let gw = unsafe { &*(uc.uc_mcontext.gwins as *const GWindows) };
    let n = gw.wbcnt as usize;
    let in_guard = gw.spbuf[..n.min(gw.spbuf.len())]
        .iter()
        .filter(|&&sp| guard.contains(&(sp + STACK_BIAS)))
        .count();
    check!(19, n >= 1 && in_guard >= 1, "{n} windows in the frame, {in_guard} for the guard page");
    REFUSED.fetch_add(n as u64, SeqCst);
    // SAFETY: the guard page is this thread's, which nothing else uses.
    ok!(1, unsafe { mprotect(guard.start, thr::GUARD_SIZE as u64, PROT_READ | PROT_WRITE) });
}

/// `n` more frames of a few hundred bytes each; the sum of their `n`s (the
/// deepest one's local's address in `DEEPEST`).
fn descend(n: u64) -> u64 {
    let pad = black_box([n; 32]);
    if n == 0 {
        DEEPEST.store(black_box(&pad) as *const _ as u64, SeqCst);
        return 0;
    }
    black_box(descend(n - 1)) + pad[31]
}

/// The stack address the deepest of `n` more frames reaches.
fn reach(n: u64) -> u64 {
    check!(17, descend(n) == n * (n + 1) / 2, "{n} frames summed wrong");
    DEEPEST.load(SeqCst)
}

/// A bound thread uses most of its stack, then runs into its guard page.
fn overflower(_: u64) -> u64 {
    let seg = ok!(1, thr::stksegment());
    check!(17, seg.ss_size == thr::STACK_SIZE as u64, "its stack is {seg:?}");
    let frame = reach(1) - reach(2);
    let size = thr::STACK_SIZE as u64;
    let frames = size * 3 / 4 / frame;
    let used = seg.ss_sp - reach(frames);
    check!(
        17,
        used >= size / 2 && used < size,
        "{frames} frames of {frame} bytes reached {used} bytes down its stack"
    );
    STACK_LOW.store(seg.ss_sp - seg.ss_size, SeqCst);
    let alt = ok!(1, mmap_anon(ALT_SIZE, PROT_READ | PROT_WRITE));
    let ss = StackT { ss_sp: alt, ss_size: ALT_SIZE, ..StackT::default() };
    ok!(1, sigaltstack(Some(&ss), None));
    ok!(1, sigaction(SIGSEGV, Disposition::Catch(on_segv), SA_ONSTACK | SA_SIGINFO, SigSet::EMPTY));
    // Halfway into the guard page: the handler makes it stack, and the frames'
    // values (their sum) come through the windows it carried.
    let frames = (size + thr::GUARD_SIZE as u64 / 2) / frame;
    let deepest = seg.ss_sp - reach(frames);
    let (segvs, refused) = (SEGVS.load(SeqCst), REFUSED.load(SeqCst));
    check!(
        18,
        segvs == 1 && deepest > size,
        "{segvs} SIGSEGVs going {deepest} bytes down a stack of {size}"
    );
    say!("{used} of {size} bytes of its stack used; past it, SIGSEGV in the guard page with {refused} windows in the frame");
    0
}

const ALT_SIZE: u64 = 16 * 1024;

/// A thread's stack is mapped above a guard page: it can use what it was given,
/// and running off it is SIGSEGV where it happens (not a write into whatever lies
/// below: the stack of the thread made next, which `mmap` places there), which a
/// handler on the alternate stack can take and recover from.
fn overflow_hits_guard() {
    let below = ok!(1, thr::create(|_| 0, 0, 0));
    ok!(1, thr::join(below));
    let t = ok!(1, thr::create(overflower, 0, THR_BOUND));
    ok!(1, thr::join(t));
}
