//! The data of signals (S10–S15): numbers, sets, `siginfo`, actions, and the
//! signal state each thread and each process carries (`ThreadSig`, `ProcSig`).
//! Below the structures that hold it; what is done with it is the rest of `signal`.

use core::sync::atomic::{AtomicU64, Ordering};

use arch::{Fault, FaultKind, FloatKind};

use lwp_abi::{
    BUS_ADRALN, FPE_FLTDIV, FPE_FLTINV, FPE_FLTOVF, FPE_FLTRES, FPE_FLTUND, FPE_INTDIV, ILL_ILLOPC,
    ILL_ILLTRP, ILL_PRVOPC, SEGV_ACCERR, SEGV_MAPERR, SIGABRT, SIGBUS, SIGCANCEL, SIGCHLD, SIGCONT,
    SIGEMT, SIGFPE, SIGFREEZE, SIGILL, SIGINFO, SIGJVM1, SIGJVM2, SIGKILL, SIGLWP, SIGPWR, SIGQUIT,
    SIGSEGV, SIGSTOP, SIGSYS, SIGTHAW, SIGTRAP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGWAITING,
    SIGWINCH, SIGXCPU, SIGXFSZ, SIGXRES, TRAP_BRKPT,
};

/// Signals are numbered `1..NSIG` (72 of them, real-time ones included: `lwp_abi`).
pub const NSIG: usize = lwp_abi::NSIG as usize;

/// A signal number, `1..NSIG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sig(pub(super) u8);

impl Sig {
    /// SIGKILL: ends the process; it cannot be masked, ignored or caught.
    pub const KILL: Sig = Sig(SIGKILL as u8);
    /// SIGSTOP: stops every LWP of the process; it cannot be masked, ignored or caught.
    pub const STOP: Sig = Sig(SIGSTOP as u8);
    /// SIGCONT: continues a stopped process (its default action, as it is sent).
    pub const CONT: Sig = Sig(SIGCONT as u8);
    /// SIGCHLD: a child exited, stopped or continued (sent to the parent).
    pub const CHLD: Sig = Sig(SIGCHLD as u8);
    /// SIGSEGV: a bad address (S13), or a signal frame that cannot be written.
    pub const SEGV: Sig = Sig(SIGSEGV as u8);
    /// SIGSYS: a bad system call (S13).
    pub const SYS: Sig = Sig(SIGSYS as u8);

    /// The signal numbered `n`, if there is one (0 is not a signal).
    pub fn new(n: u64) -> Option<Sig> {
        (1..NSIG as u64).contains(&n).then_some(Sig(n as u8))
    }

    /// The signal's number (as in `si_signo` and `lwp_cursig`).
    pub fn num(self) -> u8 {
        self.0
    }

    pub(super) fn index(self) -> usize {
        usize::from(self.0)
    }

    /// What the signal does when nobody handles it (Solaris' `signal.h(3HEAD)`).
    pub fn default_action(self) -> Action {
        match u64::from(self.0) {
            SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGEMT | SIGFPE | SIGBUS | SIGSEGV | SIGSYS
            | SIGXCPU | SIGXFSZ => Action::Core,
            SIGCHLD | SIGPWR | SIGWINCH | SIGURG | SIGWAITING | SIGLWP | SIGFREEZE | SIGTHAW
            | SIGCANCEL | SIGXRES | SIGJVM1 | SIGJVM2 | SIGINFO => Action::Ignore,
            SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => Action::Stop,
            SIGCONT => Action::Continue,
            _ => Action::Exit,
        }
    }
}

/// A signal's default action (Solaris' `signal.h(3HEAD)` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// End the process.
    Exit,
    /// End the process, marked as having dumped core (no core is written).
    Core,
    /// Nothing.
    Ignore,
    /// Stop every LWP of the process (job control).
    Stop,
    /// Continue the process if it is stopped; otherwise nothing.
    Continue,
}

/// A set of signals: two words, as `sigset_t` pairs its words — signal `n` is bit
/// `(n - 1) % 64` of word `(n - 1) / 64` (no 128-bit arithmetic: SPARC V9 has none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SigSet([u64; 2]);

/// The word and bit of signal `n` (`1..NSIG`).
pub(super) const fn bit(n: u64) -> (usize, u64) {
    (((n - 1) / 64) as usize, 1 << ((n - 1) % 64))
}

/// The set of signals numbered in `sigs`.
pub(super) const fn set_of(sigs: &[u64]) -> SigSet {
    let mut w = [0u64; 2];
    let mut i = 0;
    while i < sigs.len() {
        let (k, b) = bit(sigs[i]);
        w[k] |= b;
        i += 1;
    }
    SigSet(w)
}

