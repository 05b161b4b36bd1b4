//! The `lwp` structure (S5): the swappable half of an LWP's state, and where it is.
//!
//! # Theory
//!
//! Everything S5 lists lives in one heap block, [`LwpData`], owned by the LWP's
//! [`Lwp`] handle through `lwp_image`, which says in its type where the block is:
//! [`LwpImage::Resident`] in memory; `Moving` while the swapper writes it out;
//! `SwappedOut` on the swap device, where a [`SwapRef`] (resident, in the handle)
//! finds it again. The data is reached only through [`Lwp::with_data`], which has
//! nothing to give unless it is resident. When the LWP is gone the handle keeps the
//! block, and the next LWP made with the handle has its structure built in it,
//! registers included (`LwpData::make`): making an LWP then neither allocates nor
//! copies its `lwp` structure.
//!
//! Moving the structure out and back is the swapper's (`crate::swap`): an LWP
//! whose structure is not resident is never dispatched (its thread's `t_schedflag`
//! lacks `LOAD`), so nothing but the LWP itself, running, ever changes its
//! structure. What must stay resident meanwhile — scheduling state, wait channel,
//! `t_proc_flag`, the masks (S6) — is in the kernel thread.

use alloc::boxed::Box;
use core::fmt;

use arch::{kmem, UserFrame, UserRegs};

use super::handle::Lwp;
use crate::errno::Errno;
use crate::proc::Proc;
use crate::signal::{SigInfo, SigSet};
use crate::thread::KThread;

/// System-call arguments (Solaris' `MAXSYSARGS`).
pub const MAXSYSARGS: usize = 8;
/// An LWP's interval timers: `ITIMER_VIRTUAL` and `ITIMER_PROF` (at `which - 1`;
/// `ITIMER_REAL` is its process's).
pub const NITIMER: usize = 2;

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
    /// `ss_sp`: the stack's lowest user address (it grows down from `ss_sp + ss_size`).
    pub ss_sp: u64,
    /// `ss_size`: its length in bytes (at least `MINSIGSTKSZ` unless disabled).
    pub ss_size: u64,
    /// `ss_flags`: `SS_DISABLE` (none: a new LWP's) or 0; `SS_ONSTACK` is never
    /// stored, `sigaltstack` computes it from `%sp` when it reports the stack.
    pub ss_flags: u32,
}

/// Resource usage (Solaris' `struct lrusage`), each counted where it happens, by
/// the LWP itself while it runs, or by the swapper while it holds the structure
/// (`rusage` says where; S5.4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LwpRusage {
    /// `ru_minflt`: faults resolved without I/O: a page mapped for the growing
    /// stack (`vm::user_fault`, counted by `syscall::user_trap`).
    pub minflt: u64,
    /// `ru_majflt`: faults that needed I/O: the swapper read the structure back
    /// from the swap device before the LWP could run again.
    pub majflt: u64,
    /// `ru_nswap`: times the structure was swapped out.
    pub nswap: u64,
    /// `ru_inblock`: block reads done for the LWP (its swap-ins).
    pub inblock: u64,
    /// `ru_oublock`: block writes done for the LWP (its swap-outs' images, also
    /// those given up after the write).
    pub oublock: u64,
    /// `ru_msgsnd`: IPC messages sent (there is no message IPC: stays 0).
    pub msgsnd: u64,
    /// `ru_msgrcv`: IPC messages received (stays 0).
    pub msgrcv: u64,
    /// `ru_nsignals`: signals delivered, counted by `psig` as it takes `lwp_cursig`.
    pub nsignals: u64,
    /// `ru_nvcsw`: voluntary context switches: the switch away from the LWP when
    /// it slept, blocked on a lock or stopped (`disp::swtch`). A live LWP's are
    /// counted in its resident thread (`KThread::csw`), which
    /// [`LwpUsage::with_switches`] adds; here they are 0 but in sums.
    pub nvcsw: u64,
    /// `ru_nivcsw`: involuntary context switches: the switch away from it when it
    /// was preempted (its quantum expired, or a better thread came) or yielded —
    /// Solaris' `yield` counts here too.
    pub nivcsw: u64,
    /// `ioch` (Solaris' `lrusage` only): bytes moved by `read` and `write`. Its
    /// `sysc`, the count of system calls, is kept in `lwp_regs`, where the
    /// machine's trap path counts it without the structure's lock.
    pub ioch: u64,
}

