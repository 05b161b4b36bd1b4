//! Signals (S10-S15): numbers and default actions, the faults that raise them,
//! sets of them, and the structures `kern::signal::wire` lays out in user memory
//! (the ABI's bytes), the alternate stack a context is on.

use arch::uregs::STACK_BIAS;
use arch::{Fault, FaultKind, FloatKind};
use kern::lwp::SigAltStack;
use kern::signal::wire::{
    fpregs, get_fpregs, get_gwindow, get_sigaction, get_sigset, get_stack, get_wbcnt, gregs,
    gwindows_head, sigaction, siginfo, sigset, stack, ucontext, Word, UC_GWINS, UC_MASK,
};
use kern::signal::NSIG;
use kern::signal::{
    context_stack, fault_signal, on_altstack, Action, AtomicSigSet, Sig, SigInfo, SigSet,
};
use lwp_abi::{
    FPE_FLTDIV, FPE_FLTINV, FPE_FLTOVF, FPE_FLTRES, FPE_FLTUND, ILL_PRVOPC, SEGV_ACCERR, SIGABRT,
    SIGALRM, SIGBUS, SIGCHLD, SIGCONT, SIGFPE, SIGFREEZE, SIGILL, SIGINFO, SIGKILL, SIGQUIT,
    SIGRTMAX, SIGRTMIN, SIGSEGV, SIGSTOP, SIGTERM, SIGTHAW, SIGTRAP, SIGTSTP, SIGTTIN, SIGTTOU,
    SIGUSR1, SIGWINCH, SIGXCPU, SIGXFSZ, SIGXRES, SS_DISABLE, SS_ONSTACK,
};

#[test]
fn faults_raise_their_signals() {
    let at = |kind| fault_signal(Fault { kind, addr: 0x1000 });
    assert_eq!(at(FaultKind::Unmapped).0.num() as u64, SIGSEGV);
    assert_eq!(at(FaultKind::Protection).1.si_code, SEGV_ACCERR);
    assert_eq!(at(FaultKind::BadStack).0.num() as u64, SIGSEGV);
    assert_eq!(at(FaultKind::Misaligned).0.num() as u64, SIGBUS);
    assert_eq!(at(FaultKind::IllegalInstruction).0.num() as u64, SIGILL);
    assert_eq!(at(FaultKind::PrivilegedInstruction).1.si_code, ILL_PRVOPC);
    assert_eq!(at(FaultKind::DivisionByZero).0.num() as u64, SIGFPE);
    assert_eq!(at(FaultKind::Breakpoint).0.num() as u64, SIGTRAP);
    assert_eq!(at(FaultKind::Unmapped).1.si_addr, 0x1000);
    // The FP exceptions: SIGFPE, each with its code.
    for (k, code) in [
        (FloatKind::DivideByZero, FPE_FLTDIV),
        (FloatKind::Overflow, FPE_FLTOVF),
        (FloatKind::Underflow, FPE_FLTUND),
        (FloatKind::Inexact, FPE_FLTRES),
        (FloatKind::Invalid, FPE_FLTINV),
    ] {
        let (sig, info) = at(FaultKind::Float(k));
        assert_eq!((sig.num() as u64, info.si_code), (SIGFPE, code), "{k:?}");
    }
}

#[test]
fn default_actions_are_solaris() {
    let act = |n| Sig::new(n).map(Sig::default_action);
    assert_eq!(Sig::new(0), None);
    assert_eq!(Sig::new(NSIG as u64), None);
    for n in [SIGSEGV, SIGXCPU, SIGXFSZ, SIGQUIT, SIGABRT] {
        assert_eq!(act(n), Some(Action::Core), "signal {n}");
    }
    for n in [SIGTERM, SIGALRM, SIGUSR1, SIGKILL, SIGRTMIN, SIGRTMAX] {
        assert_eq!(act(n), Some(Action::Exit), "signal {n}");
    }
    for n in [SIGCHLD, SIGFREEZE, SIGTHAW, SIGXRES, SIGWINCH, SIGINFO] {
        assert_eq!(act(n), Some(Action::Ignore), "signal {n}");
    }
    for n in [SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU] {
        assert_eq!(act(n), Some(Action::Stop), "signal {n}");
    }
    assert_eq!(act(SIGCONT), Some(Action::Continue));
}

#[test]
fn sets_and_sigset_words() {
    let s = SigSet::EMPTY.with(Sig::KILL).with(Sig::new(33).unwrap()).with(Sig::new(72).unwrap());
    assert!(s.has(Sig::KILL) && !s.has(Sig::STOP));
    assert_eq!(s.first(), Some(Sig::KILL));
    assert_eq!(s.words(), [1 << 8, 1, 1 << 7, 0]);
    assert_eq!(SigSet::from_words(s.words()), s);
    assert_eq!(SigSet::from_words([u32::MAX; 4]), SigSet::ALL);
    assert_eq!(SigSet::ALL.iter().count(), NSIG - 1);
    let abi = lwp_abi::SigSet::of(&[SIGKILL, 33, 72]);
    assert_eq!(abi.sigbits, s.words(), "the ABI's sigset_t and the kernel's agree");
    let a = AtomicSigSet::new();
    a.set(s);
    assert_eq!(a.get(), s);
}