impl SigSet {
    /// No signal.
    pub const EMPTY: SigSet = SigSet([0; 2]);
    /// Every signal.
    pub const ALL: SigSet = SigSet([u64::MAX, (1 << (NSIG - 1 - 64)) - 1]);
    /// What no LWP may mask, ignore or catch: SIGKILL and SIGSTOP.
    pub const CANTMASK: SigSet = set_of(&[SIGKILL, SIGSTOP]);
    /// The stop signals of job control.
    pub const STOPS: SigSet = set_of(&[SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU]);

    /// The set of `sig` alone.
    pub fn of(sig: Sig) -> SigSet {
        SigSet::EMPTY.with(sig)
    }

    /// Whether `sig` is in the set.
    #[inline]
    pub fn has(self, sig: Sig) -> bool {
        let (k, b) = bit(sig.0.into());
        self.0[k] & b != 0
    }

    /// Whether the set has no signal.
    #[inline]
    pub fn is_empty(self) -> bool {
        self.0[0] | self.0[1] == 0
    }

    /// The set with `sig` added.
    #[must_use]
    #[inline]
    pub fn with(mut self, sig: Sig) -> SigSet {
        let (k, b) = bit(sig.0.into());
        self.0[k] |= b;
        self
    }

    /// The set with `sig` removed.
    #[must_use]
    #[inline]
    pub fn without(mut self, sig: Sig) -> SigSet {
        let (k, b) = bit(sig.0.into());
        self.0[k] &= !b;
        self
    }

    /// The signals in either set (e.g. an LWP's pending set and its process's).
    #[must_use]
    #[inline]
    pub fn union(self, o: SigSet) -> SigSet {
        SigSet([self.0[0] | o.0[0], self.0[1] | o.0[1]])
    }

    /// The signals of this set not in `o` (e.g. pending minus the mask: those the
    /// LWP may take).
    #[must_use]
    #[inline]
    pub fn minus(self, o: SigSet) -> SigSet {
        SigSet([self.0[0] & !o.0[0], self.0[1] & !o.0[1]])
    }

    /// The signals in both sets.
    #[must_use]
    #[inline]
    pub fn and(self, o: SigSet) -> SigSet {
        SigSet([self.0[0] & o.0[0], self.0[1] & o.0[1]])
    }

    /// The lowest-numbered signal of the set.
    pub fn first(self) -> Option<Sig> {
        match self.0 {
            [0, 0] => None,
            [0, hi] => Some(Sig(hi.trailing_zeros() as u8 + 65)),
            [lo, _] => Some(Sig(lo.trailing_zeros() as u8 + 1)),
        }
    }

    /// The signals of the set, lowest first.
    pub fn iter(self) -> impl Iterator<Item = Sig> {
        let mut rest = self;
        core::iter::from_fn(move || {
            let s = rest.first()?;
            rest = rest.without(s);
            Some(s)
        })
    }

    /// The set as two words: `sigset_t`'s words 0 and 1, then 2 and 3, each pair
    /// the first in the low half (what `_lwp_sigmask` takes and returns).
    pub fn pairs(self) -> [u64; 2] {
        self.0
    }

    /// The signals in two such words (bits past the last signal are dropped).
    pub fn from_pairs(w: [u64; 2]) -> SigSet {
        SigSet(w).and(SigSet::ALL)
    }

    /// The set as `sigset_t`'s four words (signal `n`: bit `(n-1) % 32` of word
    /// `(n-1) / 32`).
    pub fn words(self) -> [u32; 4] {
        let [lo, hi] = self.0;
        [lo as u32, (lo >> 32) as u32, hi as u32, (hi >> 32) as u32]
    }

    /// The signals in `sigset_t`'s words (bits past the last signal are dropped).
    pub fn from_words(w: [u32; 4]) -> SigSet {
        let pair = |a: u32, b: u32| u64::from(a) | u64::from(b) << 32;
        SigSet::from_pairs([pair(w[0], w[1]), pair(w[2], w[3])])
    }
}

/// A [`SigSet`] in two words: a thread's ([`ThreadSig`]) or a process's pending set
/// (`Proc::p_sigpend`). Each says what protects it: its process's `p_lock`, or the
/// fences of `take::set_mask` for an LWP's own mask; they order what others see,
/// so the words need no ordering of their own.
#[derive(Default)]
pub struct AtomicSigSet {
    lo: AtomicU64,
    hi: AtomicU64,
}

impl AtomicSigSet {
    /// An empty set.
    pub const fn new() -> AtomicSigSet {
        AtomicSigSet { lo: AtomicU64::new(0), hi: AtomicU64::new(0) }
    }

    /// The set.
    #[inline]
    pub fn get(&self) -> SigSet {
        SigSet([self.lo.load(Ordering::Relaxed), self.hi.load(Ordering::Relaxed)])
    }

    /// Makes the set `s`.
    #[inline]
    pub fn set(&self, s: SigSet) {
        self.lo.store(s.0[0], Ordering::Relaxed);
        self.hi.store(s.0[1], Ordering::Relaxed);
    }
}

