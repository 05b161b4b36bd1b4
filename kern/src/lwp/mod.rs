//! Light-weight processes (S3, S5, S15): a user-level execution context on top of
//! exactly one kernel thread, for the thread's whole life; created, stopped,
//! continued, ended and waited for inside its process.
//!
//! # Theory
//!
//! An LWP is three things:
//!
//! * its **kernel thread** (S3, S6), made for it by [`lwp_create`] and bound to it
//!   until it exits: the thread keeps what must stay resident — the scheduling
//!   state, the wait channel, and `t_proc_flag`, what the LWP was asked to do;
//! * its **`lwp` structure** (S5, `data`): the swappable state (user registers,
//!   system-call values, signal-handling state, usage, timers, CPU times, the
//!   pointers to its thread and process) in a heap block of its own that the
//!   swapper (`crate::swap`) may write out to the swap device and free while the
//!   LWP does not run, and bring back before it runs again;
//! * its **entry in its process's LWP directory** (`dir`): its id, which means
//!   something only inside the process (S15), whether it is detached, and what it
//!   waits for. An exited LWP that is not detached stays there as a zombie until
//!   another LWP of the process waits for it ([`lwp_wait`]); only then is its id
//!   free to be reused.
//!
//! [`Lwp`] is the handle that ties them: the thread's `t_lwp` points at it
//! (`curlwp`, S7). Like threads, `Lwp` handles are never freed but cached and
//! reused (`cache`), so that `&'static Lwp` is the normal reference; what an LWP
//! owns (its `lwp` structure) is freed when it exits.
//!
//! Making an LWP is the one thing a user program can ask of the kernel over and
//! over, so it is bounded and fallible throughout: the system's and the process's
//! LWP limits (`rctl`: `EAGAIN`, zombies counting for their process) and the memory
//! for the thread, the handle, the `lwp` structure and a bigger directory
//! (`ENOMEM`) are all had before the LWP is entered in its process, and given
//! back if anything fails, so a refused `_lwp_create` leaves nothing behind.
//!
//! An LWP in the kernel cannot be stopped or killed just anywhere: it could hold a
//! lock. It acts on requests at *stop points* ([`stop_point`], `stop`), as
//! Solaris' LWPs do on their way back to user mode. Every wait in this module and in
//! [`crate::proc`] is a stop point too: an LWP asleep there is woken to stop or exit,
//! and picks its wait up again when continued.
//!
//! What a thread library in user space needs of the kernel to block LWPs is here
//! too (S4, S8): each LWP's park permit (`park`: `_lwp_park`, `_lwp_unpark`), and
//! LWP mutexes (`mutex`: locks in user memory owned by an LWP, which the kernel
//! hands from owner to sleeper). Both sleeps are stop points.
//!
//! Locks, outermost first: the process table (`proc`'s `PIDLOCK`), a process's
//! `p_lock` (its state and LWP directory), a sleep queue's, the swap queue's
//! (`swap`), an `Lwp`'s `lwp_image`, the swap device's slot map; the dispatcher's
//! locks are taken inside any of these. Wakeups are given after the locks are
//! dropped, but for an unpark, given under `p_lock`, where its id still names the
//! LWP; the unparker then preempts itself if the LWP it woke outranks it.

pub(crate) mod cache;
pub(crate) mod data;
pub(crate) mod dir;
pub(crate) mod event;
pub(crate) mod handle;
mod mutex;
mod park;
pub(crate) mod stop;
pub(crate) mod tstate;
mod wait;

use alloc::boxed::Box;
use core::sync::atomic::Ordering;

use crate::class::{self, SchedClass};
use crate::errno::Errno;
use crate::proc::{self, PStat, Proc, ProcState};
use crate::rctl;
use crate::thread::{self, curlwp, curproc, curthread, KThread, ThreadState};
use crate::M;

use arch::{Machine, UserRegs};