impl LwpRusage {
    /// Nothing counted.
    pub const ZERO: LwpRusage = LwpRusage {
        minflt: 0,
        majflt: 0,
        nswap: 0,
        inblock: 0,
        oublock: 0,
        msgsnd: 0,
        msgrcv: 0,
        nsignals: 0,
        nvcsw: 0,
        nivcsw: 0,
        ioch: 0,
    };

    /// The counts in the order of `struct rusage` from `ru_minflt` on (then
    /// `ioch`): the one place that lists every field, for sums and images.
    pub fn counts(&self) -> [u64; 11] {
        let LwpRusage {
            minflt,
            majflt,
            nswap,
            inblock,
            oublock,
            msgsnd,
            msgrcv,
            nsignals,
            nvcsw,
            nivcsw,
            ioch,
        } = *self;
        [minflt, majflt, nswap, inblock, oublock, msgsnd, msgrcv, nsignals, nvcsw, nivcsw, ioch]
    }

    /// The usage whose [`LwpRusage::counts`] are `c`.
    pub fn from_counts(c: [u64; 11]) -> LwpRusage {
        let [minflt, majflt, nswap, inblock, oublock, msgsnd, msgrcv, nsignals, nvcsw, nivcsw, ioch] =
            c;
        LwpRusage {
            minflt,
            majflt,
            nswap,
            inblock,
            oublock,
            msgsnd,
            msgrcv,
            nsignals,
            nvcsw,
            nivcsw,
            ioch,
        }
    }

    /// Adds `o`'s counts to these (an exited LWP's to its process's, a child's
    /// to its parent's).
    pub fn add(&mut self, o: &LwpRusage) {
        let mut c = self.counts();
        c.iter_mut().zip(o.counts()).for_each(|(x, y)| *x += y);
        *self = LwpRusage::from_counts(c);
    }
}

/// What an LWP has used (S5.4, S5.6), as the process's sums need it wherever its
/// structure is: a copy stays in memory while the structure is out (`SwapRef`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LwpUsage {
    /// User time, in clock ticks (`lwp_utime`).
    pub utime: u64,
    /// System time, in clock ticks (`lwp_stime`).
    pub stime: u64,
    /// System calls made (the count in `lwp_regs`).
    pub sysc: u64,
    /// The usage counts (`lwp_ru`).
    pub ru: LwpRusage,
}

impl LwpUsage {
    /// Nothing used.
    pub const ZERO: LwpUsage = LwpUsage { utime: 0, stime: 0, sysc: 0, ru: LwpRusage::ZERO };

    /// The usage of the live LWP on thread `t`, whose `lwp` structure this is:
    /// with the switches that `t` counted (`KThread::csw`).
    #[must_use]
    pub fn with_switches(mut self, t: &KThread) -> LwpUsage {
        let (v, iv) = t.csw();
        self.ru.nvcsw += v;
        self.ru.nivcsw += iv;
        self
    }

    /// Adds `o` to this.
    pub fn add(&mut self, o: &LwpUsage) {
        self.utime += o.utime;
        self.stime += o.stime;
        self.sysc += o.sysc;
        self.ru.add(&o.ru);
    }
}

/// An interval timer (`struct itimerval`), in nanoseconds: the reload value, and
/// the time left (0: disarmed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ITimerVal {
    /// `it_interval`: ns reloaded into `it_value` when it runs out (0: fire once).
    pub it_interval: u64,
    /// `it_value`: ns left until it fires (0: disarmed); an LWP timer loses one
    /// tick's worth of ns per clock tick charged to it (`itimer_tick`).
    pub it_value: u64,
}

