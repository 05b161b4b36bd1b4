//! The showcase: a known arrangement of processes, LWPs and threads in every state
//! the model has, for newcomers to look at (`scripts/run showcase`) and for the
//! debugger's self-tests to check their listings against.
//!
//! Four processes, made by the first:
//!
//! * `showcase` (its LWP 1 runs everything: it is the one *running* while the
//!   listings are taken). LWP 2 holds the mutex [`LOCK`] and has stopped itself
//!   (`stopped`); LWP 3, an RT LWP of priority 100, is *blocked* on that mutex, so
//!   LWP 2 runs at the priority it inherits (priority inheritance: `100*`); LWP 4
//!   is asleep in `lwp_wait` for LWP 3 (an *event* of the process); LWP 5 was
//!   created suspended and its `lwp` structure is *swapped out* (on a machine with
//!   a swap device); LWP 6 has exited and waits in the directory as a *zombie*.
//! * `sleepers`: LWP 1 asleep on a *condition variable*, LWP 2 on a *semaphore*,
//!   LWP 3 in a *timed wait* on another condition variable (its callout is armed).
//! * `spinners`: one LWP more than there are CPUs, never sleeping: some *run* on a
//!   CPU, the others wait *on a run queue*.
//! * `zombie`: exited, not yet waited for by its parent.
//!
//! Kernel threads (S2) join in: the thread that made the showcase waits for it
//! (`proc_wait`), the reaper waits for orphans, the swapper for work, each CPU has
//! its idle thread. While the showcase stands, the swapper swaps nothing out of its
//! own accord (`swap::Mode::Off`, whatever `swap=` said at boot): every structure
//! but LWP 5's stays where the listings expect it.
//!
//! [`with`] builds it, waits until every piece is in its state, runs a function
//! in LWP 1 of `showcase` (with an [`Arrangement`] naming what is where), and takes
//! it all down again: every LWP ends, every process is reaped.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::hint::black_box;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arch::Machine;

use crate::{reap, wait_until, TestResult};
use kern::class::SchedClass;
use kern::kmdb;
use kern::lwp::{
    idtot, lwp_continue, lwp_create, lwp_self, lwp_suspend, lwp_wait, stop_point, LwpFlags, LwpId,
};
use kern::proc::life::proc_create;
use kern::proc::{prfind, PStat, Pid, Proc};
use kern::swap;
use kern::sync::turnstile;
use kern::sync::{CondVar, KMutex, Mutex, Sema};
use kern::thread::{curproc, curthread, KThread, ThreadState};
use kern::M;

/// The mutex LWP 2 of `showcase` holds and LWP 3 is blocked on.
pub static LOCK: KMutex = KMutex::adaptive();
/// The condition variable LWP 1 of `sleepers` sleeps on, and what it waits for.
pub static GATE: CondVar = CondVar::new();
static GATE_OPEN: Mutex<bool> = Mutex::new(false);
/// The semaphore LWP 2 of `sleepers` sleeps on.
pub static SEM: Sema = Sema::new(0);
/// The condition variable LWP 3 of `sleepers` waits on with a timeout.
pub static ALARM: CondVar = CondVar::new();
/// Tells the spinners and the timed waiter to end (set under this mutex: the timed
/// waiter checks it there).
static QUIT: AtomicBool = AtomicBool::new(false);
static ALARM_LOCK: Mutex<()> = Mutex::new(());
/// Rounds the spinners made, all together.
static SPUN: AtomicU64 = AtomicU64::new(0);
/// LWP 2 of `showcase` holds [`LOCK`].
static HELD: AtomicBool = AtomicBool::new(false);

/// What is where: the debugger's tests check their listings against this.
#[derive(Clone)]
pub struct Arrangement {
    pub showcase: Pid,
    pub sleepers: Pid,
    pub spinners: Pid,
    pub zombie: Pid,
    /// LWP 1 of `showcase`: the one running the checks.
    pub lister: &'static KThread,
    /// LWP 2: stopped, holding [`LOCK`], inheriting priority 100.
    pub holder: &'static KThread,
    /// LWP 3: RT 100, blocked on [`LOCK`].
    pub blocker: &'static KThread,
    /// LWP 4: asleep in `lwp_wait` for LWP 3.
    pub waiter: &'static KThread,
    /// LWP 5: stopped since its creation, its `lwp` structure swapped out.
    pub swapped: &'static KThread,
    /// The LWPs of `sleepers`: on [`GATE`], on [`SEM`], in a timed wait on [`ALARM`].
    pub on_cv: &'static KThread,
    pub on_sema: &'static KThread,
    pub timed: &'static KThread,
    pub spinning: Vec<&'static KThread>,
    /// The kernel thread that made the showcase, waiting for it.
    pub maker: &'static KThread,
}