pub use cache::nlwps;
use cache::{lwp_alloc, lwp_cache, NLWPS};
pub(crate) use data::ImageState;
pub use data::{
    Eosys, ITimerVal, Link, LwpData, LwpRusage, LwpUsage, SigAltStack, SwapRef, MAXSYSARGS, NITIMER,
};
pub use dir::{idtolwp, idtot, LwpDir, LwpEnt, Slot, Waitfor};
pub(crate) use event::{interrupt_requested, pause, Event};
use handle::Start;
pub use handle::{lwp_self, Lwp, LwpFlags, LwpId};
pub use mutex::chan_names as lwp_mutex_chan_names;
pub use mutex::{lwp_mutex_timedlock, lwp_mutex_unlock};
pub use park::{lwp_park, lwp_unpark};
pub(crate) use stop::{
    all_stopped, continue_all, continuelwps, exitlwps, holdlwps, stop_requests, wake_stop_points,
};
pub use stop::{lwp_continue, lwp_suspend, stop_point};
pub(crate) use tstate::ThreadWait;
pub use tstate::TpFlags;
pub use wait::lwp_wait;

impl ThreadWait {
    /// Ends a park of the LWP without giving a permit: it was asked to stop or exit.
    #[inline(always)]
    pub(crate) fn interrupt_park(&self) {
        self.t_park.interrupt();
    }
}

/// A new LWP on thread `t` starts with the mask of the LWP `from` that creates it
/// (S11): by the creator, before `t` first runs.
#[inline]
pub(crate) fn inherit_mask(t: &KThread, from: &KThread) {
    // `from` is the caller, or (`forkall`) an LWP it holds stopped: its mask is still.
    debug_check!(
        t.never_ran() && (from.is_curthread() || from.proc_flag().contains(TpFlags::STOPPED)),
        "{t:?}: mask inherited late"
    );
    t.sig_state().inherit(from.sig_state());
}

