//! Moving one LWP's `lwp` structure out and back in, the swap-in queue, and the
//! choice of what goes out (see the `swap` module comment for the protocol).

use alloc::boxed::Box;
use core::ptr;
use core::sync::atomic::Ordering;

use arch::{BlkOp, Machine, UserRegs};

use super::device::{self, Io};
use super::image::{self, Owner, Refused};
use super::{schedflag, stat, Outcome, PROC_KILL};
use crate::displock::DispLock;
use crate::errno::Errno;
use crate::lwp::data::{ImageState, LwpData, SwapRef};
use crate::lwp::handle::{Lwp, LwpId};
use crate::lwp::tstate::TpFlags;
use crate::proc::{self, Pid, Proc, WaitStatus};
use crate::sleepq::{self, ThreadFifo};
use crate::thread::{KThread, ThreadState};
use crate::{disp, kmem, kprintln, M};

/// Times a slot is read before its LWP is given up.
const READ_TRIES: u32 = 3;

/// How many LWPs one pass looks at, at most (their list is on the stack: nothing
/// is allocated under the process table's lock).
pub(super) const BATCH: usize = 16;

/// The swap-in queue: threads made runnable while not loaded, waiting for the
/// swapper to bring their LWPs' structures in. Every change of a thread's
/// `t_schedflag` is made under its lock.
static SWAPQ: DispLock<ThreadFifo> = DispLock::new(ThreadFifo::new());

/// `disp::setrun` of a thread that is not loaded: it waits on the swap-in queue
/// (true), or turns out to be loaded after all (false: the caller queues it).
#[must_use = "false: the caller must queue the thread itself"]
pub(crate) fn swapin_request(t: &'static KThread) -> bool {
    let queued = {
        let mut q = SWAPQ.lock();
        let f = t.swap_state().schedflag();
        if f & schedflag::LOAD != 0 {
            false
        } else {
            t.swap_state().set_schedflag(f | schedflag::ON_SWAPQ);
            t.set_state(ThreadState::Run);
            q.push(t);
            true
        }
    };
    if queued {
        super::wake_swapper();
    }
    queued
}

/// The next thread waiting for its structure.
pub(super) fn swapq_take() -> Option<&'static KThread> {
    SWAPQ.lock().take(|_| true)
}

/// Puts `t` back at the end of the swap-in queue (no memory to bring it in yet).
fn swapq_requeue(t: &'static KThread) {
    SWAPQ.lock().push(t);
}

/// Whether a thread waits for the swapper.
pub(super) fn swapq_empty() -> bool {
    SWAPQ.lock().iter().next().is_none()
}

/// Starts the swap-out of LWP `lwp` on thread `t`, if `t` is loaded and not waiting
/// to run: marks it not loaded and takes its structure, in one step under the swap
/// queue's lock. So whoever finds it not loaded from now on — the swapper too, with
/// a thread made runnable meanwhile — finds its structure being written out, never
/// in memory for the taking. Called under the lock that keeps it asleep or stopped.
#[must_use = "the LWP's structure, which must go out or back"]
fn unload(t: &KThread, lwp: &Lwp) -> Option<Box<LwpData>> {
    // That lock is a spin lock (a sleep queue's, or `p_lock`): interrupts are off.
    debug_check!(!M::intr_enabled(), "{t:?} unloaded with interrupts on");
    let _q = SWAPQ.lock();
    if t.swap_state().schedflag() != schedflag::LOAD {
        return None;
    }
    let data = lwp.take_for_swapout()?;
    t.swap_state().set_schedflag(0);
    Some(data)
}

/// Marks `t` loaded: its structure is in memory again. True if it was made
/// runnable meanwhile: the caller owes it the `setrun`.
#[must_use = "true: the caller owes the thread its setrun"]
fn set_loaded(t: &'static KThread) -> bool {
    let mut q = SWAPQ.lock();
    let f = t.swap_state().schedflag();
    if f & schedflag::ON_SWAPQ != 0 && t.link().is_queued(Ordering::SeqCst) {
        q.take(|c| ptr::eq(c, t));
    }
    t.swap_state().set_schedflag(schedflag::LOAD);
    f & schedflag::ON_SWAPQ != 0
}

