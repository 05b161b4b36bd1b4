//! FP registers in contexts (S5.1): `getcontext` includes them once the LWP has
//! some, `setcontext` sets them, and a handler's context carries them.

use arch::sim::user;
use core::mem::offset_of;
use kern::proc::WaitStatus;
use kern_selftest::{ensure_eq, reap, TestResult};
use lwp_abi::*;

use super::{catch, exit, me, record, space, start, sys, COUNT, UC};

fn fpregs(ucp: u64) -> u64 {
    ucp + (offset_of!(UContext, uc_mcontext) + offset_of!(MContext, fpregs)) as u64
}

/// Whether the context at `ucp` has `UC_FPU` and the FP registers `d`, `fsr`.
fn has_fp(ucp: u64, d: u64, fsr: u64) -> bool {
    let fp = fpregs(ucp);
    user::load_u64(ucp) & UC_FPU != 0
        && (0..32).all(|i| user::load_u64(fp + 8 * i) == d + i)
        && user::load_u64(fp + offset_of!(FpRegSet, fpu_fsr) as u64) == fsr
        && user::load_u64(fp + offset_of!(FpRegSet, fpu_en) as u64) != 0
}

fn h_fp(sig: u64, sip: u64, ucp: u64) {
    record(sig, sip, ucp);
    user::store_u64(COUNT + 8, u64::from(has_fp(ucp, 0x100, 0x4000_0000)));
}

fn fp_context_main(_: u64) {
    // No FP registers yet: getcontext leaves them out.
    sys(SYS_CONTEXT, &[GETCONTEXT, UC]).expect("getcontext");
    if user::load_u64(UC) & UC_FPU != 0 {
        exit(1);
    }
    // A context of FP registers alone: setcontext takes them and the LWP goes on.
    let fp = fpregs(UC);
    for i in 0..32 {
        user::store_u64(fp + 8 * i, 0x100 + i);
    }
    user::store_u64(fp + offset_of!(FpRegSet, fpu_fsr) as u64, 0x4000_0000);
    user::store_u64(fp + offset_of!(FpRegSet, fpu_en) as u64, 1);
    user::store_u64(UC, UC_FPU);
    sys(SYS_CONTEXT, &[SETCONTEXT, UC]).expect("setcontext");
    user::store_u64(UC, 0);
    sys(SYS_CONTEXT, &[GETCONTEXT, UC]).expect("getcontext");
    if !has_fp(UC, 0x100, 0x4000_0000) {
        exit(2);
    }
    // A handler's context has them too.
    catch(SIGUSR1, h_fp, 0);
    sys(SYS_LWP_KILL, &[me(), SIGUSR1]).expect("_lwp_kill");
    exit(if user::load_u64(COUNT + 8) == 1 { 0 } else { 3 })
}

/// An LWP's FP registers travel in its contexts (S5.1): `getcontext` includes them
/// (`UC_FPU`) once the LWP has some, not before; `setcontext` sets them; a
/// handler's context carries them. (The FPU itself is sparc64's: there the
/// `fpu` program runs.)
pub(super) fn contexts_carry_fp() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, fp_context_main, 0)?)?, WaitStatus::Exited(0));
    Ok(())
}
