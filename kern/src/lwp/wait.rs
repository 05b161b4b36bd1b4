//! `lwp_wait`: waiting for an LWP of one's own process to exit, and reaping it.
//!
//! # Theory
//!
//! As Solaris' `lwp_wait`: a waiter for a given id takes that zombie; a waiter for
//! any takes a zombie that no LWP waits for by id. Detached LWPs are never waited
//! for. A wait that could never end is refused with `EDEADLK`:
//!
//! * waiting for oneself, or for an LWP that (through a chain of `lwp_wait`s for
//!   given ids) waits for oneself;
//! * waiting for any when every live LWP of the process is itself in `lwp_wait` and
//!   no zombie is there for the taking: nobody is left to exit. A waiter for a given
//!   id whose chain ends at such a waiter for any wakes it, so that it sees this.
//!
//! An LWP stopped in its wait is not counted as waiting (Solaris leaves the call,
//! to restart it after the stop); it registers again when continued. A wait for a
//! given id names one LWP for its whole life: the first look notes which LWP has
//! the id (its directory entry's `le_gen`), and if that one is reaped by another
//! waiter while this one is stopped and a new LWP is given the same id meanwhile,
//! the wait ends with `ESRCH` instead of taking the newcomer.

use super::dir::{LwpDir, Waitfor};
use super::{current, LwpId};
use crate::errno::Errno;

/// What one look at the directory decided.
enum Look {
    Done(Result<LwpId, Errno>),
    /// Sleep; first wake the waiters for any if one of them should see a deadlock.
    Sleep {
        wake_any: bool,
    },
}

/// Waits for LWP `which` (or, with `None`, any LWP not detached) of the current
/// process to exit, reaps it (its id may then be reused, S15), and returns its id.
///
/// Errors: `ESRCH` if there is no LWP `which` in this process (ids of other
/// processes are unknown here, S15) or another waiter took it first; `EINVAL` if it
/// is detached (Solaris' choice; once a detached LWP has exited it is gone: `ESRCH`);
/// `EDEADLK` if the wait could never end (see the module comment); `EINTR` if a
/// signal the LWP catches interrupts it; `EINVAL` in a kernel thread.
pub fn lwp_wait(which: Option<LwpId>) -> Result<LwpId, Errno> {
    let (_, lwp, p) = current()?;
    let me = lwp.id();
    let waitfor = which.map_or(Waitfor::Any, Waitfor::Lwp);
    // Which LWP `which` names, once seen (see the module comment).
    let mut target = None;
    loop {
        let mut seen = p.p_lwpexit.snapshot();
        let look = {
            let mut ps = p.p_lock.lock();
            let dir = &mut ps.p_lwpdir;
            dir.wait_begin(me, waitfor);
            let look = look(dir, me, which, &mut target);
            if matches!(look, Look::Done(_)) {
                dir.wait_end(me);
            }
            look
        };
        match look {
            Look::Done(r) => return r,
            Look::Sleep { wake_any: false } => {}
            Look::Sleep { wake_any: true } => {
                // Its own signal must not end this waiter's sleep: if nothing else
                // was signalled since `seen`, wait for what comes after.
                if p.p_lwpexit.signal() == seen + 1 {
                    seen += 1;
                }
            }
        }
        if !p.p_lwpexit.wait(seen) {
            p.p_lock.lock().p_lwpdir.wait_end(me);
            super::stop::wait_interrupted()?;
        }
    }
}

/// One look for what LWP `me`, registered as waiting for `which`, can take; under
/// `p_lock`. `target` is which LWP `which` names, once a look has seen it.
fn look(dir: &mut LwpDir, me: LwpId, which: Option<LwpId>, target: &mut Option<u64>) -> Look {
    match (dir.get(me).map(|e| e.le_waitfor), which) {
        (Some(Waitfor::Gone), _) => Look::Done(Err(Errno::ESRCH)),
        (_, Some(id)) => look_for(dir, me, id, target),
        (_, None) => look_any(dir),
    }
}

fn look_for(dir: &mut LwpDir, me: LwpId, id: LwpId, gen: &mut Option<u64>) -> Look {
    let Some(target) = dir.get(id) else { return Look::Done(Err(Errno::ESRCH)) };
    if *gen.get_or_insert(target.le_gen) != target.le_gen {
        // The LWP waited for is gone; another has its id now.
        return Look::Done(Err(Errno::ESRCH));
    }
    if target.le_live.is_none() {
        dir.reap(id);
        return Look::Done(Ok(id));
    }
    if target.le_detached {
        return Look::Done(Err(Errno::EINVAL));
    }
    // Follow the chain of waits for given ids. The directory's size bounds it: a
    // chain longer than that would be a cycle, which this check never lets form.
    let mut cur = id;
    for _ in 0..=dir.len() {
        if cur == me {
            return Look::Done(Err(Errno::EDEADLK));
        }
        match dir.get(cur).map(|e| e.le_waitfor) {
            Some(Waitfor::Lwp(next)) if dir.live(next).is_some() => cur = next,
            Some(Waitfor::Any) => return Look::Sleep { wake_any: all_waiting(dir) },
            _ => return Look::Sleep { wake_any: false },
        }
    }
    Look::Done(Err(Errno::EDEADLK))
}

fn look_any(dir: &mut LwpDir) -> Look {
    let free = dir.zombies().find(|&(_, waiters)| waiters == 0).map(|(id, _)| id);
    if let Some(id) = free {
        dir.reap(id);
        return Look::Done(Ok(id));
    }
    if all_waiting(dir) {
        return Look::Done(Err(Errno::EDEADLK));
    }
    Look::Sleep { wake_any: false }
}

/// Every live LWP is in `lwp_wait` and no zombie is left for any waiter: unless one
/// of them gives up, none can ever return.
fn all_waiting(dir: &LwpDir) -> bool {
    dir.zombcnt() == 0 && dir.lwpcnt() == dir.lwpwait()
}
