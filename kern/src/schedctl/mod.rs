//! Schedctl (S9, S4): the pages the kernel shares with a process's thread library,
//! through which user code sees whether an LWP is on a CPU and asks not to be
//! preempted; and the library's SIGWAITING, a notification that every LWP of its
//! pool is asleep in the kernel.
//!
//! # Theory
//!
//! The layout is the ABI's (`lwp_abi::schedctl`): LWP `id`'s
//! [`ScShared`](lwp_abi::schedctl::ScShared) at `sc_shared_addr(id)`, in pages
//! mapped at `SC_BASE` as LWPs ask for them with the `schedctl` system call, shared
//! pages of the machine (`Machine::as_map_shared`) that the process keeps
//! (`ScProc`) until it becomes a zombie.
//!
//! * **On a CPU or not.** The dispatcher writes the state of the thread it switches
//!   out and of the one it switches in, before the switch, when both are pinned
//!   (the first still runs, the second is claimed), through the thread's handle to
//!   its slot (`ScThread`). So an LWP reads another's `sc_state` without a system
//!   call: the adaptive locks of the thread library spin only while the owner's LWP
//!   is `SC_ONPROC` (S9). A thread without a slot costs the switch two loads.
//! * **Not now, please.** An LWP about to hold a spin lock for a few instructions
//!   sets `sc_nopreempt`. If its time slice ends meanwhile (the clock's
//!   `disp::clock_tick`), it keeps its CPU for one more tick, once, and finds
//!   `sc_yield` set: it yields as soon as it has let the lock go. The extension,
//!   and `sc_yield`, end when it next leaves its CPU. A higher-priority thread
//!   preempts it anyway: only the time slice waits.
//! * **All blocked** (Solaris' SIGWAITING). The LWPs that run a library's pool of
//!   unbound threads say `SC_POOL`. The process counts those that are not asleep in
//!   the kernel — parked ones count as awake: a parked pool LWP is idle, ready for
//!   work — and shows the count in its `ScProc`. When it falls to 0 the LWP that
//!   said `SC_WAITING` is unparked (`_lwp_park`'s permit), and so is an LWP that
//!   says it while the count is 0: the library then adds an LWP to its pool if
//!   threads wait to run. Once signals exist this is where SIGWAITING is sent
//!   instead; the count and the decision stay.
//!
//! A thread's slot handle is set and cleared by the thread itself (the system call,
//! and its LWP's exit), and read by whoever switches it or takes its clock tick,
//! under the handle's `DispLock`: the page it names lives as long as the handle.

use core::sync::atomic::Ordering;

use arch::kmem::Shared;
use arch::{Machine, PAGE_SIZE};
use lwp_abi::{sc_shared_addr, SC_BASE, SC_CPU, SC_ONPROC, SC_POOL, SC_STATE, SC_WAITING};

use crate::errno::Errno;
use crate::lwp::event::unpark;
use crate::lwp::handle::LwpId;
use crate::proc::Proc;
use crate::sleepq::PoolWatch;
use crate::thread::{curthread, KThread};
use crate::M;

pub(crate) mod pstate;
pub(crate) mod tstate;
use tstate::Slot;

/// One pool LWP of `p` fewer awake; at none, its waiting LWP is unparked (under
/// `p_lock`, where its id still names it). Called with no lock held.
fn one_asleep(p: &Proc) {
    let left = p.p_sc.pool_awake.fetch_sub(1, Ordering::SeqCst) - 1;
    p.p_sc.publish();
    let waiting = p.p_sc.waiting.load(Ordering::SeqCst);
    if left == 0 && waiting != 0 {
        let ps = p.p_lock.lock();
        if let Some((w, _)) = ps.p_lwpdir.live(LwpId(waiting)) {
            unpark(w);
        }
    }
}

/// `schedctl(flags)`: maps the caller's slot (and the process's page 0) if needed,
/// takes `flags`, and returns the slot's user address.
///
/// Errors: `EINVAL` for unknown flags, in a kernel thread or a process without an
/// address space; `ENOMEM` without memory for a page.
pub fn schedctl(flags: u64) -> Result<u64, Errno> {
    if flags & !(SC_POOL | SC_WAITING) != 0 {
        return Err(Errno::EINVAL);
    }
    let t = curthread();
    let (Some(lwp), Some(p)) = (t.lwp(), t.procp()) else {
        return Err(Errno::EINVAL);
    };
    let id = lwp.id();
    let sc = t.sc();
    if !sc.on.load(Ordering::Relaxed) {
        let slot = slot_of(p, id)?;
        *sc.slot.lock() = Some(slot);
        sc.on.store(true, Ordering::Release);
        let was = M::intr_disable();
        sc.store(SC_CPU, M::cpu_id() as u32);
        sc.store(SC_STATE, SC_ONPROC);
        M::intr_restore(was);
    }
    if flags & SC_POOL != 0 && !sc.pool.swap(true, Ordering::SeqCst) {
        p.p_sc.pool_lwps.fetch_add(1, Ordering::SeqCst);
        p.p_sc.one_awake();
    }
    if flags & SC_WAITING != 0 {
        p.p_sc.waiting.store(id.0, Ordering::SeqCst);
        // The pool may be all asleep already: the notification is of a state,
        // not only of the moment it began.
        if p.p_sc.pool_lwps.load(Ordering::SeqCst) > 0
            && p.p_sc.pool_awake.load(Ordering::SeqCst) == 0
        {
            unpark(t);
        }
    }
    Ok(sc_shared_addr(id.0))
}

