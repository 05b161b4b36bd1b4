//! Processes (S1): the container of LWPs — creation, exit, and the parent's wait.
//! The process structure and the process table are here, below the LWPs,
//! signals and memory that a process's life calls on; that life is [`life`].
//!
//! # Theory
//!
//! A process holds what its LWPs share: its LWP directory (S15, `lwp`), its signal
//! state (S10, S14: dispositions, pending signals, the real-time interval timer,
//! job control: `signal`), its credentials (`cred`), its open files (`file`)
//! and, for a user process, the address space. It is the identity every LWP points back to
//! (`curproc`, S7). Like threads and LWP handles, process structures are never
//! freed but cached and reused, so that `&'static Proc` is the normal reference;
//! pids are not reused until the pid counter wraps around, which tells a reused
//! structure apart.
//!
//! * **Creation** ([`life::proc_create`]): a new process, child of the caller's process
//!   or, for a kernel thread, of proc 0 ([`PROC0`], the kernel's), with one LWP.
//!   It acts for its creator's credentials (`cred::crdup`; proc 0's are root's),
//!   and its descriptors 0, 1 and 2 are the console (`file`).
//! * **Exit** ([`life::proc_exit`]): the calling LWP records the status and asks every
//!   other LWP to exit (they leave at their next stop point, at once if stopped or
//!   asleep in a wait of `lwp`/`proc`), then exits itself. Whichever LWP leaves
//!   last — also when LWPs simply exit one by one — makes the process a zombie:
//!   its children go to `init`, and its parent is woken.
//! * **Wait** ([`life::proc_wait`]): the parent reaps a zombie child, given or any, and
//!   gets its status, encoded as `wait(2)` does ([`WaitStatus`]); `ECHILD` when
//!   there is no such child. A kernel thread waits for proc 0's children.
//! * **Orphans**: as in Solaris, the children of a process that exits before them
//!   go to `init` ([`set_init`]: the user program the kernel starts first, pid 1),
//!   which waits for them as for its own (`getppid` says 1) — so that no zombie is
//!   left for ever when nobody waits. Without an `init` (before it starts, after it
//!   ends, on a machine that runs none) they go to proc 0 instead, marked orphans,
//!   and a kernel thread reaps them, the *reaper* ([`life::reaper`], started at boot): a
//!   kernel thread's `proc_wait` leaves them to it. The reaper also takes the
//!   zombies of a parent that keeps none (`SA_NOCLDWAIT`).
//! * **User processes** ([`life::proc_create_user`], used by `exec`): a process with an
//!   address space and its layout (`vm`), whose first LWP starts in user mode. The
//!   process holds the space; its LWPs' threads hold it too while they run in it,
//!   and the last one to leave frees it. The CPU time and usage of its LWPs (S5.4,
//!   S5.6) are summed into the process as each exits, and a reaped child's into its
//!   parent's children's (`rusage`). Its creator may give it other credentials
//!   than its own.
//!
//! The process tree — pids, parents, children, and the move to zombie — is guarded
//! by one global lock, `PIDLOCK` (as Solaris' `pidlock`); each process's own state
//! by its `p_lock`, taken inside `PIDLOCK` when both are needed. As in Solaris, the
//! tree is made of the processes themselves: a pid hash whose chains run through
//! `p_hash`, and each parent's list of children through `p_child`, `p_sibling`
//! and `p_psibling`; so entering, moving and removing a process allocates nothing
//! under the lock. Processes, zombies included, are limited to `rctl`'s
//! `max_procs` (`EAGAIN` beyond).
//!
//! A process also has a name for people to read (Solaris' `u_comm`, what `ps`
//! shows): whoever makes it may give it one ([`Proc::set_comm`]); a process made
//! by [`life::proc_create`] also remembers the kernel function its first LWP runs.

use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use arch::cell::StaticRef;
use arch::kmem::Shared;
use arch::Machine;

use crate::callout::Callout;
use crate::cred::pstate::Cred;
use crate::displock::DispLock;
use crate::errno::Errno;
use crate::file::pstate::FdTable;
use crate::lwp::data::LwpUsage;
use crate::lwp::dir::LwpDir;
use crate::lwp::event::Event;
use crate::lwp::handle::LwpId;
use crate::signal::{AtomicSigSet, ProcSig};
use crate::sync::Mutex;
use crate::vm::pstate::Vm;
use crate::M;

