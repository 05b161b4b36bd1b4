//! A process's life (S1): made (by the kernel, by `fork`, for `exec`), entered in
//! the process table, ended, waited for and reaped. Above the LWPs, signals and
//! memory it calls on; the process structure and its table are `proc`, below them.

use alloc::boxed::Box;
use core::sync::atomic::Ordering;

use arch::kmem::{self, Shared};
use arch::{Machine, UserRegs};

use super::{
    adopt, children, disown, is_proc0, AddrSpace, Comm, PStat, Pid, Proc, ProcState, WaitOpts,
    WaitStatus, NALLOCATED, PIDLOCK, PROC0, PROC_CACHE,
};
use crate::cred::{self, Cred};
use crate::disp;
use crate::errno::Errno;
use crate::file::{self, FdTable};
use crate::lwp::{self, LwpDir, LwpFlags, LwpId, LwpUsage, NewLwp};
use crate::rctl;
use crate::signal;
use crate::thread::{curproc, curthread, KThread};
use crate::vm::Vm;
use crate::M;

/// A process structure from the cache, or a new one; `ENOMEM` without memory.
fn proc_alloc() -> Result<&'static Proc, Errno> {
    let cached = {
        let mut head = PROC_CACHE.lock();
        let p = *head;
        if let Some(p) = p {
            *head = p.p_hash.take();
        }
        p
    };
    match cached {
        Some(p) => Ok(p),
        None => {
            let p = kmem::try_box(Proc::new()).map_err(|_| Errno::ENOMEM)?;
            NALLOCATED.fetch_add(1, Ordering::Relaxed);
            Ok(Box::leak(p))
        }
    }
}

/// Resets a reaped (or never used) process structure and caches it.
fn proc_free(p: &'static Proc) {
    p.p_pid.store(0, Ordering::Relaxed);
    p.p_ppid.store(0, Ordering::Relaxed);
    p.p_parent.set(None);
    p.p_orphan.store(false, Ordering::Relaxed);
    p.p_start.store(0, Ordering::Relaxed);
    *p.p_comm.lock() = Comm::EMPTY;
    crate::rusage::prof_off(p);
    file::closeall(p);
    // What the old state owns (a directory's array) is freed outside the lock.
    let old = core::mem::replace(&mut *p.p_lock.lock(), ProcState::new());
    drop(old);
    p.p_sigpend.set(signal::SigSet::EMPTY);
    let space = p.p_as.lock().take();
    drop(space);
    let vm = core::mem::take(&mut *p.p_vm.lock());
    drop(vm);
    let mut head = PROC_CACHE.lock();
    p.p_hash.set(*head);
    *head = Some(p);
}

/// Creates a process, child of the current process (of proc 0 in a kernel thread),
/// whose one LWP (id 1) runs `func(arg)` in the kernel. Returns its pid.
///
/// Errors: `EAGAIN` if the current process is exiting, or no pid is free.
pub fn proc_create(func: fn(usize), arg: usize) -> Result<Pid, Errno> {
    let p = proc_alloc()?;
    p.p_start.store(func as usize, Ordering::Relaxed);
    match NewLwp::alloc(p, func, arg) {
        Ok(first) => {
            born(p, None);
            proc_enter(p, &mut [ChildLwp::first(first)])
        }
        Err(e) => {
            proc_free(p);
            Err(e)
        }
    }
}

/// Creates a user process (S1): a child of the current process with address space
/// `space` laid out as `vm` says (what its program, its stack and its anonymous
/// memory are: `vm`), acting for `cred` (`None`: its creator's credentials), whose
/// one LWP (id 1) starts in user mode with `regs`. Returns its pid.
///
/// Errors as [`proc_create`].
pub fn proc_create_user(
    space: Shared<AddrSpace>,
    vm: Vm,
    regs: UserRegs,
    cred: Option<Cred>,
) -> Result<Pid, Errno> {
    proc_create_child(
        space,
        vm,
        |p| born(p, cred),
        |p| Ok([ChildLwp::first(NewLwp::alloc_user(p, &regs)?)]),
    )
}