impl Arrangement {
    /// The address of a thread structure, as the listings print it.
    pub fn addr(t: &KThread) -> String {
        format!("{:016x}", t as *const KThread as usize)
    }
}

/// What the maker hands to `showcase`'s LWP 1, and what it hands back.
struct Job {
    body: fn(&Arrangement) -> TestResult,
    /// How many times the body may look: after a failure, the showcase settles
    /// and it looks again.
    tries: u32,
    maker: &'static KThread,
    result: Option<TestResult>,
}

static JOB: Mutex<Option<Job>> = Mutex::new(None);

/// Builds the showcase, runs `body` in its LWP 1 once everything is in place, and
/// takes it all down; the result is `body`'s, or what went wrong around it.
pub fn with(body: fn(&Arrangement) -> TestResult) -> TestResult {
    with_tries(body, 1)
}

/// Like [`with`], for a body that reads a snapshot of a kernel that goes on
/// running (a timed wait ends, a thread is preempted at the wrong moment): if it
/// fails, the showcase settles again and it looks again, `tries` times in all.
pub fn with_tries(body: fn(&Arrangement) -> TestResult, tries: u32) -> TestResult {
    *JOB.lock() = Some(Job { body, tries, maker: curthread(), result: None });
    let mode = swap::set_mode(swap::Mode::Off);
    let status = proc_create(lister, 0).map_err(|e| format!("proc_create: {e}")).and_then(|pid| {
        if let Some(p) = prfind(pid) {
            p.set_comm("showcase");
        }
        reap(pid)
    });
    swap::set_mode(mode);
    let status = status?;
    let result = JOB.lock().take().and_then(|j| j.result);
    result.unwrap_or_else(|| Err(format!("the showcase ended ({status:?}) without a result")))
}

/// The showcase boot (`scripts/run showcase`): prints the listings of the moment
/// (and, with `kmdb`, stops in the debugger with everything in place); true if the
/// showcase was built and taken down.
pub fn run(bootargs: &str) -> bool {
    let stop = kmdb::requested(bootargs);
    let shown = with(if stop { show_and_stop } else { show });
    if let Err(why) = &shown {
        kern::kprintln!("showcase: FAILED: {why}");
    }
    shown.is_ok()
}

fn show(a: &Arrangement) -> TestResult {
    let mut out = String::new();
    out.push_str("showcase: four processes, their LWPs in every state, and the kernel's threads\n");
    for cmd in ["::ps", &format!("::lwps {}", a.showcase.0), "::threadlist", "::swapinfo"] {
        out.push_str(&format!("[showcase]> {cmd}\n"));
        kmdb::exec(cmd, &mut out);
    }
    kern::console::write_bytes(out.as_bytes());
    Ok(())
}

fn show_and_stop(a: &Arrangement) -> TestResult {
    show(a)?;
    kmdb::enter(kmdb::Why::Request);
    Ok(())
}

/// LWP 1 of `showcase`: builds the rest, runs the job's body, takes it all down.
fn lister(_: usize) {
    let Some((body, tries, maker)) = JOB.lock().as_ref().map(|j| (j.body, j.tries, j.maker)) else {
        return;
    };
    let mut made = Made::default();
    let checked = build(maker, &mut made).and_then(|a| {
        let mut checked = body(&a);
        for _ in 1..tries {
            if checked.is_ok() {
                break;
            }
            checked = settle(&a).and_then(|()| body(&a));
        }
        checked
    });
    // Whatever was made goes, also when the building failed half-way.
    let down = teardown(&made);
    if let Some(j) = JOB.lock().as_mut() {
        j.result = Some(checked.and(down));
    }
}

/// What the building has made so far: the teardown's list.
#[derive(Default)]
struct Made {
    /// LWPs of `showcase` besides LWP 1.
    lwps: Vec<LwpId>,
    /// The other processes.
    procs: Vec<Pid>,
}

fn this_proc() -> Result<&'static Proc, String> {
    curproc().ok_or_else(|| String::from("the showcase runs in no process"))
}