/// How the current system call ends (Solaris' `lwp_eosys`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Eosys {
    /// Its results go into the registers.
    #[default]
    Normal,
    /// The registers are what the call made them (`setcontext`): leave them.
    JustReturn,
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
    ///
    /// This one is the call's number, from `%g1`, written by `syscall` on entry,
    /// and 0 again once the call is done: nonzero, the LWP is in a general
    /// system call (Solaris' `t_sysnum`).
    pub lwp_sysnum: u32,
    /// `lwp_arg`: the call's arguments; `syscall` copies the first six from
    /// `%o0`..`%o5` on entry (the rest of `MAXSYSARGS` stays 0).
    pub lwp_arg: [u64; MAXSYSARGS],
    /// `lwp_rval1`, `lwp_rval2`: the results of the last call that succeeded, as
    /// they go back in `%o0`, `%o1`.
    pub lwp_rval: [u64; 2],
    /// `lwp_errno`: the error of the last call (`None`: it succeeded), which goes
    /// back in `%o0` with the carry set.
    pub lwp_errno: Option<Errno>,
    /// `lwp_eosys`: whether `syscall` puts the results into the registers; reset to
    /// `Normal` on entry, `JustReturn` after `setcontext` loaded them.
    pub lwp_eosys: Eosys,
    /// S5.3: signal handling: the alternate stack (S12), the signal being
    /// delivered (0: none) and its information, and the mask `sigsuspend` replaced
    /// (restored by the handler's return, or when no handler runs).
    ///
    /// This one is the alternate stack (`stack_t`), set by `sigaltstack` and used
    /// by `sendsig` for handlers with `SA_ONSTACK`.
    pub lwp_sigaltstack: SigAltStack,
    /// `lwp_cursig`: the number of the signal being delivered (0: none), set by
    /// `issig` (a caught signal) or `trapsig` (S13), taken by `psig`.
    pub lwp_cursig: u8,
    /// `lwp_curinfo`: the `k_siginfo_t` of `lwp_cursig`, which `sendsig` gives a
    /// `SA_SIGINFO` handler; taken with it by `psig`.
    pub lwp_curinfo: Option<SigInfo>,
    /// `lwp_sigoldmask`: the mask `sigsuspend` replaced (`None`: it did not), put
    /// back by the handler's `setcontext` or by `psig` if no handler runs.
    pub lwp_sigoldmask: Option<SigSet>,
    /// S5.4: resource usage and profiling.
    ///
    /// This one is the usage counts (`lwp_ru`, Solaris' `struct lrusage`).
    pub lwp_ru: LwpRusage,
    /// `lwp_oweupc`: clock ticks the LWP owes its process's `profil` buffer, to be
    /// counted at its user `pc` on its way back to user mode (S5.4; the buffer is
    /// its process's, as Solaris' `p_prof`: `rusage`).
    pub lwp_oweupc: u64,
    /// S5.5: the interval timers of the LWP's own time (`ITIMER_VIRTUAL`,
    /// `ITIMER_PROF`), counted down by the clock.
    pub lwp_itimer: [ITimerVal; NITIMER],
    /// S5.6: CPU time used in user and in system mode, in clock ticks.
    ///
    /// This one is user time: ticks that interrupted the LWP in user mode
    /// (`clock_tick`).
    pub lwp_utime: u64,
    /// `lwp_stime`: system time, in clock ticks: ticks that interrupted the LWP in
    /// the kernel (`clock_tick`), S5.6.
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

    /// Its CPU times and usage (S5.4, S5.6).
    pub fn usage(&self) -> LwpUsage {
        LwpUsage {
            utime: self.lwp_utime,
            stime: self.lwp_stime,
            sysc: self.lwp_regs.syscalls(),
            ru: self.lwp_ru,
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
            lwp_eosys: Eosys::Normal,
            lwp_sigaltstack: SigAltStack {
                ss_flags: lwp_abi::SS_DISABLE,
                ..SigAltStack::default()
            },
            lwp_cursig: 0,
            lwp_curinfo: None,
            lwp_sigoldmask: None,
            lwp_ru: LwpRusage::default(),
            lwp_oweupc: 0,
            lwp_itimer: [ITimerVal::default(); NITIMER],
            lwp_utime: 0,
            lwp_stime: 0,
            lwp_thread: Link(t),
            lwp_procp: Link(p),
        }
    }
}