// The structures in user memory (`signal::wire`).

/// The bytes user memory holds for `words`.
fn bytes(words: &[Word]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

#[test]
fn words_are_the_abis_bytes() {
    let s = SigSet::of(Sig::CHLD).with(Sig::new(33).unwrap()).with(Sig::new(72).unwrap());
    let b = bytes(&sigset(s));
    // sigset_t: four big-endian words; SIGCHLD (18) is bit 17 of word 0.
    assert_eq!(&b[..4], &(1u32 << 17).to_be_bytes());
    assert_eq!(&b[4..8], &1u32.to_be_bytes(), "signal 33: bit 0 of word 1");
    assert_eq!(&b[8..12], &(1u32 << 7).to_be_bytes(), "signal 72: bit 7 of word 2");
    assert_eq!(get_sigset(&sigset(s)), s);
    let alt = SigAltStack { ss_sp: 0x2000, ss_size: 0x4000, ss_flags: 2 };
    assert_eq!(get_stack(&stack(&alt)), alt);
    assert_eq!(&bytes(&stack(&alt))[16..20], &2u32.to_be_bytes());
    let info = SigInfo { si_signo: 11, si_code: -1, si_pid: 7, ..SigInfo::default() };
    let b = bytes(&siginfo(&info));
    assert_eq!(
        (&b[0..4], &b[4..8], &b[16..20]),
        (&[0, 0, 0, 11][..], &[0xff; 4][..], &[0, 0, 0, 7][..])
    );
    let mut regs = [0u64; arch::uregs::NGREG];
    regs[arch::reg::G7] = 0x0707;
    let uc = ucontext(|r| *r = regs, s, &alt, 0, false);
    assert_eq!(gregs(&uc), &regs);
    assert_eq!(uc[UC_GWINS], 0, "no windows refused: gwins null");
    assert_eq!(ucontext(|r| *r = regs, s, &alt, 0x9000, false)[UC_GWINS], 0x9000);
    // gwindows_t: wbcnt (4 bytes, then 4 of padding), spbuf[31], then the windows.
    let w = arch::UserWindow { sp: 0x1001, regs: core::array::from_fn(|i| i as u64 + 1) };
    let head = gwindows_head(&[w]);
    assert_eq!(&bytes(&head)[..8], &[0, 0, 0, 1, 0, 0, 0, 0]);
    assert_eq!((get_wbcnt(&head), head[1], head[2]), (1, 0x1001, 0));
    assert_eq!(get_gwindow(&head, 0, &w.regs), w);
    assert_eq!(get_sigset(&uc[UC_MASK..]), s);
    assert_eq!(get_stack(&uc[4..]), alt);
    assert_eq!(uc[0] & lwp_abi::UC_FPU, 0, "no FP registers: no UC_FPU");
    assert_ne!(ucontext(|r| *r = regs, s, &alt, 0, true)[0] & lwp_abi::UC_FPU, 0);
    // fpregset_t: the double registers, %fsr, then fpu_en (0: none).
    let fp = arch::FpRegs { d: core::array::from_fn(|i| i as u64 * 0x0101), fsr: 0x0800_0000 };
    let w = fpregs(&fp);
    assert_eq!((w[5], w[32], w[33]), (0x0505, 0x0800_0000, 1));
    assert_eq!(get_fpregs(&w), Some(fp));
    let mut off = w;
    off[33] = 0;
    assert_eq!(get_fpregs(&off), None, "fpu_en 0: no FP registers");
    assert_eq!(get_sigaction(&sigaction(0x8, 0x1234, s)), (0x8, 0x1234, s));
}

// The stack a context is on (`signal::frame`).

#[test]
fn a_context_stack_says_whether_it_is_on_the_alternate_stack() {
    let alt = SigAltStack { ss_sp: 0x2000, ss_size: 0x4000, ss_flags: 0 };
    let on = SigAltStack { ss_flags: SS_ONSTACK, ..alt };
    assert_eq!(context_stack(&alt, 0x3000 - STACK_BIAS), on);
    assert_eq!(context_stack(&alt, 0x2000 - STACK_BIAS), on, "its lowest byte");
    assert_eq!(context_stack(&alt, 0x6000 - STACK_BIAS), alt, "the top is past the stack");
    let off = SigAltStack { ss_flags: SS_DISABLE, ..alt };
    assert!(!on_altstack(&off, 0x3000 - STACK_BIAS), "a disabled stack is never on");
}
