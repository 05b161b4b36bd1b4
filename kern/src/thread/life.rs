//! A kernel thread's life (S2): made runnable, started on its own stack, ended.
//! Above the dispatcher, which it hands threads to and takes them from; the thread
//! structure and its cache are `thread`, below it.

use arch::Machine;

use super::{curthread, thread_alloc, KThread, ThreadState};
use crate::class::table::{SchedClass, SYS_PRI};
use crate::errno::Errno;
use crate::{disp, M};

/// Creates a kernel thread (S2) in the SYS class that runs `func(arg)`, and makes it
/// runnable. When `func` returns, the thread exits.
/// For the kernel's own threads: panics if the thread cannot be made (see
/// [`thread_create_stopped`] for the fallible way).
pub fn thread_create(name: &'static str, func: fn(usize), arg: usize) -> &'static KThread {
    let t = thread_create_bound(name, func, arg, SchedClass::Sys, SYS_PRI, None);
    disp::setrun(t);
    t
}

/// Creates a thread of `class` at global priority `pri` that will run `func(arg)`,
/// but leaves it out of the run queues: the caller attaches what it needs (an LWP,
/// a binding) and then calls [`disp::setrun`] (or gives it back with `thread::discard`).
///
/// Errors: `EAGAIN` beyond the system's thread limit (`rctl`), `ENOMEM` when there
/// is no memory for it; nothing is left behind.
pub fn thread_create_stopped(
    name: &'static str,
    func: fn(usize),
    arg: usize,
    class: SchedClass,
    pri: u8,
) -> Result<&'static KThread, Errno> {
    let t = thread_alloc(name, thread_start)?;
    t.set_class(class, pri);
    t.set_start(func, arg);
    Ok(t)
}

/// Like [`thread_create_stopped`], and bound to CPU `cpu` if given (processor
/// binding): the dispatcher runs it on that CPU and on no other. A running thread
/// binds itself with [`disp::thread_bind`]. For the kernel's own threads: panics,
/// naming the thread, if it cannot be made.
pub fn thread_create_bound(
    name: &'static str,
    func: fn(usize),
    arg: usize,
    class: SchedClass,
    pri: u8,
    cpu: Option<usize>,
) -> &'static KThread {
    let t = thread_create_stopped(name, func, arg, class, pri)
        .unwrap_or_else(|e| panic!("kernel thread '{name}' cannot be made: {e}"));
    t.set_bound(cpu);
    t
}

/// Where every thread made by `thread_create` begins, on its own stack.
fn thread_start(_: usize) -> ! {
    disp::switch_done();
    M::intr_restore(true);
    let start = curthread().take_start();
    if let Some((func, arg)) = start {
        func(arg);
    }
    thread_exit()
}

/// Ends the current thread. Its structure is reaped once the switch away from its
/// stack is complete.
pub fn thread_exit() -> ! {
    M::intr_disable();
    curthread().set_state(ThreadState::Zombie);
    disp::swtch(disp::Prev::Reap);
    unreachable!("a zombie thread was switched back in")
}
