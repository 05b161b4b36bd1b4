//! Processes (S1): the container of LWPs.
//!
//! A process holds what its LWPs share: the address space, resources, credentials
//! and signal dispositions. Here it is the identity every LWP points back to
//! (`curproc`, S7).

use core::sync::atomic::{AtomicU32, Ordering};

/// A process.
#[derive(Debug)]
pub struct Proc {
    /// Process id.
    pub p_pid: u32,
}

static NEXT_PID: AtomicU32 = AtomicU32::new(1);

impl Proc {
    /// A new process with a fresh id.
    pub fn new() -> Proc {
        Proc { p_pid: NEXT_PID.fetch_add(1, Ordering::Relaxed) }
    }
}

impl Default for Proc {
    fn default() -> Self {
        Self::new()
    }
}
