//! What each process carries for schedctl (`Proc::p_sc`): its shared pages and
//! the counts of its pool of LWPs. Kept by `schedctl`; below the process
//! structure that holds it.

use core::sync::atomic::{AtomicU32, Ordering};

use arch::kmem::Shared;
use arch::Machine;
use lwp_abi::{SC_POOL_AWAKE, SC_POOL_LWPS};

use super::tstate::SharedPage;
use crate::displock::DispLock;
use crate::sync::Mutex;
use crate::M;

/// A process's schedctl state.
pub(crate) struct ScProc {
    /// The pages mapped so far, by number from `SC_BASE`.
    pub(super) pages: Mutex<alloc::vec::Vec<Option<Shared<SharedPage>>>>,
    /// Page 0, where the process's `ScProc` is: the sleep path writes the counts.
    pub(super) header: DispLock<Option<Shared<SharedPage>>>,
    /// LWPs that said `SC_POOL`, and of them those not asleep in the kernel.
    pub(super) pool_lwps: AtomicU32,
    pub(super) pool_awake: AtomicU32,
    /// The id of the LWP to unpark when `pool_awake` falls to 0 (0: none).
    pub(super) waiting: AtomicU32,
}

impl ScProc {
    pub(crate) const fn new() -> ScProc {
        ScProc {
            pages: Mutex::new(alloc::vec::Vec::new()),
            header: DispLock::new(None),
            pool_lwps: AtomicU32::new(0),
            pool_awake: AtomicU32::new(0),
            waiting: AtomicU32::new(0),
        }
    }

    /// Shows the counts in the process's `ScProc`.
    pub(super) fn publish(&self) {
        if let Some(page) = &*self.header.lock() {
            M::shared_store(page, SC_POOL_LWPS as usize, self.pool_lwps.load(Ordering::SeqCst));
            M::shared_store(page, SC_POOL_AWAKE as usize, self.pool_awake.load(Ordering::SeqCst));
        }
    }

    pub(super) fn one_awake(&self) {
        self.pool_awake.fetch_add(1, Ordering::SeqCst);
        self.publish();
    }
}