pub mod life;

/// A user address space, as the machine makes it.
pub type AddrSpace = <M as Machine>::AddrSpace;

/// A process id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(pub u32);

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {}", self.0)
    }
}

/// The largest pid; pids are handed out in turn up to it, then again from 1,
/// skipping those in use (Solaris' default `maxpid`).
pub const MAXPID: u32 = 999_999;

/// A process's life (`p_stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PStat {
    /// Its LWPs run; new ones may be created.
    Active,
    /// Exiting: its LWPs are leaving and no new one may come.
    Exiting,
    /// Every LWP has left; the exit status waits for the parent.
    Zombie,
}

/// How a process ended, or what happened to it, as `wait(2)` encodes it in the
/// status word that [`life::proc_wait`] returns: an exit code in bits 8..16, or the
/// signal that killed it in bits 0..7 (bit 7: a core-dumping signal's default
/// action); a stop signal in bits 8..16 over 0x7f; 0xffff for continued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStatus {
    /// It exited with this code (`exit(2)`, `proc_exit`), or its LWPs all exited (0).
    Exited(u8),
    /// A signal's default action killed it (S13).
    Killed(u8),
    /// A stop signal stopped every LWP of it (job control).
    Stopped(u8),
    /// It was continued after a stop (SIGCONT).
    Continued,
}

/// `WCONTINUED`'s status word (Solaris' `WCONTFLG`).
const WCONTFLG: i32 = 0xffff;

impl WaitStatus {
    /// The status word.
    pub fn raw(self) -> i32 {
        match self {
            WaitStatus::Exited(code) => i32::from(code) << 8,
            WaitStatus::Killed(sig) => i32::from(sig),
            WaitStatus::Stopped(sig) => i32::from(sig) << 8 | 0x7f,
            WaitStatus::Continued => WCONTFLG,
        }
    }

    /// Decodes a status word from [`life::proc_wait`] (the core flag is dropped).
    pub fn from_raw(status: i32) -> WaitStatus {
        if status == WCONTFLG {
            return WaitStatus::Continued;
        }
        match status & 0x7f {
            0 => WaitStatus::Exited((status >> 8) as u8),
            0x7f => WaitStatus::Stopped((status >> 8) as u8),
            sig => WaitStatus::Killed(sig as u8),
        }
    }
}

bitflags::bitflags! {
    /// What [`life::proc_waitid`] waits for (Solaris' `waitid` options).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct WaitOpts: u32 {
        /// A child that exited (it is reaped).
        const EXITED = lwp_abi::WEXITED as u32;
        /// A child that a stop signal stopped (reported once).
        const STOPPED = lwp_abi::WSTOPPED as u32;
        /// A stopped child that SIGCONT continued (reported once).
        const CONTINUED = lwp_abi::WCONTINUED as u32;
        /// Do not wait: if no child has done any of the above, say so at once.
        const NOHANG = lwp_abi::WNOHANG as u32;
    }
}

/// A process's state under its `p_lock`.
pub struct ProcState {
    pub(crate) p_stat: PStat,
    /// The wait status (`WaitStatus::raw`): 0 when the LWPs simply all exited.
    pub(crate) p_exitstatus: i32,
    /// Its LWPs, live and zombie (S15).
    pub(crate) p_lwpdir: LwpDir,
    /// The CPU times (in ticks) and usage of its LWPs that have exited (S5.4,
    /// S5.6; Solaris' `p_utime`, `p_stime`, `p_ru`).
    pub(crate) p_ru: LwpUsage,
    /// Those of its children that were reaped, each with its own reaped
    /// children's (Solaris' `p_cutime`, `p_cstime`, `p_cru`).
    pub(crate) p_cru: LwpUsage,
    /// Its signal state: dispositions shared by its LWPs (S10), signals pending on
    /// the process (S14), job control, the real-time interval timer (`signal`).
    pub(crate) p_sig: ProcSig,
    /// An LWP is in `exec`, waiting for the others to leave: no LWP may be made,
    /// and no other LWP may begin an `exec`.
    pub(crate) p_exec: bool,
    /// An LWP in `forkall` holds the others stopped (`lwp::holdlwps`): no other
    /// LWP may begin holding them (Solaris' `SHOLDFORK`).
    pub(crate) p_holdfork: bool,
}

