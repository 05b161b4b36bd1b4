//! Limits and failures of creation (S16: "bad parameters get an error code, never a
//! kernel crash", also when a hostile program repeats good ones): LWPs, processes and threads are made only within `kern::rctl`'s limits
//! (`EAGAIN` beyond, zombies counting for their process), and a creation that runs
//! out of memory at any of its allocations fails with `ENOMEM`/`EAGAIN` and leaves
//! nothing behind (`kern::kmem::fail_nth` makes each allocation fail in turn).

use alloc::format;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use crate::{each_allocation_fails, ensure, ensure_eq, wait_for, TestResult};
use kern::errno::Errno;
use kern::lwp::{lwp_continue, lwp_create, lwp_wait, LwpFlags, LwpId};
use kern::proc::life::{proc_create, proc_wait};
use kern::rctl::{self, Limits};
use kern::thread::{self, ThreadState};
use kern::{class, lwp, proc, swap};

use super::{hold_until, in_process, return_at_once, spawn, this_proc, GO};

/// Runs `f` under limits `change` makes of the ones in force, putting them back
/// whatever `f` says.
pub(crate) fn with_limits(
    change: impl FnOnce(&mut Limits),
    f: impl FnOnce() -> TestResult,
) -> TestResult {
    let mut l = rctl::limits();
    change(&mut l);
    let old = rctl::set(l);
    let r = f();
    rctl::set(old);
    r
}

/// Creates LWPs with `flags` running `func` until one is refused; the ids made and
/// the error.
fn create_until_refused(func: fn(usize), arg: usize, flags: LwpFlags) -> (Vec<LwpId>, Errno) {
    let mut made = Vec::new();
    loop {
        match this_proc().map(|p| lwp_create(p, func, arg, flags)) {
            Ok(Ok(id)) => made.push(id),
            Ok(Err(e)) => return (made, e),
            Err(_) => return (made, Errno::EINVAL),
        }
    }
}

const PER_PROC: u32 = 8;

fn per_process_body() -> TestResult {
    GO.store(0, Ordering::SeqCst);
    // Live LWPs: with LWP 1, PER_PROC in all.
    let (held, e) = create_until_refused(hold_until, 1, LwpFlags::SUSPENDED);
    ensure_eq!((held.len() as u32, e), (PER_PROC - 1, Errno::EAGAIN));
    for &id in &held {
        ensure_eq!(lwp_continue(id), Ok(()));
    }
    GO.store(1, Ordering::SeqCst);
    for &id in &held {
        ensure_eq!(lwp_wait(Some(id)), Ok(id));
    }
    // Zombies count too: LWPs that exit and are never waited for fill the directory.
    let (zombies, e) = create_until_refused(return_at_once, 0, LwpFlags::empty());
    ensure_eq!((zombies.len() as u32, e), (PER_PROC - 1, Errno::EAGAIN));
    let p = this_proc()?;
    wait_for("the LWPs to exit", 5, || p.zombcnt() == PER_PROC - 1)?;
    ensure_eq!(
        spawn(return_at_once, 0, LwpFlags::empty()).err(),
        Some(format!("lwp_create: {}", Errno::EAGAIN))
    );
    // One waited for: one place free again.
    let gone = lwp_wait(None).map_err(|e| format!("lwp_wait: {e}"))?;
    let again = spawn(return_at_once, 0, LwpFlags::empty())?;
    ensure_eq!(again, gone);
    // Detached LWPs leave no zombie: they never fill the directory.
    for _ in 0..3 * PER_PROC {
        while lwp_wait(None).is_ok() {}
        spawn(return_at_once, 0, LwpFlags::DETACHED)?;
    }
    while lwp_wait(None).is_ok() {}
    Ok(())
}

/// A process gets at most `lwps_per_proc` LWPs, zombies included (`EAGAIN` beyond,
/// and the process goes on); waiting for one makes room again; detached LWPs never
/// fill it.
pub(super) fn lwp_limit_per_process() -> TestResult {
    with_limits(|l| l.lwps_per_proc = PER_PROC, || in_process(per_process_body))
}

fn system_body() -> TestResult {
    GO.store(0, Ordering::SeqCst);
    let (held, e) = create_until_refused(hold_until, 1, LwpFlags::empty());
    ensure_eq!(e, Errno::EAGAIN);
    ensure_eq!(held.len(), 3);
    GO.store(1, Ordering::SeqCst);
    for &id in &held {
        ensure_eq!(lwp_wait(Some(id)), Ok(id));
    }
    Ok(())
}

/// All processes together get at most `max_lwps` LWPs, and threads of any kind at
/// most `max_threads`: beyond them creation is refused with `EAGAIN`.
pub(super) fn lwp_and_thread_limits_system_wide() -> TestResult {
    // This process's LWP 1 and three more.
    let room = lwp::nlwps() + 4;
    with_limits(|l| l.max_lwps = room, || in_process(system_body))?;
    let limit = thread::nthreads() + 2;
    with_limits(
        |l| l.max_threads = limit,
        || {
            // Threads of earlier tests may still end meanwhile: make threads until
            // one is refused, and check the count stood at the limit then.
            let mut made = Vec::new();
            let refused = loop {
                let t = thread::life::thread_create_stopped(
                    "t",
                    return_at_once,
                    0,
                    class::SchedClass::Sys,
                    class::SYS_PRI,
                );
                match t {
                    Ok(t) if made.len() < 64 => made.push(t),
                    Ok(t) => {
                        made.push(t);
                        break None;
                    }
                    Err(e) => break Some((e, thread::nthreads())),
                }
            };
            for &t in &made {
                kern::disp::setrun(t);
            }
            ensure!(made.len() >= 2, "threads under the limit were refused");
            ensure_eq!(refused, Some((Errno::EAGAIN, limit)));
            Ok(())
        },
    )
}