/// An LWP that may be swapped out, as seen under its process's lock; checked again
/// when it is claimed.
#[derive(Clone, Copy)]
pub(super) struct Candidate {
    t: &'static KThread,
    lwp: &'static Lwp,
    p: &'static Proc,
    pid: Pid,
    id: LwpId,
    tid: u64,
    /// When it went to sleep or stopped.
    since: u64,
}

/// Whether LWP `lwp` on thread `t` may be swapped out now: its structure is in memory,
/// and it is asleep on a sleep queue or stopped, off every CPU, with no exit asked of
/// it and no `forkall` copying it. (Threads blocked on a lock's turnstile are left
/// alone: they hold a priority the lock's owner may need, and are not long there.)
fn swappable(t: &KThread, lwp: &Lwp) -> bool {
    let waiting = match t.state() {
        ThreadState::Sleep => t.wchan().is_some(),
        ThreadState::Stopped => true,
        _ => false,
    };
    waiting
        && t.loaded()
        && !disp::is_running(t)
        && !t.proc_flag().intersects(TpFlags::EXITLWP | TpFlags::HOLDFORK)
        && lwp.is_resident()
}

/// The LWPs of the processes `want` accepts that may be swapped out, those waiting
/// longest first, at most [`BATCH`] of them.
pub(super) fn candidates(want: &dyn Fn(&Proc) -> bool) -> ([Option<Candidate>; BATCH], usize) {
    let mut out = [None; BATCH];
    let mut n = 0;
    proc::for_each(|p| {
        if !want(p) {
            return;
        }
        let ps = p.p_lock.lock();
        for (t, lwp) in ps.p_lwpdir.live_all().filter(|(t, l)| swappable(t, l)) {
            let c =
                Candidate { t, lwp, p, pid: p.pid(), id: lwp.id(), tid: t.id(), since: t.stime() };
            // Sorted by `since`: the newest falls off a full list.
            let at =
                out[..n].iter().flatten().position(|o: &Candidate| o.since > c.since).unwrap_or(n);
            if at < BATCH {
                out[at..].rotate_right(1);
                out[at] = Some(c);
                n = (n + 1).min(BATCH);
            }
        }
    });
    (out, n)
}

/// LWP `id` of `p`, if it may be swapped out now.
pub(super) fn candidate(p: &'static Proc, id: LwpId) -> Result<Candidate, Errno> {
    let ps = p.p_lock.lock();
    let (t, lwp) = ps.p_lwpdir.live(id).ok_or(Errno::ESRCH)?;
    if !swappable(t, lwp) {
        return Err(Errno::EBUSY);
    }
    Ok(Candidate { t, lwp, p, pid: p.pid(), id, tid: t.id(), since: t.stime() })
}

/// Starts the swap-out of `c` if it is still what it was and still may go ([`unload`],
/// under the lock that keeps it stopped, `p_lock`, or asleep, its sleep queue's), so
/// that whoever makes it runnable from now on finds it not loaded; its structure.
fn claim(c: &Candidate) -> Option<Box<LwpData>> {
    let same = |t: &KThread| t.id() == c.tid && t.lwp().is_some_and(|l| ptr::eq(l, c.lwp));
    {
        let ps = c.p.p_lock.lock();
        let listed =
            ps.p_lwpdir.live(c.id).is_some_and(|(t, l)| ptr::eq(t, c.t) && ptr::eq(l, c.lwp));
        if c.p.pid() != c.pid || !listed || !same(c.t) {
            return None;
        }
        let f = c.t.proc_flag();
        if f.intersects(TpFlags::EXITLWP | TpFlags::HOLDFORK) {
            return None;
        }
        if f.contains(TpFlags::STOPPED) {
            let stopped = c.t.state() == ThreadState::Stopped && !disp::is_running(c.t);
            return stopped.then(|| unload(c.t, c.lwp)).flatten();
        }
        if f.contains(TpFlags::HOLDLWP) {
            // About to stop: it will run to its stop point first.
            return None;
        }
    }
    sleepq::if_asleep(c.t, || same(c.t).then(|| unload(c.t, c.lwp)).flatten()).flatten()
}

