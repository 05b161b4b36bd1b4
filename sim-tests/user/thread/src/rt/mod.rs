//! The library's runtime on sparc64: threads and their pool, the switch, and the
//! synchronization objects (see the crate's documentation).

mod calls;
mod sched;
mod sleepq;
mod stats;
mod switch;
mod sync;
mod sys;
mod thread;

pub use calls::{
    create, detach, get_specific, init, join, key_create, self_id, set_specific, stksegment, Key,
    THR_BOUND, THR_DETACHED,
};
pub use sched::{concurrency, exit, set_concurrency, yield_now};
pub use stats::{Stats, STATS};
pub use switch::switch_code;
pub use sync::{Cond, LwpLock, Mutex, RwLock, Sema};
pub use thread::{ThreadId, GUARD_SIZE, MAX_LWPS, MAX_THREADS, NKEYS, STACK_SIZE};