fn new_lwp(p: &'static Proc, f: fn(usize), flags: LwpFlags) -> Result<&'static KThread, String> {
    let id = lwp_create(p, f, 0, flags).map_err(|e| format!("lwp_create: {e}"))?;
    idtot(p, id).ok_or_else(|| format!("{id} of {} has no thread", p.pid()))
}

/// Makes LWP `want` of the current process (ids are given lowest first, so the
/// showcase's are known: the tests and the teardown name them); its thread, unless
/// it has exited already.
fn lwp_numbered(
    made: &mut Made,
    want: u32,
    f: fn(usize),
    flags: LwpFlags,
) -> Result<Option<&'static KThread>, String> {
    let me = this_proc()?;
    let id = lwp_create(me, f, 0, flags).map_err(|e| format!("lwp_create: {e}"))?;
    made.lwps.push(id);
    if id != LwpId(want) {
        return Err(format!("made {id} where lwp {want} was meant"));
    }
    Ok(idtot(me, id))
}

/// LWP `want` of the current process, which must still be alive.
fn live_lwp(
    made: &mut Made,
    want: u32,
    f: fn(usize),
    flags: LwpFlags,
) -> Result<&'static KThread, String> {
    lwp_numbered(made, want, f, flags)?.ok_or_else(|| format!("lwp {want} has no thread"))
}

fn new_proc(made: &mut Made, name: &str, f: fn(usize)) -> Result<&'static Proc, String> {
    let pid = proc_create(f, 0).map_err(|e| format!("proc_create: {e}"))?;
    made.procs.push(pid);
    let p = prfind(pid).ok_or_else(|| format!("{pid} vanished"))?;
    p.set_comm(name);
    Ok(p)
}

fn build(maker: &'static KThread, made: &mut Made) -> Result<Arrangement, String> {
    QUIT.store(false, Ordering::SeqCst);
    HELD.store(false, Ordering::SeqCst);
    SPUN.store(0, Ordering::SeqCst);
    *GATE_OPEN.lock() = false;
    while SEM.try_p() {}
    let me = this_proc()?;
    let lister = curthread();
    // showcase's LWPs 2 to 6.
    let holder = live_lwp(made, 2, hold_and_stop, LwpFlags::empty())?;
    wait_until("LWP 2 to hold the lock and stop", 10, || {
        Ok(HELD.load(Ordering::SeqCst) && holder.state() == ThreadState::Stopped)
    })?;
    let blocker = live_lwp(made, 3, take_lock, LwpFlags::SUSPENDED)?;
    // Not yet runnable: its class and priority may still be chosen.
    blocker.set_class(SchedClass::Rt, 100);
    lwp_continue(LwpId(3)).map_err(|e| format!("lwp_continue(3): {e}"))?;
    let waiter = live_lwp(made, 4, wait_for_3, LwpFlags::empty())?;
    let swapped = live_lwp(made, 5, return_at_once, LwpFlags::SUSPENDED)?;
    if swap::has_device() {
        swap::swapout(me, LwpId(5)).map_err(|e| format!("swapout(5): {e}"))?;
    }
    // Its thread may be gone at once, on another CPU: only its zombie is wanted.
    lwp_numbered(made, 6, return_at_once, LwpFlags::empty())?;
    // The other processes, children of this one.
    let sl = new_proc(made, "sleepers", on_gate)?;
    let on_cv = idtot(sl, LwpId(1)).ok_or("sleepers has no LWP 1")?;
    let on_sema = new_lwp(sl, on_sem, LwpFlags::empty())?;
    let timed = new_lwp(sl, timed_wait, LwpFlags::empty())?;
    let sp = new_proc(made, "spinners", spin)?;
    let mut spinning = Vec::new();
    spinning.push(idtot(sp, LwpId(1)).ok_or("spinners has no LWP 1")?);
    for _ in 0..M::ncpus() {
        spinning.push(new_lwp(sp, spin, LwpFlags::empty())?);
    }
    let zombie = new_proc(made, "zombie", return_at_once)?.pid();
    let a = Arrangement {
        showcase: me.pid(),
        sleepers: sl.pid(),
        spinners: sp.pid(),
        zombie,
        lister,
        holder,
        blocker,
        waiter,
        swapped,
        on_cv,
        on_sema,
        timed,
        spinning,
        maker,
    };
    settle(&a)?;
    Ok(a)
}

/// Waits until every piece of the showcase is in its state again (a wait that
/// ended, a thread preempted at the wrong moment): up to 10 s.
pub fn settle(a: &Arrangement) -> TestResult {
    wait_until("the showcase to settle", 10, || Ok(unsettled(a).is_empty()))
        .map_err(|e| format!("{e}; not in place: {:?}", unsettled(a)))
}

