//! `fpu`: the floating-point unit for LWPs (S5, S13, S17): each LWP has FP
//! registers of its own, enabled by its first FP instruction, kept across every
//! switch, signal and swap, and its FP exceptions are its own faults. Checks:
//!
//! 1. an LWP's first FP instruction finds zeros in every register, not what
//!    another LWP left in the FPU;
//! 2. three LWPs, each with its own values in all 32 double registers (the 64
//!    single ones), yielding to each other and spinning until preempted, never see
//!    anything but their own values;
//! 3. the checks of 2 saw the LWPs interleave: each LWP saw the others run between
//!    its own checks three times at least, twice at least inside its spins
//!    (preemption; whether a yield lets the others run depends on the TS
//!    priorities of the moment);
//! 4. an FP division by zero with its trap enabled (`%fsr.TEM.DZM`) raises SIGFPE
//!    with `FPE_FLTDIV` at the LWP that made it, at the `fdivd`; the handler turns
//!    the trap off in the context and skips the instruction, and the LWP goes on;
//! 5. 0/0 with the invalid-operation trap enabled raises SIGFPE with `FPE_FLTINV`;
//! 6. a handler that loads other values into every FP register is given the
//!    interrupted ones in its context (`UC_FPU`), and the interrupted code finds
//!    its own values again after it returns;
//! 7. `getcontext` of an LWP that uses the FPU holds its FP registers.
//!
//! Exit codes: the number of the failed check.

#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};

use lwp_user::abi::{
    SigSet, UContext, FPE_FLTDIV, FPE_FLTINV, SA_SIGINFO, SIGFPE, SIGUSR1, UC_FPU,
};
use lwp_user::signal::{getcontext, sigaction, Disposition};
use lwp_user::{check, gethrtime, lwp_kill, lwp_self, lwp_wait, ok, say, spawn, yield_now};

lwp_user::main!(main);

// The FP registers are reached only from here: the program's own code uses no
// floating point, so the compiler keeps nothing in them across these calls.
global_asm!(
    r#"
    .section .text
    ! fp_set(words): %f0, %f2, ... %f62 = words[0..32]
    .globl  fp_set
fp_set:
    .irp    n, 0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30,32,34,36,38,40,42,44,46,48,50,52,54,56,58,60,62
    ldd     [%o0 + \n * 4], %f\n
    .endr
    retl
     nop
    ! fp_get(words): words[0..32] = %f0, %f2, ... %f62
    .globl  fp_get
fp_get:
    .irp    n, 0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30,32,34,36,38,40,42,44,46,48,50,52,54,56,58,60,62
    std     %f\n, [%o0 + \n * 4]
    .endr
    retl
     nop
    ! fsr_set(word): %fsr = *word
    .globl  fsr_set
fsr_set:
    retl
     ldx    [%o0], %fsr
    ! fp_div(a_b, out): *out = a_b[0] / a_b[1] (doubles, by their bits)
    .globl  fp_div
fp_div:
    ldd     [%o0], %f0
    ldd     [%o0 + 8], %f2
    .globl  fp_div_insn
fp_div_insn:
    fdivd   %f0, %f2, %f4
    retl
     std    %f4, [%o1]
"#
);

extern "C" {
    fn fp_set(words: *const [u64; 32]);
    fn fp_get(words: *mut [u64; 32]);
    fn fsr_set(word: *const u64);
    fn fp_div(a_b: *const [u64; 2], out: *mut u64);
    fn fp_div_insn();
}

fn set(words: &[u64; 32]) {
    // SAFETY: loads 32 doublewords from `words` into FP registers nothing else uses.
    unsafe { fp_set(words) }
}

fn get() -> [u64; 32] {
    let mut w = [0; 32];
    // SAFETY: stores the FP registers into `w`.
    unsafe { fp_get(&mut w) };
    w
}

