//! The `lwp` structure (S5): the swappable half of an LWP's state, and swapping it.
//!
//! # Theory
//!
//! Everything S5 lists lives in one heap block, [`LwpData`], owned by the LWP's
//! [`Lwp`] handle through `lwp_image`, which says in its type whether the block is
//! loaded: [`LwpImage::Resident`] or [`LwpImage::SwappedOut`]. The data is reached
//! only through [`Lwp::with_data`], which has nothing to give while it is out. When
//! the LWP is gone the handle keeps the block, and the next LWP made with the
//! handle has its structure built in it, registers included (`LwpData::make`):
//! making an LWP then neither allocates nor copies its `lwp` structure.
//!
//! [`lwp_swapout`] moves the block out of the LWP into the swap store (kept in
//! memory: writing it to a swap device is not implemented) and leaves a slot number
//! behind; [`lwp_swapin`] moves it back. Only a stopped LWP may be swapped out: it is on no
//! CPU and no queue, and nothing can set it running without going through
//! `lwp_continue` or an exit request, which bring the block back in first — so an
//! LWP never runs without its `lwp` structure. (A sleeping LWP is refused: the
//! wakeup that would make it runnable has no hook to swap it in.) What must stay
//! resident meanwhile — scheduling state, wait channel, `t_proc_flag` (S6) — is in
//! the kernel thread.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use arch::{kmem, UserFrame, UserRegs};

use super::{Lwp, LwpId, TpFlags};
use crate::disp;
use crate::displock::DispLock;
use crate::errno::Errno;
use crate::proc::Proc;
use crate::thread::{curthread, KThread};

/// System-call arguments (Solaris' `MAXSYSARGS`).
pub const MAXSYSARGS: usize = 8;
/// Interval timers: `ITIMER_REAL`, `ITIMER_VIRTUAL`, `ITIMER_PROF`.
pub const NITIMER: usize = 3;

/// A reference to a long-lived kernel structure, compared by address.
pub struct Link<T: 'static>(pub &'static T);

impl<T> Clone for Link<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Link<T> {}

impl<T> PartialEq for Link<T> {
    fn eq(&self, other: &Self) -> bool {
        core::ptr::eq(self.0, other.0)
    }
}

impl<T> Eq for Link<T> {}

impl<T> fmt::Debug for Link<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:p}", self.0)
    }
}

/// An alternate signal stack (`stack_t`, S12).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SigAltStack {
    pub ss_sp: u64,
    pub ss_size: u64,
    pub ss_flags: u32,
}

/// What a signal being delivered is about (`k_siginfo_t`, S13).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SigInfo {
    pub si_signo: u8,
    pub si_code: i32,
    pub si_errno: i32,
    /// The faulting address of a trap.
    pub si_addr: u64,
}

/// Resource usage (`struct lrusage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LwpRusage {
    pub minflt: u64,
    pub majflt: u64,
    pub nswap: u64,
    pub inblock: u64,
    pub oublock: u64,
    pub msgsnd: u64,
    pub msgrcv: u64,
    pub nsignals: u64,
    pub nvcsw: u64,
    pub nivcsw: u64,
    pub ioch: u64,
}

/// Profiling (`profil(2)`'s buffer: `struct prof`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LwpProf {
    pub pr_base: u64,
    pub pr_size: u64,
    pub pr_off: u64,
    pub pr_scale: u64,
}

/// An interval timer (`struct itimerval`), in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ITimerVal {
    pub it_interval: u64,
    pub it_value: u64,
}

/// The `lwp` structure (S5): every item of S5, in one heap block that can be
/// swapped out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LwpData {
    /// S5.1: the user registers (Solaris' SPARC V9 `gregset_t`), where the machine
    /// saves them at every entry into the kernel from user mode and loads them from
    /// on the way back (it holds a second handle to them while the LWP may run in
    /// user mode), and the count of system calls (S5.4).
    pub lwp_regs: UserFrame,
    /// S5.2: the current system call on the general path (`syscall`): its number,
    /// arguments, results and error. (A fast call's number and arguments are in the
    /// registers above, as Solaris' `lwp_ap` points at them.)
    pub lwp_sysnum: u32,
    pub lwp_arg: [u64; MAXSYSARGS],
    pub lwp_rval: [u64; 2],
    pub lwp_errno: Option<Errno>,
    /// S5.3: signal handling: the alternate stack (S12), the signal being
    /// delivered (0: none) and its information.
    pub lwp_sigaltstack: SigAltStack,
    pub lwp_cursig: u8,
    pub lwp_curinfo: Option<SigInfo>,
    /// S5.4: resource usage and profiling.
    pub lwp_ru: LwpRusage,
    pub lwp_prof: LwpProf,
    /// S5.5: the interval timers.
    pub lwp_itimer: [ITimerVal; NITIMER],
    /// S5.6: CPU time used in user and in system mode, in clock ticks.
    pub lwp_utime: u64,
    pub lwp_stime: u64,
    /// S5.7: its kernel thread.
    pub lwp_thread: Link<KThread>,
    /// S5.8: its process.
    pub lwp_procp: Link<Proc>,
}