/// The pieces that are not in their state yet.
fn unsettled(a: &Arrangement) -> Vec<&'static str> {
    let asleep_on = |t: &KThread, chan: usize| t.wchan() == Some(chan);
    let zombies = this_proc().map_or(0, |me| me.zombcnt());
    let zombie_done = prfind(a.zombie).is_some_and(|p| p.stat() == PStat::Zombie);
    [
        (turnstile::blocked_on(a.blocker) == Some(LOCK.addr()), "lwp 3 blocked"),
        (a.holder.inherited_pri() == Some(100), "lwp 2 inheriting"),
        (a.waiter.wchan().is_some(), "lwp 4 in lwp_wait"),
        (zombies == 1, "lwp 6 a zombie"),
        (asleep_on(a.on_cv, &GATE as *const CondVar as usize), "sleepers' cv"),
        (asleep_on(a.on_sema, &SEM as *const Sema as usize), "sleepers' semaphore"),
        (asleep_on(a.timed, &ALARM as *const CondVar as usize), "sleepers' timed wait"),
        (SPUN.load(Ordering::SeqCst) > 0, "spinners spinning"),
        (zombie_done, "the zombie process"),
        (a.maker.wchan().is_some(), "the maker waiting"),
    ]
    .into_iter()
    .filter_map(|(ok, what)| (!ok).then_some(what))
    .collect()
}

/// Takes down what was made, whatever state it is in: every LWP ends, every
/// process is reaped. The first thing that went wrong is the result.
fn teardown(made: &Made) -> TestResult {
    {
        let _g = ALARM_LOCK.lock();
        QUIT.store(true, Ordering::SeqCst);
        ALARM.broadcast();
    }
    *GATE_OPEN.lock() = true;
    GATE.broadcast();
    SEM.v();
    let mut first = Ok(());
    let mut note = |r: TestResult| {
        if first.is_ok() {
            first = r;
        }
    };
    // LWP 2 lets go of the lock (LWP 3 gets it, and LWP 4 reaps LWP 3); LWP 5 is
    // swapped in and runs; LWP 3, if the building stopped before it went, goes.
    for id in [2, 5, 3].map(LwpId).into_iter().filter(|id| made.lwps.contains(id)) {
        if let Err(e) = lwp_continue(id) {
            // LWP 3 runs already when the building went that far.
            if id != LwpId(3) {
                note(Err(format!("lwp_continue({}): {e}", id.0)));
            }
        }
    }
    let reaped_by_4 = |id: &&LwpId| **id == LwpId(3) && made.lwps.contains(&LwpId(4));
    for id in made.lwps.iter().filter(|id| !reaped_by_4(id)) {
        note(lwp_wait(Some(*id)).map(|_| ()).map_err(|e| format!("lwp_wait({}): {e}", id.0)));
    }
    for pid in &made.procs {
        note(reap(*pid).map(|_| ()));
    }
    first
}

/// LWP 2 of `showcase`.
fn hold_and_stop(_: usize) {
    LOCK.enter();
    HELD.store(true, Ordering::SeqCst);
    if let Some(id) = lwp_self() {
        let _ = lwp_suspend(id);
    }
    LOCK.exit();
}

/// LWP 3 of `showcase`.
fn take_lock(_: usize) {
    LOCK.enter();
    LOCK.exit();
}

/// LWP 4 of `showcase`.
fn wait_for_3(_: usize) {
    let _ = lwp_wait(Some(LwpId(3)));
}

fn return_at_once(_: usize) {}

/// LWP 1 of `sleepers`. Not inlined: its name is what `::findstack` must show.
#[inline(never)]
fn on_gate(_: usize) {
    let mut open = GATE_OPEN.lock();
    while !*open {
        open = GATE.wait(open);
    }
}

/// LWP 2 of `sleepers`.
fn on_sem(_: usize) {
    SEM.p();
}

/// LWP 3 of `sleepers`: timed waits of ten seconds (its callout stays armed),
/// until told to end.
fn timed_wait(_: usize) {
    let ticks = 10 * u64::from(kern::clock::hz());
    let mut g = ALARM_LOCK.lock();
    while !QUIT.load(Ordering::SeqCst) {
        g = ALARM.wait_timeout(g, ticks).0;
    }
}

/// The LWPs of `spinners`: busy, with a machine call each round (the seeded
/// simulation switches CPUs only at those) and a stop point.
fn spin(_: usize) {
    while !QUIT.load(Ordering::Relaxed) {
        SPUN.fetch_add(1, Ordering::Relaxed);
        black_box(M::now_ns());
        stop_point();
    }
}