fn set_fsr(v: u64) {
    // SAFETY: loads %fsr from a local.
    unsafe { fsr_set(&v) }
}

fn div(a: u64, b: u64) -> u64 {
    let mut out = 0;
    // SAFETY: reads two doublewords and writes one, all locals.
    unsafe { fp_div(&[a, b], &mut out) };
    out
}

/// LWP `id`'s values: distinct in every register and from every other LWP's.
fn pattern(id: u64) -> [u64; 32] {
    core::array::from_fn(|i| 0x3ff0_0000_0000_0000 ^ (id << 40) ^ ((i as u64 + 1) * 0x1_0001))
}

const ONE: u64 = 0x3ff0_0000_0000_0000;
const TEM_NVM: u64 = 1 << 27;
const TEM_DZM: u64 = 1 << 24;
const MS: u64 = 1_000_000;

/// The LWP of check 2 that ran last: each one swaps its own id in as it goes, so
/// finding another's means that one ran meanwhile.
static LAST: AtomicU64 = AtomicU64::new(0);
/// Per LWP of check 2: checks that found wrong values; times the others ran
/// while it yielded; and while it spun (it was preempted).
static BAD: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];
static AFTER_YIELD: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];
static IN_SPIN: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];
const ROUNDS: usize = 12;

/// LWPs of check 2 that have started: each waits for all three first.
static STARTED: AtomicU64 = AtomicU64::new(0);

fn busy(id: u64) {
    let mine = pattern(id);
    set(&mine);
    let me = id as usize;
    STARTED.fetch_add(1, SeqCst);
    while STARTED.load(SeqCst) < 3 {
        let _ = yield_now();
    }
    for round in 0..ROUNDS {
        LAST.store(id, SeqCst);
        if round % 2 == 0 {
            let _ = yield_now();
            if LAST.load(SeqCst) != id {
                AFTER_YIELD[me].fetch_add(1, SeqCst);
            }
        } else {
            // Spin on the FP registers until the clock has let another LWP run.
            let end = gethrtime() + 1000 * MS;
            while gethrtime() < end {
                if get() != mine {
                    BAD[me].fetch_add(1, SeqCst);
                }
                if LAST.swap(id, SeqCst) != id {
                    IN_SPIN[me].fetch_add(1, SeqCst);
                    break;
                }
            }
        }
        if get() != mine {
            BAD[me].fetch_add(1, SeqCst);
        }
    }
}

/// Check 1, in a new LWP: what its first FP instruction finds.
static FRESH: AtomicU64 = AtomicU64::new(u64::MAX);

fn fresh(_: u64) {
    FRESH.store(get().iter().fold(0, |a, w| a | w), SeqCst);
}

/// What the SIGFPE handler saw: its LWP, the code, the address.
static FPE: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

fn h_fpe(_: u64, info: Option<&lwp_user::abi::SigInfoT>, uc: &mut UContext) {
    FPE[0].store(u64::from(lwp_self().unwrap_or(0)), SeqCst);
    if let Some(i) = info {
        FPE[1].store(i.si_code as u64, SeqCst);
        FPE[2].store(i.si_addr, SeqCst);
    }
    // The trap off, the instruction skipped.
    uc.uc_mcontext.fpregs.fpu_fsr &= !(TEM_NVM | TEM_DZM);
    let g = &mut uc.uc_mcontext.gregs;
    g[1] = g[2];
    g[2] += 4;
}

fn fpe(_: u64) {
    set_fsr(TEM_DZM);
    let _ = div(ONE, 0);
    set_fsr(TEM_NVM);
    let _ = div(0, 0);
}

/// What the SIGUSR1 handler found in its context: UC_FPU, and the registers.
static USR1_FLAGS: AtomicU64 = AtomicU64::new(0);
static USR1_SAW: AtomicU64 = AtomicU64::new(0);

