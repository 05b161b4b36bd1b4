//! Signals in the LWP model (S10–S15, S5.3, S5.5, S6): who holds what, how a
//! signal finds an LWP, and how it is taken — by a handler in user mode, or by its
//! default action.
//!
//! # Theory
//!
//! **Where the state lives.** What a process does with each signal (its
//! disposition: default, ignore or a handler, with `sa_flags` and the mask held
//! while the handler runs) is one table in the process, shared by all its LWPs
//! (S10: [`ProcSig::act`]), beside the set of signals pending on the process as a
//! whole (`Proc::p_sigpend`, S14) and what each is about. Each LWP has its own
//! mask and its own pending set (S11), in its kernel thread (`t_hold`, `t_sig`):
//! deciding which LWP may take a signal never needs an `lwp` structure, which may
//! be swapped out (S6). The LWP's alternate stack (S12), the signal being
//! delivered and its `siginfo` (`lwp_cursig`, `lwp_curinfo`), and its interval
//! timers of user and system time are in its `lwp` structure (S5.3, S5.5); the
//! process's real-time timer (`ITIMER_REAL`, `alarm`) is the process's, with a
//! callout of its own. All of it changes under the process's `p_lock`, but for an
//! LWP's own mask, which it changes alone (`take::set_mask`: a fence on its side
//! and on the sender's makes each see the other's change).
//!
//! **Sending** ([`post`]: Solaris' `sigtoproc`). A signal for an LWP (a trap it
//! caused, S13; `_lwp_kill`, which names LWPs of the caller's own process only,
//! S15; its own timers) joins that LWP's pending set. A signal for the process
//! (`kill`, `sigqueue`, `alarm`, a child's SIGCHLD) joins the process's set, and
//! one LWP that does not mask it is chosen to notice it (S14): one waiting for it
//! in `sigtimedwait`, else the sender itself, else one running, one asleep in an
//! interruptible wait (it is woken), one runnable, in that order. The chosen LWP
//! gets the `SIG` bit of its pending-work word (`thread::pending`), which the
//! machine tests on every return to user mode; a running one on another CPU is
//! poked, so that it looks at once. While every LWP masks the signal it stays on
//! the process, and whichever LWP unmasks it first takes it: every change of a
//! mask looks at what it unmasked. A signal that the disposition ignores is
//! discarded as it is sent. Some signals act as they are sent, on every LWP:
//! SIGKILL ends the process (each LWP at its next stop point, sleeping ones woken,
//! stopped ones set running), a stop signal taking its default action stops every
//! LWP (job control: `JOBSTOP` at the next stop point), SIGCONT continues them.
//!
//! **Taking** ([`take`]: Solaris' `issig`/`psig`). An LWP takes a signal on its
//! way back to user mode (the pending-work word), or when an interruptible wait
//! is interrupted: the lowest-numbered signal pending on it or its process that it
//! does not mask. One that is ignored is dropped; one whose default action stops,
//! stops the process; one whose default action ends it, ends it; a caught one
//! becomes the signal being delivered (`lwp_cursig`), and an interrupted system
//! call returns EINTR (or is restarted, with `SA_RESTART`). Delivery ([`frame`]:
//! Solaris' `sendsig`) flushes the LWP's register windows to its stack, writes a
//! `ucontext_t` (registers, the mask to restore, the stack) and, with
//! `SA_SIGINFO`, a `siginfo_t` below the interrupted stack pointer or on the
//! alternate stack, and points the registers at the handler with `(sig, &siginfo,
//! &ucontext)`; the handler returns through `setcontext`, which puts every
//! register back, the mask too. (Windows that cannot be written to the stack as it
//! is flushed go into the frame, `uc_mcontext.gwins`, and back to the machine's
//! window buffer with `setcontext`: a stack-overflow handler on an alternate stack
//! can run, and return once it has made the stack usable.) A trap
//! signal goes to the LWP that caused it even if it masks or ignores it: then its
//! default action is taken (S13, as Solaris does, since the instruction would only
//! fault again).
//!
//! **Memory.** Nothing here allocates: a pending signal is a bit of a set and one
//! `siginfo` slot per signal (the process's in `ProcSig::info`, an LWP's in its
//! handle's `lwp_siginfo`), and `ITIMER_REAL`'s callout is part of the process
//! (arming a callout links it, and cannot fail). So no signal call
//! fails for want of memory, none needs a limit of its own, and nothing is left
//! behind but the callout, which the process's end disarms
//! (`realitimer_cancel`). `sigqueue` does not queue: its value is merged with a
//! pending instance of the signal.

mod calls;
pub(crate) mod data;
mod frame;
mod post;
mod take;
mod timer;
pub mod wire;

pub(crate) use calls::*;
pub use data::*;
pub use frame::{context_stack, on_altstack};
pub use post::{cld_info, kill, lwp_kill, sigqueue};
pub(crate) use post::{
    exec_reset, fork_inherit, job_report, keeps_no_zombies, proc_stopped, sigchld_on_exit,
    tell_parent_stopped,
};
pub(crate) use take::{delivering, issig, issig_in_wait, psig, restartable, trapsig};
pub use take::{sigaction, sigpending, sigprocmask, sigsuspend, sigtimedwait};
pub use timer::{alarm, getitimer, setitimer};
pub(crate) use timer::{itimer_expired, itimer_tick, realitimer_cancel};
