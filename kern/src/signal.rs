//! Signals: the signals that traps raise at the LWP that caused them (S13), and
//! their default actions.
//!
//! A fault in user mode (`arch::Fault`) becomes its signal and `siginfo` code here,
//! recorded in the faulting LWP's `lwp` structure as the signal being delivered
//! (S5.3: `lwp_cursig`, `lwp_curinfo`); a bad system-call number becomes SIGSYS.
//! Delivery to handlers is not implemented, nor are signal masks and the alternate
//! stack (S10–S12, S14): every signal takes its default action, which for the trap
//! signals ends the process with the signal as its wait status (core-dump flag set,
//! no core written). The kernel and every other process go on.

use arch::{Fault, FaultKind};

use crate::lwp::SigInfo;
use crate::proc::{self, WaitStatus, NSIG};
use crate::thread::curlwp;
use lwp_abi::{
    SIGABRT, SIGBUS, SIGCANCEL, SIGCHLD, SIGCONT, SIGEMT, SIGFPE, SIGILL, SIGINFO, SIGJVM1,
    SIGJVM2, SIGLWP, SIGPWR, SIGQUIT, SIGSEGV, SIGSTOP, SIGSYS, SIGTRAP, SIGTSTP, SIGTTIN, SIGTTOU,
    SIGURG, SIGWAITING, SIGWINCH,
};

/// `si_code` values (Solaris' `<sys/machsig.h>`).
pub mod code {
    pub const ILL_ILLOPC: i32 = 1;
    pub const ILL_ILLTRP: i32 = 4;
    pub const ILL_PRVOPC: i32 = 5;
    pub const FPE_INTDIV: i32 = 1;
    pub const TRAP_BRKPT: i32 = 1;
    pub const SEGV_MAPERR: i32 = 1;
    pub const SEGV_ACCERR: i32 = 2;
    pub const BUS_ADRALN: i32 = 1;
}

/// A signal number, `1..NSIG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sig(u8);

impl Sig {
    /// SIGSYS: a bad system call (S13).
    pub const SYS: Sig = Sig(SIGSYS as u8);

    /// The signal numbered `n`, if there is one (0 is not a signal).
    pub fn new(n: u64) -> Option<Sig> {
        (1..NSIG as u64).contains(&n).then_some(Sig(n as u8))
    }

    pub fn num(self) -> u8 {
        self.0
    }

    /// What the signal does when nobody handles it.
    pub fn default_action(self) -> Action {
        match u64::from(self.0) {
            SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGEMT | SIGFPE | SIGBUS | SIGSEGV | SIGSYS => {
                Action::Core
            }
            SIGCHLD | SIGPWR | SIGWINCH | SIGURG | SIGCONT | SIGWAITING | SIGLWP | SIGCANCEL
            | SIGJVM1 | SIGJVM2 | SIGINFO => Action::Ignore,
            // The job-control stop.
            SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => Action::Stop,
            _ => Action::Exit,
        }
    }
}

/// A signal's default action (Solaris' `signal.h(3HEAD)` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// End the process.
    Exit,
    /// End the process, marked as having dumped core.
    Core,
    /// Nothing.
    Ignore,
    /// Stop the process (job control). Not implemented: [`take_default`] does not
    /// stop, and `_lwp_kill` refuses a stop signal (`ENOTSUP`).
    Stop,
}

/// The signal and `siginfo` a user-mode fault raises (S13).
pub fn fault_signal(f: Fault) -> (Sig, SigInfo) {
    let (sig, code) = match f.kind {
        FaultKind::Unmapped | FaultKind::BadStack => (SIGSEGV, code::SEGV_MAPERR),
        FaultKind::Protection => (SIGSEGV, code::SEGV_ACCERR),
        FaultKind::Misaligned => (SIGBUS, code::BUS_ADRALN),
        FaultKind::IllegalInstruction => (SIGILL, code::ILL_ILLOPC),
        FaultKind::PrivilegedInstruction => (SIGILL, code::ILL_PRVOPC),
        FaultKind::DivisionByZero => (SIGFPE, code::FPE_INTDIV),
        FaultKind::Breakpoint => (SIGTRAP, code::TRAP_BRKPT),
        FaultKind::Other(_) => (SIGILL, code::ILL_ILLTRP),
    };
    let sig = Sig(sig as u8);
    (sig, SigInfo { si_signo: sig.0, si_code: code, si_errno: 0, si_addr: f.addr })
}

/// Raises `sig` at the current LWP, which caused it (S13): records it as the
/// signal being delivered and takes its default action. Returns only if that is
/// to ignore it, or to stop (not implemented: see [`Action::Stop`]).
pub fn trap_signal(sig: Sig, info: SigInfo) {
    if let Some(lwp) = curlwp() {
        lwp.with_data(|d| {
            d.lwp_cursig = sig.0;
            d.lwp_curinfo = Some(info);
            d.lwp_ru.nsignals += 1;
        });
    }
    take_default(sig);
}

/// Takes `sig`'s default action in the current LWP's process.
pub fn take_default(sig: Sig) {
    match sig.default_action() {
        Action::Exit => proc::proc_exit_status(WaitStatus::Killed(sig.0), false),
        Action::Core => proc::proc_exit_status(WaitStatus::Killed(sig.0), true),
        Action::Ignore | Action::Stop => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lwp_abi::{SIGCHLD, SIGSTOP, SIGTERM};

    #[test]
    fn faults_raise_their_signals() {
        let at = |kind| fault_signal(Fault { kind, addr: 0x1000 });
        assert_eq!(at(FaultKind::Unmapped).0.num() as u64, SIGSEGV);
        assert_eq!(at(FaultKind::Protection).1.si_code, code::SEGV_ACCERR);
        assert_eq!(at(FaultKind::BadStack).0.num() as u64, SIGSEGV);
        assert_eq!(at(FaultKind::Misaligned).0.num() as u64, SIGBUS);
        assert_eq!(at(FaultKind::IllegalInstruction).0.num() as u64, SIGILL);
        assert_eq!(at(FaultKind::PrivilegedInstruction).1.si_code, code::ILL_PRVOPC);
        assert_eq!(at(FaultKind::DivisionByZero).0.num() as u64, SIGFPE);
        assert_eq!(at(FaultKind::Breakpoint).0.num() as u64, SIGTRAP);
        assert_eq!(at(FaultKind::Unmapped).1.si_addr, 0x1000);
    }

    #[test]
    fn signal_numbers_and_defaults() {
        assert_eq!(Sig::new(0), None);
        assert_eq!(Sig::new(NSIG as u64), None);
        assert_eq!(Sig::new(SIGSEGV).map(Sig::default_action), Some(Action::Core));
        assert_eq!(Sig::new(SIGTERM).map(Sig::default_action), Some(Action::Exit));
        assert_eq!(Sig::new(SIGCHLD).map(Sig::default_action), Some(Action::Ignore));
        assert_eq!(Sig::new(SIGSTOP).map(Sig::default_action), Some(Action::Stop));
    }
}