/// An LWP's signal state, in its thread (`KThread::t_signal`): resident (S6, S11),
/// so that choosing the LWP that takes a signal never needs an `lwp` structure.
/// Cleared before the structure is handed out (`reset`).
pub(crate) struct ThreadSig {
    /// The LWP's mask: the signals it blocks (S11). *Only by the LWP itself*
    /// (`take::set_mask`, with or without `p_lock`, fenced against `post`; `trapsig`
    /// under it), or by its creator before it first runs (`inherit_mask`); read by
    /// the others under `p_lock`.
    t_hold: AtomicSigSet,
    /// Signals sent to this LWP (S13, S15), not yet taken. *Under `p_lock`*; read
    /// by the LWP itself without it too.
    t_sig: AtomicSigSet,
    /// The signals it waits for in `sigtimedwait`: it is their first choice. *Under
    /// `p_lock`*, changed only by the LWP itself.
    t_sigwait: AtomicSigSet,
}

impl ThreadSig {
    /// No mask, nothing pending, waiting for nothing.
    pub(crate) const fn new() -> ThreadSig {
        ThreadSig {
            t_hold: AtomicSigSet::new(),
            t_sig: AtomicSigSet::new(),
            t_sigwait: AtomicSigSet::new(),
        }
    }

    /// No mask, nothing pending, waiting for nothing: the structure is handed out.
    #[inline]
    pub(crate) fn reset(&self) {
        self.t_hold.set(SigSet::EMPTY);
        self.t_sig.set(SigSet::EMPTY);
        self.t_sigwait.set(SigSet::EMPTY);
    }

    /// The LWP's mask (`t_hold`).
    #[inline(always)]
    pub(crate) fn hold(&self) -> SigSet {
        self.t_hold.get()
    }

    /// A new LWP's mask is that of the LWP `from` that creates it (S11): by the
    /// creator, before the new LWP first runs (`lwp::inherit_mask`).
    #[inline]
    pub(crate) fn inherit(&self, from: &ThreadSig) {
        self.set_hold(from.hold());
    }

    /// Changes the LWP's mask (see `t_hold` for who may).
    #[inline(always)]
    pub(super) fn set_hold(&self, s: SigSet) {
        self.t_hold.set(s);
    }

    /// The signals pending on the LWP itself (`t_sig`).
    #[inline(always)]
    pub(crate) fn sig(&self) -> SigSet {
        self.t_sig.get()
    }

    /// Changes the signals pending on the LWP, under `p_lock`.
    #[inline(always)]
    pub(super) fn set_sig(&self, s: SigSet) {
        self.t_sig.set(s);
    }

    /// The signals it waits for in `sigtimedwait` (`t_sigwait`).
    #[inline(always)]
    pub(super) fn sigwait(&self) -> SigSet {
        self.t_sigwait.get()
    }

    /// Changes the signals it waits for, under `p_lock`.
    #[inline(always)]
    pub(super) fn set_sigwait(&self, s: SigSet) {
        self.t_sigwait.set(s);
    }
}

/// What a signal is about (`k_siginfo_t`): who sent it, or what trap raised it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SigInfo {
    /// `si_signo`: the signal's number (0 in an empty slot).
    pub si_signo: u8,
    /// `si_code`: why it was sent: `SI_USER` (`kill`), `SI_QUEUE` (`sigqueue`),
    /// `SI_LWP` (`_lwp_kill`), a `CLD_*` for SIGCHLD, a trap's code (`SEGV_MAPERR`
    /// ...) for S13 signals, or `SI_NOINFO`.
    pub si_code: i32,
    /// `si_errno`: an error number tied to the signal; nothing here sets it (0).
    pub si_errno: i32,
    /// The sending process (S15: never an LWP), for signals sent by user code.
    pub si_pid: u32,
    /// The faulting address of a trap.
    pub si_addr: u64,
    /// `sigqueue`'s value.
    pub si_value: u64,
}

impl SigInfo {
    /// No information (the slot of a signal not pending).
    pub const NONE: SigInfo =
        SigInfo { si_signo: 0, si_code: 0, si_errno: 0, si_pid: 0, si_addr: 0, si_value: 0 };

    /// Information that says only which signal it is.
    pub fn bare(sig: Sig) -> SigInfo {
        SigInfo { si_signo: sig.0, si_code: lwp_abi::SI_NOINFO, ..SigInfo::default() }
    }
}

/// What a disposition does (S10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigDisp {
    /// `SIG_DFL`: the signal's default action.
    Default,
    /// `SIG_IGN`.
    Ignore,
    /// Caught by the user handler at this address.
    Catch(u64),
}

