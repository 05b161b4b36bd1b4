//! Credentials (S1): who a process acts for — its real, effective and saved user
//! and group ids (Solaris' `cred_t`, the process's `p_cred`).
//!
//! # Theory
//!
//! A process's credentials are one [`Cred`], shared by all its LWPs: every LWP
//! reads the same one, and a change (`setuid`, `setgid`) replaces it as a whole
//! under the process's credential lock, so that no LWP ever sees half of a change.
//! Solaris keeps `p_cred` as a pointer to a reference-counted structure and
//! copies it on write (`crdup`); here a `Cred` is six words, and it is copied by
//! value, which is the same copy on write without a heap block to count.
//!
//! Where credentials come from: processes the kernel starts run as root (uid and
//! gid 0) unless the kernel says otherwise ([`Cred::user`]); a process made by
//! another inherits its creator's credentials ([`crdup`], which `proc` calls for
//! every child it makes, and which `fork` calls too).
//!
//! Where they are checked, each by the rule of its place: sending a signal to
//! another process ([`hasprocperm`]: POSIX's rule, in `signal`), changing one's own
//! ids ([`setuid`], [`setgid`]), putting an LWP in the RT class or replacing the TS
//! table (`priocntl`: [`Cred::is_root`]). Privilege is an effective uid of 0, as
//! in traditional UNIX (Solaris' privilege sets are not modelled).

use crate::errno::Errno;
use crate::proc::{Proc, PROC0};
use crate::thread::curproc;

pub(crate) mod pstate;
pub use pstate::{hasprocperm, Cred, Id, MAXUID};

/// The credentials of `p` now.
pub fn crget(p: &Proc) -> Cred {
    *p.p_cred.lock()
}

/// The credentials of the calling LWP's process (a kernel thread acts for proc 0,
/// which is root).
pub fn curcred() -> Cred {
    crget(curproc().unwrap_or(&PROC0))
}

/// A child made by `fork` acts for its parent's credentials.
pub(crate) fn fork_inherit(parent: &Proc, child: &Proc) {
    *child.p_cred.lock() = crdup(parent);
}

/// What a process made by `parent` starts with: a copy of its credentials.
pub fn crdup(parent: &Proc) -> Cred {
    crget(parent)
}

/// Replaces the credentials of `p` whole with what `change` makes of them, or
/// leaves them if it refuses.
fn crchange(p: &Proc, change: impl FnOnce(Cred) -> Result<Cred, Errno>) -> Result<(), Errno> {
    let mut cr = p.p_cred.lock();
    *cr = change(*cr)?;
    Ok(())
}

/// The effective, real and saved ids (of users or of groups) after a change to
/// `id` from `real` and `saved`: root sets all three, anyone else only the
/// effective one, and only to its real or saved id.
fn setid(root: bool, id: u64, real: Id, saved: Id) -> Result<[Id; 3], Errno> {
    let id = Id::try_from(id).ok().filter(|&id| id <= MAXUID).ok_or(Errno::EINVAL)?;
    if root {
        Ok([id; 3])
    } else if id == real || id == saved {
        Ok([id, real, saved])
    } else {
        Err(Errno::EPERM)
    }
}

/// `setuid(uid)`: root sets the real, effective and saved uids; any other process
/// sets its effective uid to its real or saved one.
///
/// Errors: `EINVAL` for an id above [`MAXUID`]; `EPERM` for any other change.
pub fn setuid(uid: u64) -> Result<(), Errno> {
    crchange(curproc().ok_or(Errno::EINVAL)?, |c| {
        let [e, r, s] = setid(c.is_root(), uid, c.cr_ruid, c.cr_suid)?;
        Ok(Cred { cr_uid: e, cr_ruid: r, cr_suid: s, ..c })
    })
}

/// `setgid(gid)`: as [`setuid`], for the group ids; the privilege is still the
/// effective uid's.
pub fn setgid(gid: u64) -> Result<(), Errno> {
    crchange(curproc().ok_or(Errno::EINVAL)?, |c| {
        let [e, r, s] = setid(c.is_root(), gid, c.cr_rgid, c.cr_sgid)?;
        Ok(Cred { cr_gid: e, cr_rgid: r, cr_sgid: s, ..c })
    })
}