impl LwpData {
    /// A fresh `lwp` structure for an LWP of `p` on thread `t`, with user registers
    /// `regs`: in `block`, the one an exited LWP left, if there is one (its frame
    /// too, if nothing shares it any more), else in a new one. Without memory for
    /// what is new, `block` comes back as the error.
    pub(crate) fn make(
        block: Option<Box<LwpData>>,
        t: &'static KThread,
        p: &'static Proc,
        regs: &UserRegs,
    ) -> Result<Box<LwpData>, Option<Box<LwpData>>> {
        match block {
            Some(mut d) => {
                let mut frame = d.lwp_regs;
                match frame.renew(regs) {
                    Ok(()) => {
                        *d = LwpData::with_frame(frame, t, p);
                        Ok(d)
                    }
                    Err(_) => {
                        d.lwp_regs = frame;
                        Err(Some(d))
                    }
                }
            }
            None => {
                let frame = UserFrame::try_new(regs).map_err(|_| None)?;
                kmem::try_box(LwpData::with_frame(frame, t, p)).map_err(|_| None)
            }
        }
    }

    /// What a new LWP's `lwp` structure holds, its registers in `frame`.
    fn with_frame(frame: UserFrame, t: &'static KThread, p: &'static Proc) -> LwpData {
        LwpData {
            lwp_regs: frame,
            lwp_sysnum: 0,
            lwp_arg: [0; MAXSYSARGS],
            lwp_rval: [0; 2],
            lwp_errno: None,
            lwp_sigaltstack: SigAltStack::default(),
            lwp_cursig: 0,
            lwp_curinfo: None,
            lwp_ru: LwpRusage::default(),
            lwp_prof: LwpProf::default(),
            lwp_itimer: [ITimerVal::default(); NITIMER],
            lwp_utime: 0,
            lwp_stime: 0,
            lwp_thread: Link(t),
            lwp_procp: Link(p),
        }
    }
}

/// A place in the swap store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SwapSlot(usize);

/// Where an LWP's `lwp` structure is.
pub(crate) enum LwpImage {
    /// The handle is cached: no LWP. It keeps the block of the last LWP it had, in
    /// which the next one's `lwp` structure is built (`LwpData::make`).
    Unused(Option<Box<LwpData>>),
    /// Loaded: the LWP may run.
    Resident(Box<LwpData>),
    /// In the swap store.
    SwappedOut(SwapSlot),
}

/// The swap store: `lwp` structures moved out of their LWPs, in slots. Its array
/// grows outside its lock ([`swap_reserve`]), as nothing is allocated under one.
struct SwapStore {
    slots: Vec<Option<Box<LwpData>>>,
    used: usize,
}

static SWAPSTORE: DispLock<SwapStore> = DispLock::new(SwapStore { slots: Vec::new(), used: 0 });

impl SwapStore {
    /// Whether a structure can be stored without allocating.
    fn has_room(&self) -> bool {
        self.used < self.slots.capacity()
    }

    fn put(&mut self, d: Box<LwpData>) -> SwapSlot {
        let free = self.slots.iter().position(Option::is_none);
        let i = free.unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        self.slots[i] = Some(d);
        self.used += 1;
        SwapSlot(i)
    }

    fn take(&mut self, slot: SwapSlot) -> Option<Box<LwpData>> {
        let d = self.slots.get_mut(slot.0)?.take()?;
        self.used -= 1;
        Some(d)
    }
}

/// Makes room in the swap store for one more structure; `ENOMEM` without memory.
fn swap_reserve() -> Result<(), Errno> {
    loop {
        let want = {
            let store = SWAPSTORE.lock();
            if store.has_room() {
                return Ok(());
            }
            (store.slots.capacity() * 2).max(4)
        };
        let mut bigger = Vec::new();
        bigger.try_reserve_exact(want).map_err(|_| Errno::ENOMEM)?;
        let mut store = SWAPSTORE.lock();
        if store.slots.capacity() < want {
            bigger.extend(store.slots.drain(..));
            bigger = core::mem::replace(&mut store.slots, bigger);
        }
        drop(store);
        drop(bigger);
    }
}

impl Lwp {
    /// Runs `f` on the `lwp` structure if it is resident; `None` while it is swapped
    /// out. `f` runs with interrupts off under the structure's lock: keep it short.
    pub fn with_data<R>(&self, f: impl FnOnce(&mut LwpData) -> R) -> Option<R> {
        match &mut *self.lwp_image.lock() {
            LwpImage::Resident(d) => Some(f(d)),
            LwpImage::Unused(_) | LwpImage::SwappedOut(_) => None,
        }
    }