impl ProcState {
    const fn new() -> ProcState {
        ProcState {
            p_stat: PStat::Active,
            p_exitstatus: 0,
            p_lwpdir: LwpDir::new(),
            p_ru: LwpUsage::ZERO,
            p_cru: LwpUsage::ZERO,
            p_sig: ProcSig::new(),
            p_exec: false,
            p_holdfork: false,
        }
    }
}

/// The longest process name (Solaris' `MAXCOMLEN`).
pub const MAXCOMLEN: usize = 16;

/// A process's name (`u_comm`): up to [`MAXCOMLEN`] bytes of UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Comm {
    buf: [u8; MAXCOMLEN],
    len: u8,
}

impl Comm {
    const EMPTY: Comm = Comm { buf: [0; MAXCOMLEN], len: 0 };

    /// `name`, cut to the last whole character that fits.
    pub fn new(name: &str) -> Comm {
        let mut len = name.len().min(MAXCOMLEN);
        while !name.is_char_boundary(len) {
            len -= 1;
        }
        let mut buf = [0; MAXCOMLEN];
        buf[..len].copy_from_slice(&name.as_bytes()[..len]);
        Comm { buf, len: len as u8 }
    }

    /// The name as text (empty if none was given).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or("")
    }
}

/// A process (S1). `#[repr(C)]`, the pid and the pending signals before the lock's
/// data: the signal state makes the structure kilobytes long, and a field beyond
/// 4 KiB costs SPARC two more instructions to reach (`getpid`, the null system
/// call, reads the pid; every change of a mask, `_lwp_sigmask`, the pending set).
#[repr(C)]
pub struct Proc {
    /// Its id; 0 for proc 0 and while the structure is cached.
    p_pid: AtomicU32,
    /// Its parent's pid, as `p_parent` says (`getppid` reads it alone, beside the
    /// pid: the null system call). Changed under `PIDLOCK`.
    p_ppid: AtomicU32,
    /// Its parent. Changed under `PIDLOCK`.
    p_parent: StaticRef<Proc>,
    /// The signals sent to the process and not yet taken by any LWP (S14):
    /// changed under `p_lock`, and read without it by an LWP that changes its own
    /// mask (`signal`).
    pub(crate) p_sigpend: AtomicSigSet,
    /// Its state, LWPs and signal state.
    pub(crate) p_lock: DispLock<ProcState>,
    /// The callout of its real-time interval timer (`ITIMER_REAL`, `alarm`).
    pub(crate) p_itimer: Callout,
    /// Its address space (S1); none for a process whose LWPs run kernel code only.
    pub(crate) p_as: DispLock<Option<Shared<AddrSpace>>>,
    /// The layout of its address space: segments, main stack (`vm`), whose mutex
    /// serializes the calls that change it.
    pub(crate) p_vm: Mutex<Vm>,
    /// An LWP exited: `lwp_wait` looks again.
    pub(crate) p_lwpexit: Event,
    /// An LWP stopped, or was continued: `lwp_suspend` looks again.
    pub(crate) p_holdlwps: Event,
    /// A child became a zombie: `proc_wait` looks again.
    pub(crate) p_childexit: Event,
    /// The next process in its pid hash chain; in the cache, the next cached one.
    /// Under `PIDLOCK` (the cache's lock in the cache).
    p_hash: StaticRef<Proc>,
    /// Its first child, its next and previous siblings (`PIDLOCK`).
    p_child: StaticRef<Proc>,
    p_sibling: StaticRef<Proc>,
    p_psibling: StaticRef<Proc>,
    /// Its parent exited before it: it is proc 0's, for the reaper (`PIDLOCK`).
    p_orphan: AtomicBool,
    /// The pages it shares with its thread library, and its pool count (`schedctl`).
    pub(crate) p_sc: crate::schedctl::pstate::ScProc,
    /// Its name, if it was given one (`set_comm`).
    p_comm: DispLock<Comm>,
    /// The kernel function its first LWP runs ([`life::proc_create`]); 0 for a user
    /// process.
    p_start: AtomicUsize,
    /// Its credentials, shared by its LWPs and replaced whole (`cred`).
    pub(crate) p_cred: DispLock<Cred>,
    /// Its descriptors, shared by its LWPs (`file`).
    pub(crate) p_fd: DispLock<FdTable>,
    /// Its profiling buffer (`profil`, S5.4: `rusage`).
    pub(crate) p_prof: crate::rusage::pstate::ProcProf,
}

