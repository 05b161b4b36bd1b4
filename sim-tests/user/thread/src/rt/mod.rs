//! The library's runtime on sparc64: threads and their pool, the switch, and the
//! synchronization objects (see the crate's documentation).

mod sched;
mod sleepq;
mod switch;
mod sync;
mod sys;
mod thread;

pub use sched::{concurrency, set_concurrency, yield_now, Stats, MAX_LWPS, STATS};
pub use switch::switch_code;
pub use sync::{Cond, LwpLock, Mutex, RwLock, Sema};
pub use thread::{
    create, detach, exit, get_specific, init, join, key_create, self_id, set_specific, stksegment,
    Key, ThreadId, GUARD_SIZE, MAX_THREADS, NKEYS, STACK_SIZE, THR_BOUND, THR_DETACHED,
};