/// A disposition (`struct sigaction`): what to do, the flags, and the signals
/// masked while a handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigAct {
    /// What to do (`sa_handler`/`sa_sigaction`: `SIG_DFL`, `SIG_IGN` or a handler).
    pub disp: SigDisp,
    /// `sa_flags`: `SA_SIGINFO`, `SA_ONSTACK`, `SA_RESTART`, `SA_NODEFER`,
    /// `SA_RESETHAND`, and for SIGCHLD `SA_NOCLDSTOP`, `SA_NOCLDWAIT`.
    pub flags: u32,
    /// `sa_mask`: added to the LWP's mask while the handler runs (with the signal
    /// itself unless `SA_NODEFER`).
    pub mask: SigSet,
}

impl SigAct {
    /// `SIG_DFL` with no flags and an empty mask: every disposition at first, and
    /// after `SA_RESETHAND` or a trap that was masked or ignored.
    pub const DEFAULT: SigAct = SigAct { disp: SigDisp::Default, flags: 0, mask: SigSet::EMPTY };

    /// Whether a signal with this disposition would be dropped unseen.
    pub(super) fn ignores(&self, sig: Sig) -> bool {
        match self.disp {
            SigDisp::Ignore => true,
            SigDisp::Default => {
                matches!(sig.default_action(), Action::Ignore | Action::Continue)
            }
            SigDisp::Catch(_) => false,
        }
    }
}

/// What a parent's wait may report of a child that is still alive (job control).
/// A stop or a continue becomes reportable only once the parent's SIGCHLD for it
/// is sent: a wait that reports it finds the signal there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobState {
    /// Nothing to report.
    Running,
    /// Every LWP stopped for this signal; the parent is being told.
    Stopping(Sig),
    /// Stopped by this signal, not yet reported.
    Stopped(Sig),
    /// Stopped and reported: continuing it is reported next.
    StopReported,
    /// Continued after a stop; the parent is being told.
    Continuing,
    /// Continued after a stop, not yet reported.
    Continued,
}

/// A process's signal state (S10, S14), under its `p_lock`.
pub(crate) struct ProcSig {
    /// The dispositions its LWPs share (S10), by signal number.
    pub(crate) act: [SigAct; NSIG],
    /// What each signal pending on the process (`Proc::p_sigpend`, S14) is about:
    /// the first one sent, while it is pending.
    pub(crate) info: [SigInfo; NSIG],
    /// The stop signal every LWP is stopping for (job control); none: running.
    pub(crate) stopsig: Option<Sig>,
    /// What its parent's wait may report.
    pub(crate) job: JobState,
    /// LWPs waiting in `sigtimedwait` (with a `t_sigwait`): while none does, a
    /// signal's first choice is simpler (`post`).
    pub(crate) sigwaiters: u32,
    /// `ITIMER_REAL`: the lbolt it fires at (0: disarmed) and its interval, in ticks.
    pub(crate) real_expire: u64,
    pub(crate) real_interval: u64,
}

impl ProcSig {
    pub(crate) const fn new() -> ProcSig {
        ProcSig {
            act: [SigAct::DEFAULT; NSIG],
            info: [SigInfo::NONE; NSIG],
            stopsig: None,
            job: JobState::Running,
            sigwaiters: 0,
            real_expire: 0,
            real_interval: 0,
        }
    }

    /// The disposition of `sig`.
    pub(crate) fn act(&self, sig: Sig) -> SigAct {
        self.act[sig.index()]
    }
}

/// The signal and `siginfo` a user-mode fault raises (S13).
pub fn fault_signal(f: Fault) -> (Sig, SigInfo) {
    let (sig, code) = match f.kind {
        FaultKind::Unmapped | FaultKind::BadStack => (SIGSEGV, SEGV_MAPERR),
        FaultKind::Protection => (SIGSEGV, SEGV_ACCERR),
        FaultKind::Misaligned => (SIGBUS, BUS_ADRALN),
        FaultKind::IllegalInstruction => (SIGILL, ILL_ILLOPC),
        FaultKind::PrivilegedInstruction => (SIGILL, ILL_PRVOPC),
        FaultKind::DivisionByZero => (SIGFPE, FPE_INTDIV),
        FaultKind::Breakpoint => (SIGTRAP, TRAP_BRKPT),
        FaultKind::Float(k) => (
            SIGFPE,
            match k {
                FloatKind::DivideByZero => FPE_FLTDIV,
                FloatKind::Overflow => FPE_FLTOVF,
                FloatKind::Underflow => FPE_FLTUND,
                FloatKind::Inexact => FPE_FLTRES,
                FloatKind::Invalid => FPE_FLTINV,
            },
        ),
        FaultKind::Other(_) => (SIGILL, ILL_ILLTRP),
    };
    let sig = Sig(sig as u8);
    (sig, SigInfo { si_signo: sig.0, si_code: code, si_addr: f.addr, ..SigInfo::default() })
}