/// Proc 0: the kernel's process. Its "LWPs" are the kernel threads (S2), which
/// have no LWP; it is the parent of processes they create, and of orphans.
pub static PROC0: Proc = Proc::new();

impl Proc {
    pub(super) const fn new() -> Proc {
        Proc {
            p_pid: AtomicU32::new(0),
            p_ppid: AtomicU32::new(0),
            p_parent: StaticRef::none(),
            p_sigpend: AtomicSigSet::new(),
            p_lock: DispLock::new(ProcState::new()),
            p_itimer: Callout::new(),
            p_as: DispLock::new(None),
            p_vm: Mutex::new(Vm::new()),
            p_lwpexit: Event::new(),
            p_holdlwps: Event::new(),
            p_childexit: Event::new(),
            p_hash: StaticRef::none(),
            p_child: StaticRef::none(),
            p_sibling: StaticRef::none(),
            p_psibling: StaticRef::none(),
            p_orphan: AtomicBool::new(false),
            p_sc: crate::schedctl::pstate::ScProc::new(),
            p_comm: DispLock::new(Comm::EMPTY),
            p_start: AtomicUsize::new(0),
            p_cred: DispLock::new(Cred::ROOT),
            p_fd: DispLock::new(FdTable::EMPTY),
            p_prof: crate::rusage::pstate::ProcProf::new(),
        }
    }

    /// Names the process (what `ps` shows), cut to [`MAXCOMLEN`] bytes.
    pub fn set_comm(&self, name: &str) {
        *self.p_comm.lock() = Comm::new(name);
    }

    /// Its name, if it was given one; `None` too if the name's lock is held.
    pub fn comm(&self) -> Option<Comm> {
        let c = *crate::displock::peek(&self.p_comm)?;
        (c.len != 0).then_some(c)
    }

    /// The address of the kernel function its first LWP runs (made by
    /// [`life::proc_create`]), if it is such a process.
    pub fn start_func(&self) -> Option<usize> {
        let f = self.p_start.load(Ordering::Relaxed);
        (f != 0).then_some(f)
    }

    /// Its process id (`p_pid`); 0 for proc 0 and while the structure is cached.
    pub fn pid(&self) -> Pid {
        Pid(self.p_pid.load(Ordering::Relaxed))
    }

    /// Its parent's pid (proc 0 has none).
    pub fn parent(&self) -> Option<Pid> {
        self.p_parent.get().map(Proc::pid)
    }

    /// Its parent's pid as `getppid` gives it: 0 for proc 0's children (orphans
    /// included) and for proc 0.
    pub fn ppid(&self) -> Pid {
        Pid(self.p_ppid.load(Ordering::Relaxed))
    }

    /// Where it is in its life (`p_stat`: active, exiting, zombie), read under `p_lock`.
    pub fn stat(&self) -> PStat {
        self.p_lock.lock().p_stat
    }

    /// The exit status, once it is a zombie.
    pub fn exit_status(&self) -> Option<i32> {
        let ps = self.p_lock.lock();
        (ps.p_stat == PStat::Zombie).then_some(ps.p_exitstatus)
    }

    /// The user and system time of every LWP it has had, live or exited, in
    /// clock ticks (S5.6), whether its `lwp` structure is in memory or swapped out.
    pub fn times(&self) -> (u64, u64) {
        let u = self.usage();
        (u.utime, u.stime)
    }

    /// The CPU times and usage of every LWP it has had, live or exited (S5.4,
    /// S5.6), whether its `lwp` structure is in memory or swapped out.
    pub fn usage(&self) -> LwpUsage {
        let ps = self.p_lock.lock();
        let mut sum = ps.p_ru;
        for (t, lwp) in ps.p_lwpdir.live_all() {
            sum.add(&lwp.usage().with_switches(t));
        }
        sum
    }

    /// The CPU times and usage of its children that were reaped, theirs included
    /// (S5.4).
    pub fn child_usage(&self) -> LwpUsage {
        self.p_lock.lock().p_cru
    }

    /// The address space, if it has one.
    pub fn addr_space(&self) -> Option<Shared<AddrSpace>> {
        self.p_as.lock().clone()
    }