/// Where a swapped-out `lwp` structure is, kept in the resident LWP handle: what
/// the swapper needs to find it, check it and bring it back (S5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwapRef {
    /// Its slot on the swap device.
    pub slot: u32,
    /// The image's sequence number (its swap-out's), then its length and its
    /// checksum: a slot that holds anything else (torn, stale, another LWP's) is
    /// refused on the way in.
    pub seq: u64,
    /// The image's length in bytes.
    pub len: u32,
    /// The checksum of the image's payload.
    pub sum: u64,
    /// The machine had a handle to the registers (the LWP had entered user mode):
    /// it gets one back.
    pub attached: bool,
    /// The CPU times and usage in the image (S5.4, S5.6), for the process's sums
    /// (`Proc::times`, `getrusage`) while it is out.
    pub usage: LwpUsage,
}

/// Where an LWP's `lwp` structure is, as the swapper asks (`Lwp::image_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImageState {
    /// In memory (or the handle has no LWP).
    Resident,
    /// Being written out.
    Moving,
    /// On the swap device.
    Out(SwapRef),
}

/// Where an LWP's `lwp` structure is.
pub(crate) enum LwpImage {
    /// The handle is cached: no LWP. It keeps the block of the last LWP it had, in
    /// which the next one's `lwp` structure is built (`LwpData::make`).
    Unused(Option<Box<LwpData>>),
    /// Loaded: the LWP may run.
    Resident(Box<LwpData>),
    /// Being written out: the swapper holds the block; its CPU times and usage
    /// meanwhile.
    Moving(LwpUsage),
    /// On the swap device.
    SwappedOut(SwapRef),
}

impl LwpImage {
    /// The CPU times and usage of the structure, wherever it is (S5.4, S5.6).
    fn usage(&self) -> LwpUsage {
        match self {
            LwpImage::Resident(d) => d.usage(),
            LwpImage::Moving(u) => *u,
            LwpImage::SwappedOut(r) => r.usage,
            LwpImage::Unused(_) => LwpUsage::default(),
        }
    }

    /// `f` on the structure if it is resident.
    #[inline(always)]
    fn resident<R>(&mut self, f: impl FnOnce(&mut LwpData) -> R) -> Option<R> {
        match self {
            LwpImage::Resident(d) => Some(f(d)),
            LwpImage::Unused(_) | LwpImage::Moving(_) | LwpImage::SwappedOut(_) => None,
        }
    }

    fn state(&self) -> ImageState {
        match self {
            LwpImage::SwappedOut(r) => ImageState::Out(*r),
            LwpImage::Moving(_) => ImageState::Moving,
            LwpImage::Resident(_) | LwpImage::Unused(_) => ImageState::Resident,
        }
    }
}

impl Lwp {
    /// Runs `f` on the `lwp` structure if it is resident; `None` while it is swapped
    /// out. `f` runs with interrupts off under the structure's lock: keep it short.
    pub fn with_data<R>(&self, f: impl FnOnce(&mut LwpData) -> R) -> Option<R> {
        self.lwp_image.lock().resident(f)
    }

    /// [`Lwp::with_data`] for a caller that runs with interrupts off and keeps them
    /// so (the switch, the clock interrupt): they are left alone.
    #[inline]
    pub(crate) fn with_data_intr_off<R>(&self, f: impl FnOnce(&mut LwpData) -> R) -> Option<R> {
        self.lwp_image.lock_intr_off().resident(f)
    }

    /// For the debugger, which must not wait for a lock the code it stopped may
    /// hold: `f` on the `lwp` structure if it is resident (`Some(Some(_))`),
    /// `Some(None)` while it is swapped out or being written out (nothing of it is
    /// read then), `None` if its lock is held.
    pub(crate) fn peek_data<R>(&self, f: impl FnOnce(&LwpData) -> R) -> Option<Option<R>> {
        match &*crate::displock::peek(&self.lwp_image)? {
            LwpImage::Resident(d) => Some(Some(f(d))),
            LwpImage::Unused(_) | LwpImage::Moving(_) | LwpImage::SwappedOut(_) => Some(None),
        }
    }