/// What the last LWP of a process calls as it leaves: `proc::life::proc_zombie`,
/// which makes the process a zombie. Set at boot (`boot`), before any LWP exists:
/// an LWP's life sits below its process's, and does not name it.
static PROC_ZOMBIE: spin::Once<fn(&'static Proc)> = spin::Once::new();

/// Sets what the last LWP of a process calls as it exits (see `PROC_ZOMBIE`).
pub(crate) fn set_proc_zombie(zombie: fn(&'static Proc)) {
    PROC_ZOMBIE.call_once(|| zombie);
}

/// Frees what an LWP owns and caches its handle. Nobody refers to it any more: its
/// thread has let go of it and its directory entry is gone or a zombie.
fn lwp_free(lwp: &'static Lwp) {
    if let Some(slot) = lwp.free_data() {
        crate::swap::forget(slot);
    }
    lwp.lwp_start.lock().take();
    lwp.lwp_id.store(0, Ordering::Relaxed);
    lwp_cache(lwp);
    rctl::give(&NLWPS);
}

/// An LWP made but not yet entered in its process: everything that needs memory is
/// allocated here, before any lock is taken.
pub(crate) struct NewLwp {
    t: &'static KThread,
    lwp: &'static Lwp,
    data: Box<LwpData>,
}

impl NewLwp {
    /// A thread (TS class) and an `lwp` structure for an LWP of `p` that will run
    /// `func(arg)` in the kernel.
    pub(crate) fn alloc(p: &'static Proc, func: fn(usize), arg: usize) -> Result<NewLwp, Errno> {
        Self::alloc_start(p, Start::Kernel(func, arg), &UserRegs::default())
    }

    /// The same for an LWP of `p` that starts in user mode with `regs`.
    pub(crate) fn alloc_user(p: &'static Proc, regs: &UserRegs) -> Result<NewLwp, Errno> {
        Self::alloc_start(p, Start::User, regs)
    }

    /// Errors: `EAGAIN` beyond the system's LWP or thread limit; `ENOMEM` without
    /// memory. What was had is given back.
    fn alloc_start(p: &'static Proc, start: Start, regs: &UserRegs) -> Result<NewLwp, Errno> {
        if !rctl::take(&NLWPS, rctl::max_lwps()) {
            return Err(Errno::EAGAIN);
        }
        let t = match thread::life::thread_create_stopped(
            "lwp",
            lwp_main,
            0,
            SchedClass::Ts,
            class::TS_DEFAULT_PRI,
        ) {
            Ok(t) => t,
            Err(e) => {
                rctl::give(&NLWPS);
                return Err(e);
            }
        };
        let made = lwp_alloc().and_then(|lwp| match LwpData::make(lwp.take_block(), t, p, regs) {
            Ok(data) => Ok((lwp, data)),
            Err(block) => {
                lwp.put_block(block);
                lwp_cache(lwp);
                Err(Errno::ENOMEM)
            }
        });
        match made {
            Ok((lwp, data)) => {
                *lwp.lwp_start.lock() = Some(start);
                Ok(NewLwp { t, lwp, data })
            }
            Err(e) => {
                thread::discard(t);
                rctl::give(&NLWPS);
                Err(e)
            }
        }
    }

    /// Lets `f` set up the LWP's thread and `lwp` structure before anyone can see
    /// them (what a child's LWP takes from its parent's: `fork`).
    pub(crate) fn prepare(&mut self, f: impl FnOnce(&'static KThread, &mut LwpData)) {
        f(self.t, &mut self.data);
    }

    /// Enters the LWP in `p`, whose locked state is `ps` and whose directory has
    /// room: gives it an id (`id`, which must be free, or the first free one),
    /// binds it to its thread for life (S3), and marks it stopped if `flags` say
    /// SUSPENDED, or if `creating`: then it stays stopped until
    /// `stop::create_done`. Returns the id and the thread, which the caller sets
    /// running unless it is stopped.
    pub(crate) fn install(
        self,
        p: &'static Proc,
        ps: &mut ProcState,
        flags: LwpFlags,
        creating: bool,
        id: Option<LwpId>,
    ) -> (LwpId, &'static KThread) {
        let NewLwp { t, lwp, data } = self;
        let detached = flags.contains(LwpFlags::DETACHED);
        let id = match id {
            Some(id) => ps
                .p_lwpdir
                .enter_as(id, t, lwp, detached)
                .expect("a new process's LWP id is taken or beyond its directory"),
            None => ps.p_lwpdir.enter(t, lwp, detached),
        };
        lwp.lwp_id.store(id.0, Ordering::Relaxed);
        lwp.set_data(data);
        t.attach_lwp(lwp, p);
        // It starts with its creator's mask (S11), and stops with the other LWPs if
        // the process is stopping.
        let me = curthread();
        if me.procp().is_some_and(|mine| core::ptr::eq(mine, p)) {
            inherit_mask(t, me);
        }
        if ps.p_sig.stopsig.is_some() {
            t.set_proc_flag(TpFlags::JOBSTOP);
        }
        if ps.p_holdfork {
            t.set_proc_flag(TpFlags::HOLDFORK);
        }
        let mut stop = TpFlags::empty();
        if flags.contains(LwpFlags::SUSPENDED) {
            stop |= TpFlags::HOLDLWP;
        }
        if creating {
            stop |= TpFlags::CREATING;
        }
        if !stop.is_empty() {
            // As if it had stopped at its first stop point (it has no stack to stop on
            // yet): `lwp_continue` (or `create_done`) sets it running.
            t.set_proc_flag(stop | TpFlags::STOPPED);
            t.note_wait();
            t.set_state(ThreadState::Stopped);
        }
        (id, t)
    }

    /// Gives back what `alloc` took, when the LWP cannot be entered after all.
    pub(crate) fn discard(self) {
        let NewLwp { t, lwp, data } = self;
        lwp.put_block(Some(data));
        thread::discard(t);
        lwp_cache(lwp);
        rctl::give(&NLWPS);
    }
}

/// Creates an LWP in process `p` that runs `func(arg)` on a new kernel thread of its
/// own, in the TS class (S3); when `func` returns, the LWP exits. Returns its id.
///
/// Errors: `EAGAIN` if `p` is exiting (or already gone); `EINVAL` for proc 0, which
/// holds the kernel's own threads (S2) and never LWPs; `ENOMEM` if there is no
/// memory for it, even once the swapper has made what room it could.
pub fn lwp_create(
    p: &'static Proc,
    func: fn(usize),
    arg: usize,
    flags: LwpFlags,
) -> Result<LwpId, Errno> {
    if proc::is_proc0(p) {
        return Err(Errno::EINVAL);
    }
    with_reclaim(|| lwp_enter(p, NewLwp::alloc(p, func, arg)?, flags, |_| {}))
}

/// Makes an LWP with `make`; if there is no memory for it, once more after the
/// swapper has swapped out what it could to make room (`swap::reclaim`, S5).
fn with_reclaim(mut make: impl FnMut() -> Result<LwpId, Errno>) -> Result<LwpId, Errno> {
    match make() {
        Err(Errno::ENOMEM) if crate::swap::reclaim() > 0 => make(),
        made => made,
    }
}

/// Creates an LWP in the current process that starts in user mode with `regs`
/// (the `_lwp_create` system call, S16), and hands its id to `publish` (the system
/// call writes it where its caller looks) before the new LWP can run: until then it
/// is held, and no `_lwp_continue` of its id by another LWP starts it, so that it
/// cannot run, exit and have its id given to another LWP before its creator is done
/// with it. Returns its id.
///
/// Errors: `EINVAL` if the process has no address space; `EAGAIN` if it is exiting
/// or a limit is reached; `ENOMEM` if there is no memory for the LWP.
pub fn lwp_create_user(
    regs: UserRegs,
    flags: LwpFlags,
    publish: impl FnOnce(LwpId),
) -> Result<LwpId, Errno> {
    let (_, _, p) = current()?;
    if p.p_as.lock().is_none() {
        return Err(Errno::EINVAL);
    }
    // `lwp_enter` hands the id to `publish` only when it succeeds: once.
    let mut publish = Some(publish);
    with_reclaim(|| {
        lwp_enter(p, NewLwp::alloc_user(p, &regs)?, flags, |id| {
            if let Some(publish) = publish.take() {
                publish(id);
            }
        })
    })
}

/// Enters `new` in `p`, held, hands its id to `publish`, then lets it run unless
/// it was made SUSPENDED (or was suspended meanwhile).
///
/// Errors: `EAGAIN` if `p` is exiting or has its limit of LWPs (zombies count);
/// `ENOMEM` if its directory cannot grow. `new` is given back then.
fn lwp_enter(
    p: &'static Proc,
    new: NewLwp,
    flags: LwpFlags,
    publish: impl FnOnce(LwpId),
) -> Result<LwpId, Errno> {
    let mut room = None;
    let mut new = Some(new);
    let entered = loop {
        let mut ps = p.p_lock.lock();
        // (An `exec` in progress waits for the process to have one LWP.)
        if ps.p_stat != PStat::Active || ps.p_exec {
            break Err(Errno::EAGAIN);
        }
        let dir = &ps.p_lwpdir;
        if dir.lwpcnt() + dir.zombcnt() >= rctl::lwps_per_proc() {
            break Err(Errno::EAGAIN);
        }
        let spare = room.take().map(|r| ps.p_lwpdir.adopt(r));
        if ps.p_lwpdir.has_room() {
            let entered = new.take().map(|n| n.install(p, &mut ps, flags, true, None));
            drop(ps);
            drop(spare);
            break entered.ok_or(Errno::EAGAIN);
        }
        let grown = ps.p_lwpdir.room_size();
        drop(ps);
        drop(spare);
        match LwpDir::room_of(grown) {
            Ok(r) => room = Some(r),
            Err(e) => break Err(e),
        }
    };
    match entered {
        Ok((id, t)) => {
            publish(id);
            stop::create_done(p, t);
            Ok(id)
        }
        Err(e) => {
            if let Some(n) = new {
                n.discard();
            }
            Err(e)
        }
    }
}

/// Where every LWP's thread starts.
fn lwp_main(_: usize) {
    let start = curlwp().and_then(|l| l.lwp_start.lock().take());
    // A stop or an exit may have been asked for before it first ran.
    stop_point();
    match start {
        Some(Start::Kernel(func, arg)) => func(arg),
        Some(Start::User) => user_start(),
        None => {}
    }
    lwp_exit()
}

/// Enters user mode for the first time (S17's last step): with the registers of
/// the `lwp` structure, which the machine keeps there from now on (S5.1), in the
/// process's address space.
fn user_start() {
    let (Ok((_, lwp, _)), Some(space)) = (current(), curproc().and_then(Proc::addr_space)) else {
        return;
    };
    let Some(frame) = lwp.with_data(|d| d.lwp_regs.share()) else { return };
    M::user_enter(space, frame)
}

/// Ends the current LWP. Unless it is detached, it stays in its process's directory
/// as a zombie until waited for. The last LWP to leave makes the process a zombie
/// (`PROC_ZOMBIE`). Called by a kernel thread with no LWP (S2), it just ends the
/// thread.
pub fn lwp_exit() -> ! {
    let t = curthread();
    let (Some(lwp), Some(p)) = (t.lwp(), t.procp()) else { thread::life::thread_exit() };
    crate::schedctl::lwp_exit(t, lwp.id(), p);
    // Its user context, if it had one, goes with it.
    M::user_exit();
    let last = {
        let mut ps = p.p_lock.lock();
        // Under p_lock, interrupts off: no tick can fall between this and the sum,
        // and no switch (S5.4, S5.6).
        if let Some(u) = lwp.with_data(|d| d.usage()) {
            ps.p_ru.add(&u.with_switches(t));
        }
        let last = ps.p_lwpdir.exited(lwp.id());
        if last && ps.p_stat == PStat::Active {
            // No LWP is left to create another: the process is on its way out.
            ps.p_stat = PStat::Exiting;
        }
        last
    };
    t.detach_lwp();
    t.clear_proc_flag(TpFlags::all());
    lwp_free(lwp);
    if !last {
        // What the wakeups below make runnable runs at this thread's last switch,
        // a few instructions on: preempting it for them at once would only bring
        // it back to finish dying, one switch more. With interrupts off (as
        // `thread_exit` has them anyway) `setrun` leaves that to the switch. (The
        // last LWP still has its process to end, which may block.)
        M::intr_disable();
    }
    // Waiters for an exit, and suspenders waiting for this LWP to stop, look again.
    p.p_lwpexit.signal();
    p.p_holdlwps.signal();
    if last {
        let zombie = PROC_ZOMBIE.get().expect("the process's end is set at boot");
        zombie(p);
    }
    thread::life::thread_exit()
}

/// The current thread and its process, for the operations an LWP makes on its own
/// process; `EINVAL` in a kernel thread, which has none (S2).
fn current() -> Result<(&'static KThread, &'static Lwp, &'static Proc), Errno> {
    let t = curthread();
    match (t.lwp(), t.procp()) {
        (Some(lwp), Some(p)) => Ok((t, lwp, p)),
        _ => Err(Errno::EINVAL),
    }
}

/// A clock tick on this CPU (from the clock interrupt): charges it to the running
/// LWP's user or system time, by the mode the tick interrupted (S5.6), to its
/// interval timers (S5.5), which may send it their signals, and, if its process
/// profiles, to what it owes the profiling buffer (S5.4).
pub(crate) fn clock_tick(from_user: bool) {
    let t = curthread();
    if let Some(lwp) = t.lwp() {
        let profiling = t.procp().is_some_and(|p| p.p_prof.on());
        let expired = lwp.with_data_intr_off(|d| {
            if from_user {
                d.lwp_utime += 1;
            } else {
                d.lwp_stime += 1;
            }
            d.lwp_oweupc += u64::from(profiling);
            crate::signal::itimer_tick(&mut d.lwp_itimer, from_user)
        });
        if profiling {
            crate::rusage::tick_owed(t);
        }
        crate::signal::itimer_expired(expired.unwrap_or_default());
    }
}