/// An LWP of a new process: made, then entered with the process ([`proc_enter`]).
pub(crate) enum ChildLwp {
    /// Made, to be entered as LWP `id` with `flags` (`DETACHED`; `SUSPENDED`: it
    /// stays stopped until an `_lwp_continue`).
    New(LwpId, LwpFlags, NewLwp),
    /// Entered: its thread, to be set running.
    Entered(&'static KThread),
    /// Given back, or entered suspended: nothing is left to do with it.
    Gone,
}

impl ChildLwp {
    /// The one LWP of a process that starts with one: LWP 1.
    pub(crate) fn first(lwp: NewLwp) -> ChildLwp {
        ChildLwp::New(LwpId(1), LwpFlags::empty(), lwp)
    }

    /// Gives back an LWP not entered.
    pub(crate) fn discard(&mut self) {
        if let ChildLwp::New(_, _, lwp) = core::mem::replace(self, ChildLwp::Gone) {
            lwp.discard();
        }
    }
}

/// Creates a user process with address space `space` laid out as `vm` says, a
/// child of the current process: `inherit` gives it what it holds (its credentials and descriptors)
/// before anyone can see it, and `make` its LWPs, ready to run (`fork` copies the
/// caller's dispositions, credentials and descriptors, then the registers, mask,
/// alternate stack and FP registers of the LWPs it copies). `make` gives back
/// what it made if it fails. Returns the child's pid.
pub(crate) fn proc_create_child<L: AsMut<[ChildLwp]>>(
    space: Shared<AddrSpace>,
    vm: Vm,
    inherit: impl FnOnce(&'static Proc),
    make: impl FnOnce(&'static Proc) -> Result<L, Errno>,
) -> Result<Pid, Errno> {
    let p = proc_alloc()?;
    *p.p_as.lock() = Some(space);
    *p.p_vm.lock() = vm;
    inherit(p);
    match make(p) {
        Ok(mut lwps) => proc_enter(p, lwps.as_mut()),
        Err(e) => {
            proc_free(p);
            Err(e)
        }
    }
}

/// A new process not made by `fork`: it acts for `cred` (or its creator's
/// credentials), with the console as descriptors 0, 1 and 2.
fn born(p: &Proc, cred: Option<Cred>) {
    let parent = curproc().unwrap_or(&PROC0);
    *p.p_cred.lock() = cred.unwrap_or_else(|| cred::crdup(parent));
    *p.p_fd.lock() = FdTable::console();
}

/// Enters the new process `p` with its LWPs in the process tree and sets the LWPs
/// running; on failure gives all back.
fn proc_enter(p: &'static Proc, lwps: &mut [ChildLwp]) -> Result<Pid, Errno> {
    let parent = curproc().unwrap_or(&PROC0);
    let ids = lwps.iter().filter_map(|l| match l {
        ChildLwp::New(id, ..) => Some(id.0 as usize),
        _ => None,
    });
    // The new process's directory gets its slots now: p is not visible yet, and
    // nothing may be allocated under the locks below.
    let made = LwpDir::room_of(ids.max().unwrap_or(1).max(4)).and_then(|room| {
        let empty = p.p_lock.lock().p_lwpdir.adopt(room);
        drop(empty);
        let mut tbl = PIDLOCK.lock();
        let active = is_proc0(parent) || parent.p_lock.lock().p_stat == PStat::Active;
        if !active || tbl.pt_nprocs >= rctl::max_procs() {
            return Err(Errno::EAGAIN);
        }
        let pid = tbl.alloc_pid()?;
        p.p_pid.store(pid.0, Ordering::Relaxed);
        tbl.insert(p, parent);
        let mut ps = p.p_lock.lock();
        for l in lwps.iter_mut() {
            if let ChildLwp::New(id, flags, lwp) = core::mem::replace(l, ChildLwp::Gone) {
                let (_, t) = lwp.install(p, &mut ps, flags, false, Some(id));
                if !flags.contains(LwpFlags::SUSPENDED) {
                    *l = ChildLwp::Entered(t);
                }
            }
        }
        Ok(pid)
    });
    match made {
        Ok(pid) => {
            for l in lwps.iter() {
                if let ChildLwp::Entered(t) = l {
                    disp::setrun(t);
                }
            }
            Ok(pid)
        }
        Err(e) => {
            lwps.iter_mut().for_each(ChildLwp::discard);
            proc_free(p);
            Err(e)
        }
    }
}

/// The part of `exec` that changes the calling process (see `exec`): every other
/// LWP is made to exit and waited for, `space` replaces the address space (and
/// `vm` its layout), and
/// the caller's LWP starts over — `set_regs` sets its registers, its alternate
/// stack is disabled, caught signals go back to their defaults, its `schedctl`
/// state goes with the old space — descriptors marked `FD_CLOEXEC` are closed,
/// and the process is named `name`.
///
/// Errors: `EINTR` if the process is exiting, or another LWP is in `exec`
/// (nothing changed then but that the other LWPs may be gone).
pub(crate) fn exec_replace(
    space: Shared<AddrSpace>,
    vm: Vm,
    name: &str,
    set_regs: impl FnOnce(),
) -> Result<(), Errno> {
    let t = curthread();
    let (Some(p), Some(lwp)) = (t.procp(), t.lwp()) else {
        return Err(Errno::EINVAL);
    };
    {
        let mut ps = p.p_lock.lock();
        if ps.p_stat != PStat::Active || ps.p_exec {
            return Err(Errno::EINTR);
        }
        ps.p_exec = true;
    }
    lwp::exitlwps(p, Some(t));
    loop {
        let seen = p.p_lwpexit.snapshot();
        if p.lwpcnt() == 1 || p.stat() != PStat::Active {
            break;
        }
        p.p_lwpexit.wait_uninterruptible(seen);
    }
    {
        let mut ps = p.p_lock.lock();
        ps.p_exec = false;
        if ps.p_stat != PStat::Active {
            return Err(Errno::EINTR);
        }
        // The others' zombies go: nobody is left to wait for them.
        loop {
            let Some((id, _)) = ps.p_lwpdir.zombies().next() else { break };
            ps.p_lwpdir.reap(id);
        }
    }
    crate::schedctl::lwp_exit(t, lwp.id(), p);
    crate::schedctl::proc_done(p);
    let old_vm = core::mem::replace(&mut *p.p_vm.lock(), vm);
    let old = p.p_as.lock().replace(space.clone());
    M::user_exec(space);
    drop((old, old_vm));
    set_regs();
    lwp.with_data(|d| {
        d.lwp_sigaltstack =
            lwp::SigAltStack { ss_flags: lwp_abi::SS_DISABLE, ..Default::default() };
        d.lwp_eosys = lwp::Eosys::JustReturn;
    });
    signal::exec_reset(p);
    crate::rusage::prof_off(p);
    crate::file::exec_cloexec(p);
    p.set_comm(name);
    Ok(())
}

/// Exits the current process with exit code `code` (its wait status is
/// [`WaitStatus::Exited`]): every other LWP is made to exit, then this one exits;
/// the last to leave makes the process a zombie for its parent to reap. If another
/// LWP is already exiting the process, its status stands. In a kernel thread (S2),
/// it just ends the thread.
pub fn proc_exit(code: u8) -> ! {
    proc_exit_status(WaitStatus::Exited(code), false)
}

/// Exits the current process with wait status `status`; `core` marks a signal's
/// core-dumping default action in the status word (no core is written).
pub(crate) fn proc_exit_status(status: WaitStatus, core: bool) -> ! {
    let t = curthread();
    if let Some(p) = t.procp() {
        proc_kill(p, status, core, Some(t));
    }
    lwp::lwp_exit()
}

/// Makes process `p` exit with wait status `status` (`core` as for
/// [`proc_exit_status`]): every LWP but `me` — the caller, which exits by itself —
/// leaves at its next stop point, sleeping ones woken and stopped ones set running.
/// How one of its LWPs exits the process, and how SIGKILL, from anywhere, ends it.
/// If it is exiting already, its status stands.
pub(crate) fn proc_kill(p: &'static Proc, status: WaitStatus, core: bool, me: Option<&KThread>) {
    {
        let mut ps = p.p_lock.lock();
        if ps.p_stat == PStat::Active {
            ps.p_stat = PStat::Exiting;
            ps.p_exitstatus = status.raw() | if core { 0x80 } else { 0 };
        }
    }
    lwp::exitlwps(p, me);
}

/// The last LWP of `p` has left: `p` becomes a zombie, its children go to `init`
/// (or, without one, to proc 0 as orphans, for the reaper), and its parent is woken
/// and sent SIGCHLD — unless the parent's SIGCHLD disposition keeps no zombies
/// (`SA_NOCLDWAIT`, or `SIG_IGN`): then `p` goes to proc 0 as an orphan. `p` may be
/// reaped (and reused) as soon as `PIDLOCK` is dropped: it is not touched after that.
pub(crate) fn proc_zombie(p: &'static Proc) {
    // Nothing runs in the address space any more: its pages go now, not at reaping.
    let space = p.p_as.lock().take();
    drop(space);
    let vm = core::mem::take(&mut *p.p_vm.lock());
    drop(vm);
    signal::realitimer_cancel(p);
    crate::schedctl::proc_done(p);
    // Its pipes' other ends see it gone now: EOF, or EPIPE.
    file::closeall(p);
    let (parent, heir, woken) = {
        let mut tbl = PIDLOCK.lock();
        // Zombie LWPs nobody waited for go with the process (freed below).
        let (dir, status, usage) = {
            let mut ps = p.p_lock.lock();
            ps.p_stat = PStat::Zombie;
            (ps.p_lwpdir.take(), ps.p_exitstatus, reaped_usage(&ps))
        };
        if tbl.pt_init.is_some_and(|i| core::ptr::eq(i, p)) {
            tbl.pt_init = None;
        }
        let heir = tbl.pt_init.unwrap_or(&PROC0);
        let mut woken = Woken::default();
        while let Some(c) = p.p_child.get() {
            disown(c);
            woken.note(give_child(heir, c));
        }
        let parent = p.p_parent.get().unwrap_or(&PROC0);
        if !is_proc0(parent) {
            let mut pps = parent.p_lock.lock();
            let no_zombie = signal::keeps_no_zombies(&pps.p_sig);
            if no_zombie {
                // Its parent will not wait for it: its usage is the parent's
                // children's now, as Solaris' `freeproc` gives it at once.
                pps.p_cru.add(&usage);
            }
            drop(pps);
            if no_zombie {
                disown(p);
                woken.note(give_child(&PROC0, p));
            }
            // Before any wait of the parent can see the zombie go.
            signal::sigchld_on_exit(parent, p.pid(), status);
        }
        drop(tbl);
        drop(dir);
        (parent, heir, woken)
    };
    parent.p_childexit.signal();
    if woken.heir {
        heir.p_childexit.signal();
    }
    if woken.reaper {
        PROC0.p_childexit.signal();
    }
}

/// Whose waits a move of children ([`give_child`]) must wake: the heir's, for a
/// zombie it adopted, and the reaper's, for an orphan zombie.
#[derive(Default)]
struct Woken {
    heir: bool,
    reaper: bool,
}

impl Woken {
    fn note(&mut self, w: Woken) {
        self.heir |= w.heir;
        self.reaper |= w.reaper;
    }
}

/// Gives `c`, a child whose parent has left it, to `heir`: `init`, which reaps it
/// as its own child (a zombie already is reported to it with SIGCHLD, as its
/// exit would have been), or proc 0, whose reaper reaps it as an orphan. Under
/// `PIDLOCK`.
fn give_child(heir: &'static Proc, c: &'static Proc) -> Woken {
    adopt(heir, c);
    let (zombie, status) = {
        let ps = c.p_lock.lock();
        (ps.p_stat == PStat::Zombie, ps.p_exitstatus)
    };
    if is_proc0(heir) {
        c.p_orphan.store(true, Ordering::Relaxed);
        return Woken { heir: false, reaper: zombie };
    }
    if zombie {
        signal::sigchld_on_exit(heir, c.pid(), status);
    }
    Woken { heir: zombie, reaper: false }
}

/// Waits for child `which` (or, with `None`, any child) of the current process (of
/// proc 0 in a kernel thread) to become a zombie, reaps it, and returns its pid and
/// exit status. Orphans are the reaper's: a kernel thread does not see them.
///
/// Errors: `ECHILD` if there is no such child (none at all, or `which` is not one);
/// `EINTR` if a signal the LWP catches interrupts the wait.
pub fn proc_wait(which: Option<Pid>) -> Result<(Pid, i32), Errno> {
    proc_waitid(which, WaitOpts::EXITED)
}

/// Waits for child `which` (or any child) of the current process to do one of
/// the things `opts` names — exit (it is reaped), stop, or continue after a stop
/// (each reported once) — and returns its pid and the [`WaitStatus`] word. With
/// [`WaitOpts::NOHANG`] it does not wait: pid 0 if no such child had done any.
///
/// Errors as [`proc_wait`]; `EINVAL` if `opts` names nothing to wait for.
pub fn proc_waitid(which: Option<Pid>, opts: WaitOpts) -> Result<(Pid, i32), Errno> {
    if (opts - WaitOpts::NOHANG).is_empty() {
        return Err(Errno::EINVAL);
    }
    let me = curproc().unwrap_or(&PROC0);
    let want = |c: &Proc| which.is_none_or(|w| w == c.pid()) && !c.p_orphan.load(Ordering::Relaxed);
    reap_child(me, opts, want)
}

/// Waits for a child of `me` that `want` accepts to do what `opts` names (see
/// [`proc_waitid`]): reaps it if it exited. `ECHILD` if `want` accepts none of them.
fn reap_child(
    me: &'static Proc,
    opts: WaitOpts,
    want: impl Fn(&Proc) -> bool,
) -> Result<(Pid, i32), Errno> {
    loop {
        let seen = me.p_childexit.snapshot();
        {
            let mut tbl = PIDLOCK.lock();
            let mut any = false;
            let mut found = None;
            for c in children(me).filter(|c| want(c)) {
                any = true;
                let mut ps = c.p_lock.lock();
                if ps.p_stat == PStat::Zombie {
                    if opts.contains(WaitOpts::EXITED) {
                        found = Some((c, ps.p_exitstatus, Some(reaped_usage(&ps))));
                        break;
                    }
                } else if let Some(status) = signal::job_report(&mut ps.p_sig, opts) {
                    found = Some((c, status.raw(), None));
                    break;
                }
            }
            if let Some((c, status, reaped)) = found {
                let pid = c.pid();
                if let Some(u) = reaped {
                    me.p_lock.lock().p_cru.add(&u);
                    tbl.remove(c);
                    drop(tbl);
                    proc_free(c);
                }
                return Ok((pid, status));
            }
            if !any {
                return Err(Errno::ECHILD);
            }
            if opts.contains(WaitOpts::NOHANG) {
                return Ok((Pid(0), 0));
            }
        }
        if !me.p_childexit.wait(seen) {
            lwp::stop::wait_interrupted()?;
        }
    }
}

/// What a reaped zombie whose state is `ps` adds to its parent's children's usage:
/// its own, and its reaped children's (S5.4, as Solaris' `freeproc`).
fn reaped_usage(ps: &ProcState) -> LwpUsage {
    let mut u = ps.p_ru;
    u.add(&ps.p_cru);
    u
}

/// The reaper: a kernel thread (S2) that reaps orphans, the zombies whose parent
/// exited before them, as they appear. Started at boot.
pub fn reaper(_: usize) {
    loop {
        let seen = PROC0.p_childexit.snapshot();
        let orphan = |c: &Proc| c.p_orphan.load(Ordering::Relaxed);
        let zombie = |c: &Proc| orphan(c) && c.stat() == PStat::Zombie;
        while reap_child(&PROC0, WaitOpts::EXITED, zombie).is_ok() {}
        // A kernel thread's wait is never interrupted: it has no LWP to signal,
        // stop or end.
        let _ = PROC0.p_childexit.wait(seen);
    }
}