    /// For the debugger: the CPU times and usage of the `lwp` structure wherever it
    /// is (those of one that is out are kept in memory with its place on the
    /// device), `None` if its lock is held.
    pub(crate) fn peek_usage(&self) -> Option<LwpUsage> {
        Some(crate::displock::peek(&self.lwp_image)?.usage())
    }

    /// Whether the `lwp` structure is loaded.
    pub fn is_resident(&self) -> bool {
        matches!(*self.lwp_image.lock(), LwpImage::Resident(_))
    }

    pub(super) fn set_data(&self, data: Box<LwpData>) {
        *self.lwp_image.lock() = LwpImage::Resident(data);
    }

    /// Ends the `lwp` structure, wherever it is: its block stays with the handle
    /// for the next LWP. Returns the swap slot it held, if it was out, for the
    /// caller to give back (`swap::forget`).
    #[must_use = "a slot not given back is lost to the swap device"]
    pub(super) fn free_data(&self) -> Option<u32> {
        let mut image = self.lwp_image.lock();
        let (block, slot) = match core::mem::replace(&mut *image, LwpImage::Unused(None)) {
            LwpImage::Resident(d) => (Some(d), None),
            LwpImage::SwappedOut(r) => (None, Some(r.slot)),
            LwpImage::Moving(_) => (None, None),
            LwpImage::Unused(block) => (block, None),
        };
        *image = LwpImage::Unused(block);
        slot
    }

    /// Gives a cached handle the block it keeps for its next LWP.
    pub(super) fn put_block(&self, block: Option<Box<LwpData>>) {
        *self.lwp_image.lock() = LwpImage::Unused(block);
    }

    /// The block an exited LWP left in this cached handle, if any.
    pub(super) fn take_block(&self) -> Option<Box<LwpData>> {
        match &mut *self.lwp_image.lock() {
            LwpImage::Unused(block) => block.take(),
            _ => None,
        }
    }

    /// The CPU times and usage of its `lwp` structure, wherever the structure is
    /// (S5.4, S5.6).
    pub(crate) fn usage(&self) -> LwpUsage {
        self.lwp_image.lock().usage()
    }

    /// Where the structure is on the swap device, if it is there.
    pub(crate) fn swapped(&self) -> Option<SwapRef> {
        match self.image_state() {
            ImageState::Out(r) => Some(r),
            _ => None,
        }
    }

    /// Where the structure is, for the swapper.
    pub(crate) fn image_state(&self) -> ImageState {
        self.lwp_image.lock().state()
    }

    /// For the debugger: where the structure is, `None` if its lock is held.
    pub(crate) fn peek_state(&self) -> Option<ImageState> {
        Some(crate::displock::peek(&self.lwp_image)?.state())
    }

    /// Takes the resident structure for the swapper to write out (it is `Moving`
    /// until [`Lwp::swapped_out`] or [`Lwp::put_back`]); `None` if not resident.
    pub(crate) fn take_for_swapout(&self) -> Option<Box<LwpData>> {
        let mut image = self.lwp_image.lock();
        let usage = match &*image {
            LwpImage::Resident(d) => d.usage(),
            _ => return None,
        };
        match core::mem::replace(&mut *image, LwpImage::Moving(usage)) {
            LwpImage::Resident(d) => Some(d),
            _ => None,
        }
    }

    /// The structure taken out is resident again (its swap-out was given up, or
    /// it came back in): the LWP may run.
    pub(crate) fn put_back(&self, data: Box<LwpData>) {
        *self.lwp_image.lock() = LwpImage::Resident(data);
    }

    /// The structure taken out is on the swap device at `r`.
    pub(crate) fn swapped_out(&self, r: SwapRef) {
        *self.lwp_image.lock() = LwpImage::SwappedOut(r);
    }
}