    /// For the debugger, which must not wait for a lock the code it stopped may
    /// hold: `f` on the `lwp` structure if it is resident (`Some(Some(_))`),
    /// `Some(None)` while it is swapped out, `None` if its lock is held.
    pub(crate) fn peek_data<R>(&self, f: impl FnOnce(&LwpData) -> R) -> Option<Option<R>> {
        match &*crate::kmdb::peek(&self.lwp_image)? {
            LwpImage::Resident(d) => Some(Some(f(d))),
            LwpImage::Unused(_) | LwpImage::SwappedOut(_) => Some(None),
        }
    }

    /// Whether the `lwp` structure is loaded.
    pub fn is_resident(&self) -> bool {
        matches!(*self.lwp_image.lock(), LwpImage::Resident(_))
    }

    pub(super) fn set_data(&self, data: Box<LwpData>) {
        *self.lwp_image.lock() = LwpImage::Resident(data);
    }

    /// Ends the `lwp` structure, wherever it is: its block stays with the handle
    /// for the next LWP.
    pub(super) fn free_data(&self) {
        let mut image = self.lwp_image.lock();
        let block = match core::mem::replace(&mut *image, LwpImage::Unused(None)) {
            LwpImage::Resident(d) => Some(d),
            LwpImage::SwappedOut(slot) => SWAPSTORE.lock().take(slot),
            LwpImage::Unused(block) => block,
        };
        *image = LwpImage::Unused(block);
    }

    /// Gives a cached handle the block it keeps for its next LWP.
    pub(super) fn put_block(&self, block: Option<Box<LwpData>>) {
        *self.lwp_image.lock() = LwpImage::Unused(block);
    }

    /// The block an exited LWP left in this cached handle, if any.
    pub(super) fn take_block(&self) -> Option<Box<LwpData>> {
        match &mut *self.lwp_image.lock() {
            LwpImage::Unused(block) => block.take(),
            LwpImage::Resident(_) | LwpImage::SwappedOut(_) => None,
        }
    }

    /// Moves the structure to the swap store (nothing if it is out already); false
    /// if the store had no room (see [`swap_reserve`]).
    fn swap_out(&self) -> bool {
        let mut image = self.lwp_image.lock();
        if !matches!(*image, LwpImage::Resident(_)) {
            return true;
        }
        let mut store = SWAPSTORE.lock();
        if !store.has_room() {
            return false;
        }
        if let LwpImage::Resident(d) = core::mem::replace(&mut *image, LwpImage::Unused(None)) {
            *image = LwpImage::SwappedOut(store.put(d));
        }
        true
    }

    /// Brings the structure back from the swap store (nothing if it is resident).
    pub(super) fn swap_in(&self) {
        let mut image = self.lwp_image.lock();
        if let LwpImage::SwappedOut(slot) = *image {
            if let Some(d) = SWAPSTORE.lock().take(slot) {
                *image = LwpImage::Resident(d);
            }
        }
    }
}

/// Swaps out the `lwp` structure of LWP `id` of `p` (S5).
///
/// Errors: `ESRCH` if `p` has no live LWP `id`; `EBUSY` unless it is stopped (off
/// every CPU and queue): running, runnable and sleeping LWPs stay in; `ENOMEM` if
/// the store cannot grow.
pub fn lwp_swapout(p: &Proc, id: LwpId) -> Result<(), Errno> {
    loop {
        swap_reserve()?;
        let ps = p.p_lock.lock();
        let (t, lwp) = ps.p_lwpdir.live(id).ok_or(Errno::ESRCH)?;
        if !t.proc_flag().contains(TpFlags::STOPPED) || disp::is_running(t) {
            return Err(Errno::EBUSY);
        }
        if lwp.swap_out() {
            return Ok(());
        }
    }
}

/// Brings the `lwp` structure of LWP `id` of `p` back in; `ESRCH` if there is no
/// such live LWP. (Continuing an LWP does this by itself.)
pub fn lwp_swapin(p: &Proc, id: LwpId) -> Result<(), Errno> {
    let ps = p.p_lock.lock();
    let (_, lwp) = ps.p_lwpdir.live(id).ok_or(Errno::ESRCH)?;
    lwp.swap_in();
    Ok(())
}

/// `lwp` structures in the swap store.
pub fn nswapped() -> usize {
    SWAPSTORE.lock().used
}

/// A clock tick on this CPU (from the clock interrupt): charges it to the running
/// LWP's user or system time, by the mode the tick interrupted (S5.6).
pub(crate) fn clock_tick(from_user: bool) {
    if let Some(lwp) = curthread().t_lwp.get() {
        lwp.with_data(|d| if from_user { d.lwp_utime += 1 } else { d.lwp_stime += 1 });
    }
}
