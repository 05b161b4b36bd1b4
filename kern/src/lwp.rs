//! Light-weight processes (S3, S5): a user-level execution context on top of exactly
//! one kernel thread, for the thread's whole life.
//!
//! The `lwp` structure is the swappable half of an LWP's state (S5); the kernel
//! thread keeps the half that must stay resident (S6). The thread points at its
//! LWP (`curlwp`, S7) and the LWP back at the thread and the process (S5.7, S5.8).

use arch::cell::StaticRef;

use crate::proc::Proc;
use crate::thread::KThread;

/// An LWP.
#[derive(Debug)]
pub struct Lwp {
    /// The LWP's id, unique inside its process only (S15).
    pub lwp_id: u32,
    /// Its kernel thread (S5.7).
    pub lwp_thread: StaticRef<KThread>,
    /// Its process (S5.8).
    pub lwp_procp: StaticRef<Proc>,
}

impl Lwp {
    pub fn new(lwp_id: u32) -> Lwp {
        Lwp { lwp_id, lwp_thread: StaticRef::none(), lwp_procp: StaticRef::none() }
    }
}

/// Binds `lwp` of process `p` to thread `t` (which must not be running yet).
pub fn lwp_bind(lwp: &'static Lwp, p: &'static Proc, t: &'static KThread) {
    lwp.lwp_thread.set(Some(t));
    lwp.lwp_procp.set(Some(p));
    t.t_lwp.set(Some(lwp));
    t.t_procp.set(Some(p));
}