/// The slot of LWP `id` of `p`, its page (and page 0) mapped if they were not.
fn slot_of(p: &Proc, id: LwpId) -> Result<Slot, Errno> {
    let space = p.addr_space().ok_or(Errno::EINVAL)?;
    let at = sc_shared_addr(id.0) - SC_BASE;
    let k = (at / PAGE_SIZE) as usize;
    let mut pages = p.p_sc.pages.lock();
    let have = pages.len();
    if have <= k {
        pages.try_reserve(k + 1 - have).map_err(|_| Errno::ENOMEM)?;
        pages.resize_with(k + 1, || None);
    }
    for n in [0, k] {
        if pages[n].is_none() {
            let va = SC_BASE + n as u64 * PAGE_SIZE;
            let page = M::as_map_shared(&space, va).map_err(|_| Errno::ENOMEM)?;
            if n == 0 {
                *p.p_sc.header.lock() = Some(page.share());
            }
            pages[n] = Some(page);
        }
    }
    let page = pages[k].as_ref().map(Shared::share).ok_or(Errno::ENOMEM)?;
    drop(pages);
    p.p_sc.publish();
    Ok((page, (at % PAGE_SIZE) as usize))
}

/// What a pool LWP's sleeps tell its process, for the sleep queues (`boot` sets
/// it): [`sleeping`] and [`woke`].
pub(crate) const POOL_WATCH: PoolWatch = PoolWatch { asleep: sleeping, awake: woke };

/// `t`, the current thread, a pool LWP that is not parking (`ScThread::counts_asleep`),
/// is about to sleep in the kernel (`sleepq`: before it is on its sleep queue,
/// with interrupts on, as counting it may take its process's lock): it is counted
/// asleep. Returns whether it was (not if it has no process).
fn sleeping(t: &KThread) -> bool {
    debug_check!(t.is_curthread(), "{t:?} counted asleep by another thread");
    let Some(p) = t.procp() else { return false };
    t.sc().asleep.store(true, Ordering::Relaxed);
    one_asleep(p);
    true
}

/// `t`, the current thread, woke up from a sleep for which [`sleeping`] returned
/// true.
fn woke(t: &KThread) {
    debug_check!(t.is_curthread(), "{t:?} counted awake by another thread");
    t.sc().asleep.store(false, Ordering::Relaxed);
    if let Some(p) = t.procp() {
        p.p_sc.one_awake();
    }
}

/// `t`, the current thread, enters `_lwp_park`, where its sleeps do not count;
/// returns what to give [`parked`] after.
#[must_use = "to be given to `parked`"]
pub(crate) fn parking(t: &KThread) -> bool {
    debug_check!(t.is_curthread(), "{t:?} parked by another thread");
    // Only the thread itself writes it: a load and a store, not a swap (a loop of
    // compare-and-swaps on a byte).
    let sc = t.sc();
    let was = sc.parking.load(Ordering::Relaxed);
    sc.parking.store(true, Ordering::Relaxed);
    was
}

/// `t` leaves `_lwp_park`.
pub(crate) fn parked(t: &KThread, was: bool) {
    t.sc().parking.store(was, Ordering::Relaxed);
}

/// The current LWP `t` (id `id`) of `p` exits: it leaves the pool count and the
/// waiting role, and gives its slot back. Called with no lock held.
pub(crate) fn lwp_exit(t: &KThread, id: LwpId, p: &Proc) {
    let sc = t.sc();
    let _ = p.p_sc.waiting.compare_exchange(id.0, 0, Ordering::SeqCst, Ordering::SeqCst);
    if sc.pool.swap(false, Ordering::SeqCst) {
        p.p_sc.pool_lwps.fetch_sub(1, Ordering::SeqCst);
        // An exiting LWP is awake: the pool has one fewer awake, perhaps none.
        one_asleep(p);
    }
    if sc.on.swap(false, Ordering::SeqCst) {
        let was = M::intr_disable();
        sc.store(SC_STATE, lwp_abi::SC_FREE);
        M::intr_restore(was);
        let slot = sc.slot.lock().take();
        drop(slot);
    }
}

/// The process has no LWP left: its pages go (with its address space).
pub(crate) fn proc_done(p: &Proc) {
    let header = p.p_sc.header.lock().take();
    drop(header);
    let pages = core::mem::take(&mut *p.p_sc.pages.lock());
    drop(pages);
    p.p_sc.pool_lwps.store(0, Ordering::SeqCst);
    p.p_sc.pool_awake.store(0, Ordering::SeqCst);
    p.p_sc.waiting.store(0, Ordering::SeqCst);
}