    /// Live LWPs.
    pub fn lwpcnt(&self) -> u32 {
        self.p_lock.lock().p_lwpdir.lwpcnt()
    }

    /// Zombie LWPs, not yet waited for.
    pub fn zombcnt(&self) -> u32 {
        self.p_lock.lock().p_lwpdir.zombcnt()
    }

    /// LWPs inside `lwp_wait`.
    pub fn lwpwait(&self) -> u32 {
        self.p_lock.lock().p_lwpdir.lwpwait()
    }

    /// The ids in its LWP directory, live and zombie.
    pub fn lwp_ids(&self) -> Vec<LwpId> {
        // Room is made before the lock is taken, and enough of it: nothing is
        // allocated under the lock (`displock`).
        loop {
            let n = self.p_lock.lock().p_lwpdir.len();
            let mut ids = Vec::with_capacity(n + 1);
            let ps = self.p_lock.lock();
            if ps.p_lwpdir.len() < ids.capacity() {
                ps.p_lwpdir.ids_into(&mut ids);
                return ids;
            }
        }
    }
}

impl fmt::Debug for Proc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.pid(), self.stat())
    }
}

/// Whether `p` is proc 0.
pub(crate) fn is_proc0(p: &Proc) -> bool {
    core::ptr::eq(p, &PROC0)
}

/// Chains of the pid hash.
const PIDHASH: usize = 256;

/// The process tree (see the module comment), under `PIDLOCK`.
pub(super) struct ProcTable {
    /// Every process not yet reaped, active or zombie, by pid (proc 0 is not in it).
    pt_hash: [Option<&'static Proc>; PIDHASH],
    /// How many (`rctl::max_procs`).
    pt_nprocs: u32,
    /// The pid to try next.
    pt_nextpid: u32,
    /// `init` ([`set_init`]), the heir of orphans, while it lives.
    pt_init: Option<&'static Proc>,
}

pub(super) static PIDLOCK: DispLock<ProcTable> = DispLock::new(ProcTable {
    pt_hash: [None; PIDHASH],
    pt_nprocs: 0,
    pt_nextpid: 1,
    pt_init: None,
});

/// Reaped process structures, for reuse: a list through `p_hash`.
pub(super) static PROC_CACHE: DispLock<Option<&'static Proc>> = DispLock::new(None);
/// Process structures ever allocated (the cache holds those not in use).
pub(super) static NALLOCATED: AtomicU32 = AtomicU32::new(0);

pub(super) fn hash(pid: Pid) -> usize {
    pid.0 as usize % PIDHASH
}

impl ProcTable {
    /// The process `pid`, if it is in the table.
    pub(super) fn find(&self, pid: Pid) -> Option<&'static Proc> {
        let mut cur = self.pt_hash[hash(pid)];
        while let Some(p) = cur {
            if p.pid() == pid {
                return Some(p);
            }
            cur = p.p_hash.get();
        }
        None
    }

    /// The next free pid; `EAGAIN` if all are in use.
    pub(super) fn alloc_pid(&mut self) -> Result<Pid, Errno> {
        for _ in 0..MAXPID {
            let pid = Pid(self.pt_nextpid);
            self.pt_nextpid = if self.pt_nextpid == MAXPID { 1 } else { self.pt_nextpid + 1 };
            if self.find(pid).is_none() {
                return Ok(pid);
            }
        }
        Err(Errno::EAGAIN)
    }

    /// Enters `p`, whose pid is set, as a child of `parent`.
    pub(super) fn insert(&mut self, p: &'static Proc, parent: &'static Proc) {
        let b = hash(p.pid());
        p.p_hash.set(self.pt_hash[b]);
        self.pt_hash[b] = Some(p);
        self.pt_nprocs += 1;
        adopt(parent, p);
    }