fn h_usr1(_: u64, _: Option<&lwp_user::abi::SigInfoT>, uc: &mut UContext) {
    USR1_FLAGS.store(uc.uc_flags, SeqCst);
    let saw = uc.uc_mcontext.fpregs.fpu_dregs == pattern(9) && uc.uc_mcontext.fpregs.fpu_en != 0;
    USR1_SAW.store(u64::from(saw), SeqCst);
    set(&pattern(10));
}

fn main(_: u64) {
    // 1: the main LWP fills the FPU; a new LWP must not see it.
    set(&pattern(0));
    let id = ok!(1, spawn(fresh, 0, 0));
    ok!(1, lwp_wait(id));
    check!(
        1,
        FRESH.load(SeqCst) == 0,
        "a new LWP found {:#x} in its FP registers",
        FRESH.load(SeqCst)
    );
    check!(1, get() == pattern(0), "the main LWP's FP registers changed while another ran");

    // 2, 3: three LWPs (this one too) switching and preempted.
    let others = [ok!(2, spawn(busy, 1, 0)), ok!(2, spawn(busy, 2, 0))];
    busy(3);
    for id in others {
        ok!(2, lwp_wait(id));
    }
    for id in 1..=3 {
        let bad = BAD[id].load(SeqCst);
        check!(2, bad == 0, "LWP {id}: {bad} checks found other FP values");
        let (y, s) = (AFTER_YIELD[id].load(SeqCst), IN_SPIN[id].load(SeqCst));
        check!(
            3,
            s >= 2 && y + s >= 3,
            "LWP {id}: the others ran {y} times after a yield, {s} in a spin"
        );
    }

    // 4, 5: SIGFPE at the LWP that divided.
    ok!(4, sigaction(SIGFPE, Disposition::Catch(h_fpe), SA_SIGINFO, SigSet::EMPTY));
    let id = ok!(4, spawn(fpe, 0, 0));
    ok!(4, lwp_wait(id));
    let (who, code, at) = (FPE[0].load(SeqCst), FPE[1].load(SeqCst), FPE[2].load(SeqCst));
    check!(4, who == u64::from(id), "SIGFPE taken by LWP {who}, not the divider {id}");
    let insn = fp_div_insn as *const () as u64;
    check!(4, at == insn, "SIGFPE at {at:#x}, not the fdivd at {insn:#x}");
    check!(5, code == FPE_FLTINV as u64, "the last SIGFPE's code is {code}, not FPE_FLTINV");
    // (The first, FPE_FLTDIV, is checked in its own LWP run, below.)
    let id = ok!(
        4,
        spawn(
            |_| {
                set_fsr(TEM_DZM);
                let _ = div(ONE, 0);
            },
            0,
            0
        )
    );
    ok!(4, lwp_wait(id));
    let code = FPE[1].load(SeqCst);
    check!(4, code == FPE_FLTDIV as u64, "SIGFPE's code is {code}, not FPE_FLTDIV");

    // 6: a handler's FP registers are its own.
    set_fsr(0);
    set(&pattern(9));
    ok!(6, sigaction(SIGUSR1, Disposition::Catch(h_usr1), 0, SigSet::EMPTY));
    ok!(6, lwp_kill(ok!(6, lwp_self()), SIGUSR1));
    check!(6, USR1_FLAGS.load(SeqCst) & UC_FPU != 0, "the handler's context has no UC_FPU");
    check!(
        6,
        USR1_SAW.load(SeqCst) == 1,
        "the handler's context lacks the interrupted FP registers"
    );
    check!(6, get() == pattern(9), "the handler's FP values stayed after it returned");

    // 7: getcontext.
    let mut uc = UContext::default();
    ok!(7, getcontext(&mut uc));
    check!(
        7,
        uc.uc_flags & UC_FPU != 0 && uc.uc_mcontext.fpregs.fpu_dregs == pattern(9),
        "getcontext has no FP registers"
    );
    say!("every LWP kept its own FP registers");
}
