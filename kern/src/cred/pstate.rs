//! What each process carries for its credentials (`Proc::p_cred`): a [`Cred`], and
//! the rule that compares two of them. Kept by `cred`; below the process
//! structure that holds it.

/// A user or group id.
pub type Id = u32;

/// The largest id a process may take (Solaris' `MAXUID`).
pub const MAXUID: Id = 2_147_483_646;

/// A process's credentials (`cred_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cred {
    /// The effective user id: the one privilege and permissions look at.
    pub cr_uid: Id,
    /// The real user id: who started the process.
    pub cr_ruid: Id,
    /// The saved user id: an effective id the process may take back.
    pub cr_suid: Id,
    /// The effective group id.
    pub cr_gid: Id,
    /// The real group id.
    pub cr_rgid: Id,
    /// The saved group id.
    pub cr_sgid: Id,
}

impl Cred {
    /// The superuser's: every id 0.
    pub const ROOT: Cred = Cred::user(0, 0);

    /// A user's: `uid` and `gid` as real, effective and saved ids.
    pub const fn user(uid: Id, gid: Id) -> Cred {
        Cred { cr_uid: uid, cr_ruid: uid, cr_suid: uid, cr_gid: gid, cr_rgid: gid, cr_sgid: gid }
    }

    /// Whether it is privileged: an effective uid of 0.
    pub fn is_root(&self) -> bool {
        self.cr_uid == 0
    }
}

/// Whether a process acting for `sender` may signal one acting for `target`
/// (POSIX; Solaris' `hasprocperm`): root may signal anyone; anyone else a process
/// whose real or saved uid is its own real or effective uid.
pub fn hasprocperm(sender: &Cred, target: &Cred) -> bool {
    sender.is_root()
        || [sender.cr_ruid, sender.cr_uid]
            .iter()
            .any(|&u| u == target.cr_ruid || u == target.cr_suid)
}