/// Gives a structure taken out back to its LWP (the swap-out was given up): its
/// registers to the machine, the slot back, and the thread loaded — and runnable,
/// if it was made runnable meanwhile.
fn undo(c: &Candidate, data: Box<LwpData>, attached: bool, slot: u32) {
    // The registers first: once the structure is back, a swap-in on another thread
    // may find it resident and set the thread running (`swap_in`), and it must not
    // run without them.
    if attached {
        M::user_frame_attach(c.t.context(), data.lwp_regs.share());
    }
    c.lwp.put_back(data);
    device::slot_free(slot);
    if set_loaded(c.t) {
        disp::setrun(c.t);
    }
}

/// Swaps out the `lwp` structure of `c`: its image goes to a free slot, and the
/// memory is freed once the disk has it.
pub(super) fn swap_out(c: &Candidate) -> Outcome {
    let Some(slot) = device::slot_alloc() else { return Outcome::Full };
    let Some(mut data) = claim(c) else {
        device::slot_free(slot);
        return Outcome::Busy;
    };
    // The machine lets go of the registers first: then nothing else can reach them.
    let attached = M::user_frame_detach(c.t.context()).is_some();
    // What this swap-out is to the LWP (S5.4), counted in the image it writes;
    // taken back if it is given up.
    data.lwp_ru.nswap += 1;
    data.lwp_ru.oublock += 1;
    let seq = stat::SEQ.fetch_add(1, Ordering::Relaxed) + 1;
    let owner = Owner { tid: c.tid, lwpid: c.id.0 };
    let written = device::with_io(|io: &mut Io<'_>| {
        let e = image::encode(&mut data, owner, seq, io.buf()).ok_or(Outcome::Busy)?;
        io.transfer(BlkOp::Write, slot).map_err(|_| Outcome::WriteError)?;
        Ok(e)
    })
    .unwrap_or(Err(Outcome::NoDevice));
    let e = match written {
        Ok(e) => e,
        Err(outcome) => {
            if outcome == Outcome::WriteError {
                stat::WRITE_ERRORS.fetch_add(1, Ordering::Relaxed);
            }
            // Nothing written.
            data.lwp_ru.nswap -= 1;
            data.lwp_ru.oublock -= 1;
            undo(c, data, attached, slot);
            return outcome;
        }
    };
    let r = SwapRef { slot, seq, len: e.len, sum: e.sum, attached, usage: data.usage() };
    // Made runnable while its image was being written: it stays (no use reading
    // back what is still here). Decided under the queue's lock, which `setrun`
    // takes too.
    let out = {
        let _q = SWAPQ.lock();
        let woken = c.t.swap_state().schedflag() & schedflag::ON_SWAPQ != 0;
        if !woken {
            c.lwp.swapped_out(r);
        }
        !woken
    };
    if !out {
        stat::CANCELLED.fetch_add(1, Ordering::Relaxed);
        // Written, but it stays: a block written, no swap-out.
        data.lwp_ru.nswap -= 1;
        undo(c, data, attached, slot);
        return Outcome::Busy;
    }
    drop(data);
    stat::OUT.fetch_add(1, Ordering::Relaxed);
    stat::SWAPOUTS.fetch_add(1, Ordering::Relaxed);
    Outcome::Out
}

/// A fresh `lwp` structure for LWP thread `t` of `p`, for an LWP that will only run
/// to its exit, with the CPU times and usage counts of the one out at `r` (what
/// its exit adds to its process's); `None` without memory.
fn blank(t: &'static KThread, p: &'static Proc, r: &SwapRef) -> Option<Box<LwpData>> {
    let mut d = LwpData::make(None, t, p, &UserRegs::default()).ok()?;
    d.lwp_utime = r.usage.utime;
    d.lwp_stime = r.usage.stime;
    d.lwp_ru = r.usage.ru;
    Some(d)
}