    /// Takes `p` out of the table and out of its parent's children.
    pub(super) fn remove(&mut self, p: &'static Proc) {
        let b = hash(p.pid());
        let (mut prev, mut cur): (Option<&'static Proc>, _) = (None, self.pt_hash[b]);
        while let Some(c) = cur {
            if core::ptr::eq(c, p) {
                match prev {
                    Some(pr) => pr.p_hash.set(c.p_hash.get()),
                    None => self.pt_hash[b] = c.p_hash.get(),
                }
                break;
            }
            prev = Some(c);
            cur = c.p_hash.get();
        }
        p.p_hash.set(None);
        self.pt_nprocs -= 1;
        disown(p);
    }
}

/// Links `c` in front of `parent`'s children; under `PIDLOCK`.
pub(super) fn adopt(parent: &'static Proc, c: &'static Proc) {
    c.p_parent.set(Some(parent));
    c.p_ppid.store(parent.pid().0, Ordering::Relaxed);
    c.p_psibling.set(None);
    let first = parent.p_child.get();
    c.p_sibling.set(first);
    if let Some(f) = first {
        f.p_psibling.set(Some(c));
    }
    parent.p_child.set(Some(c));
}

/// Unlinks `c` from its parent's children; under `PIDLOCK`.
pub(super) fn disown(c: &'static Proc) {
    let (prev, next) = (c.p_psibling.take(), c.p_sibling.take());
    match prev {
        Some(p) => p.p_sibling.set(next),
        None => {
            if let Some(parent) = c.p_parent.get() {
                parent.p_child.set(next);
            }
        }
    }
    if let Some(n) = next {
        n.p_psibling.set(prev);
    }
}

/// `parent`'s children; under `PIDLOCK`.
pub(super) fn children(parent: &Proc) -> impl Iterator<Item = &'static Proc> {
    core::iter::successors(parent.p_child.get(), |c| c.p_sibling.get())
}

/// Runs `f` on every process in the table (zombies included), under `PIDLOCK`:
/// `f` may take a process's `p_lock`, and must allocate nothing.
pub(crate) fn for_each(mut f: impl FnMut(&'static Proc)) {
    let tbl = PIDLOCK.lock();
    for &head in &tbl.pt_hash {
        let mut cur = head;
        while let Some(p) = cur {
            f(p);
            cur = p.p_hash.get();
        }
    }
}

/// The parent of `p` (proc 0 for proc 0), as the process tree has it now.
pub(crate) fn parent_of(p: &Proc) -> &'static Proc {
    let _tbl = PIDLOCK.lock();
    p.p_parent.get().unwrap_or(&PROC0)
}

/// Processes in the table, zombies included.
pub fn nprocs() -> u32 {
    PIDLOCK.lock().pt_nprocs
}

/// Process structures allocated since boot, in use or cached.
pub fn nallocated() -> u32 {
    NALLOCATED.load(Ordering::Relaxed)
}

/// Every process in the table (proc 0 is not in it), active or zombie, into `out`
/// (as many as its spare capacity takes: nothing is allocated under the lock), in
/// no particular order; false if the table's lock is held (by code a debugger
/// stopped). For the debugger; `nallocated` bounds the room to make.
pub(crate) fn procs_into(out: &mut Vec<&'static Proc>) -> bool {
    let Some(tbl) = crate::displock::peek(&PIDLOCK) else { return false };
    let room = out.capacity() - out.len();
    let chains = tbl.pt_hash.iter().filter_map(|h| *h);
    for p in chains.flat_map(|h| core::iter::successors(Some(h), |p| p.p_hash.get())).take(room) {
        out.push(p);
    }
    true
}

/// Makes process `pid` the system's `init` (Solaris' proc 1): from now on it
/// adopts the children of every process that exits before them, and reaps them
/// as their parent; while it lives, orphans are not the reaper's.
///
/// Errors: `ESRCH` if there is no active process `pid`; `EBUSY` if an `init`
/// lives already.
pub fn set_init(pid: Pid) -> Result<(), Errno> {
    let mut tbl = PIDLOCK.lock();
    let p = tbl.find(pid).ok_or(Errno::ESRCH)?;
    if p.p_lock.lock().p_stat != PStat::Active {
        return Err(Errno::ESRCH);
    }
    if tbl.pt_init.is_some() {
        return Err(Errno::EBUSY);
    }
    tbl.pt_init = Some(p);
    Ok(())
}

/// The pid of `init`, while it lives ([`set_init`]).
pub fn initproc() -> Option<Pid> {
    PIDLOCK.lock().pt_init.map(Proc::pid)
}

/// The process `pid`, if it exists (active or zombie); proc 0 for pid 0.
pub fn prfind(pid: Pid) -> Option<&'static Proc> {
    if pid == PROC0.pid() {
        return Some(&PROC0);
    }
    PIDLOCK.lock().find(pid)
}