/// Processes, zombies included, are limited to `max_procs`: beyond, `proc_create`
/// is refused with `EAGAIN` and nothing is left; reaping one makes room again.
pub(super) fn proc_limit() -> TestResult {
    let room = proc::nprocs() + 3;
    with_limits(
        |l| l.max_procs = room,
        || {
            let made: Vec<_> = (0..3).map(|_| proc_create(return_at_once, 0)).collect();
            ensure!(made.iter().all(Result::is_ok), "processes under the limit: {made:?}");
            ensure_eq!(proc_create(return_at_once, 0), Err(Errno::EAGAIN));
            let (first, _) = proc_wait(None).map_err(|e| format!("proc_wait: {e}"))?;
            ensure!(made.contains(&Ok(first)), "reaped {first}, not one of ours");
            let again = proc_create(return_at_once, 0).map_err(|e| format!("proc_create: {e}"))?;
            for _ in 0..3 {
                proc_wait(None).map_err(|e| format!("proc_wait: {e}"))?;
            }
            ensure_eq!(proc_wait(Some(again)), Err(Errno::ECHILD));
            Ok(())
        },
    )
}

fn alloc_failure_body() -> TestResult {
    GO.store(1, Ordering::SeqCst);
    let p = this_proc()?;
    let live = lwp::nlwps();
    let n = each_allocation_fails(
        "lwp_create",
        || lwp_create(p, return_at_once, 0, LwpFlags::empty()),
        |id| {
            ensure_eq!(lwp_wait(Some(id)), Ok(id));
            // Waited for, it may still be on its way out: its handle goes to the cache
            // with its `lwp` structure, for the next LWP, as it is freed. Once it is,
            // the next census gives the structure back.
            wait_for("the LWP to be freed", 5, || lwp::nlwps() <= live)
        },
    )?;
    // Its frame and `lwp` structure at least (its stack too, unless a thread reaped
    // meanwhile brought one back to the cache).
    ensure!(n >= 2, "an LWP took only {n} allocations");
    Ok(())
}

/// Each allocation of LWP, process and thread creation, made to fail in turn: the
/// call fails cleanly and nothing leaks (S16). With the swapper's swapping off: an
/// LWP creation that finds no memory otherwise has it make room and tries again
/// (`swap::reclaim`), past the one failure made here.
pub(super) fn creation_survives_each_allocation_failure() -> TestResult {
    let old = swap::set_mode(swap::Mode::Off);
    let r = each_creation_fails_cleanly();
    swap::set_mode(old);
    r
}

fn each_creation_fails_cleanly() -> TestResult {
    in_process(alloc_failure_body)?;
    each_allocation_fails(
        "proc_create",
        || proc_create(return_at_once, 0),
        |pid| {
            ensure_eq!(proc_wait(Some(pid)).map(|(p, _)| p), Ok(pid));
            Ok(())
        },
    )?;
    each_allocation_fails(
        "thread_create_stopped",
        || {
            thread::life::thread_create_stopped(
                "t",
                return_at_once,
                0,
                class::SchedClass::Sys,
                class::SYS_PRI,
            )
        },
        |t| {
            kern::disp::setrun(t);
            let tid = t.id();
            wait_for("the thread to be reaped", 5, || {
                t.id() != tid || t.state() == ThreadState::Free
            })
        },
    )?;
    Ok(())
}

/// A heap that runs short takes back what the caches hold before it refuses: with
/// stacks of exited threads in the thread cache, allocating the heap full leaves
/// none there (the allocator ran the kernel's reclaim), and every block is given
/// back afterwards.
pub(super) fn heap_short_takes_back_cached_stacks() -> TestResult {
    // Threads that exit at once leave their stacks in the cache.
    let made: Vec<_> = (0..4)
        .map(|_| {
            thread::life::thread_create_stopped(
                "t",
                return_at_once,
                0,
                class::SchedClass::Sys,
                class::SYS_PRI,
            )
        })
        .collect::<Result<_, _>>()
        .map_err(|e| format!("thread_create_stopped: {e}"))?;
    for &t in &made {
        kern::disp::setrun(t);
    }
    wait_for("the threads to be reaped", 5, || {
        made.iter().all(|t| t.state() == ThreadState::Free)
    })?;
    ensure!(thread::cached_stacks() > 0, "no stack in the thread cache to take back");
    // The heap full, in blocks a stack's size (each allocation may fail: none panics).
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    blocks.try_reserve(4096).map_err(|_| "no room for the list of blocks")?;
    // A thread of another test may exit, and cache its stack, after the allocation
    // that failed: the next allocation must take that one back too, and succeed.
    let mut refused = 0;
    while blocks.len() < blocks.capacity() && refused < 2 {
        let mut b = Vec::new();
        if b.try_reserve_exact(32 * 1024).is_err() {
            refused = if thread::cached_stacks() == 0 { 2 } else { refused + 1 };
            continue;
        }
        blocks.push(b);
    }
    let left = thread::cached_stacks();
    drop(blocks);
    ensure_eq!(left, 0);
    Ok(())
}