/// Reads the structure `r` describes back for LWP `lwp` on thread `t` of `p`,
/// trying [`READ_TRIES`] times.
fn read_back(
    t: &'static KThread,
    lwp: &Lwp,
    p: &'static Proc,
    r: &SwapRef,
) -> Result<Box<LwpData>, Refused> {
    let owner = Owner { tid: t.id(), lwpid: lwp.id().0 };
    let mut why = Refused::Unreadable;
    for _ in 0..READ_TRIES {
        let got = device::with_io(|io: &mut Io<'_>| {
            io.transfer(BlkOp::Read, r.slot).map_err(|_| Refused::Unreadable)?;
            image::decode(io.buf(), r, owner, t, p)
        });
        match got {
            Some(Ok(d)) => return Ok(d),
            Some(Err(Refused::NoMemory)) => return Err(Refused::NoMemory),
            Some(Err(refused)) => {
                stat::READ_ERRORS.fetch_add(1, Ordering::Relaxed);
                why = refused;
            }
            None => break,
        }
    }
    Err(why)
}

/// Brings `t`'s LWP's structure back in and makes `t` runnable. An LWP asked to exit
/// gets a fresh structure instead (it only runs to its exit: what it had is not
/// read back), and so does one whose structure cannot be read back (its process is
/// killed). Returns false if there was no memory for it: it waits on the queue.
#[must_use = "false: the thread must go back on the swap-in queue"]
pub(super) fn swap_in(t: &'static KThread) -> bool {
    let (Some(lwp), Some(p)) = (t.lwp(), t.procp()) else {
        if set_loaded(t) {
            disp::setrun(t);
        }
        return true;
    };
    let r = match lwp.image_state() {
        ImageState::Out(r) => r,
        // Being written out by another thread: its swap-out, finding the LWP made
        // runnable meanwhile, gives up and sets it running itself.
        ImageState::Moving => return true,
        // In memory: a swap-out given up while it was being made runnable; whichever
        // of the two marks it loaded first sets it running.
        ImageState::Resident => {
            if set_loaded(t) {
                disp::setrun(t);
            }
            return true;
        }
    };
    let data = if t.proc_flag().contains(TpFlags::EXITLWP) {
        let Some(d) = blank(t, p, &r) else { return requeue(t) };
        stat::DISCARDED.fetch_add(1, Ordering::Relaxed);
        d
    } else {
        match read_back(t, lwp, p, &r) {
            Ok(mut d) => {
                // The LWP waited for this read to run again: a fault that needed
                // I/O (S5.4).
                d.lwp_ru.majflt += 1;
                d.lwp_ru.inblock += 1;
                d
            }
            Err(Refused::NoMemory) => return requeue(t),
            Err(why) => {
                let Some(d) = blank(t, p, &r) else { return requeue(t) };
                stat::LOST.fetch_add(1, Ordering::Relaxed);
                kprintln!(
                    "swap: the lwp structure of {} of {} cannot be read back from slot {} \
                     ({why:?}); the process is killed (SIGKILL)",
                    lwp.id(),
                    p.pid(),
                    r.slot
                );
                let kill = PROC_KILL.get().expect("the process's end is set at boot");
                kill(p, WaitStatus::Killed(lwp_abi::SIGKILL as u8), false, None);
                d
            }
        }
    };
    let frame = r.attached.then(|| data.lwp_regs.share());
    lwp.put_back(data);
    if let Some(f) = frame {
        M::user_frame_attach(t.context(), f);
    }
    device::slot_free(r.slot);
    stat::OUT.fetch_sub(1, Ordering::Relaxed);
    stat::SWAPINS.fetch_add(1, Ordering::Relaxed);
    if set_loaded(t) {
        disp::setrun(t);
    }
    true
}

/// No memory to bring `t`'s structure in: the caches give theirs back, and `t`
/// waits on the queue for another try.
fn requeue(t: &'static KThread) -> bool {
    kmem::reap();
    swapq_requeue(t);
    false
}
