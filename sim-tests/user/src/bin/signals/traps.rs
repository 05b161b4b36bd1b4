//! Trap signals (checks 4, 5, 6; S13): each goes to the LWP that caused it, whose
//! handler repairs the cause or skips the instruction; masked by that LWP, or
//! ignored, it kills the process.

use core::arch::asm;
use core::hint::black_box;
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};

use lwp_user::abi::*;
use lwp_user::addr::UNMAPPED;
use lwp_user::errno::ENOSYS;
use lwp_user::signal::{sigaction, Disposition};
use lwp_user::{check, lwp_wait, ok, spawn, syscall6};

use super::{block, catch, h_record, h_skip, me, ran_by, record, LAST};

const REG_O0: usize = 11;

static WORD: AtomicU64 = AtomicU64::new(0x600d_cafe);

/// SIGSEGV's handler repairs the cause: the load's address register (`%o0`)
/// points at `WORD` when the load is made again.
fn h_repair(sig: u64, info: Option<&SigInfoT>, uc: &mut UContext) {
    record(sig, info);
    uc.uc_mcontext.gregs[REG_O0] = WORD.as_ptr() as u64;
}

/// An 8-byte load from `addr`, through `%o0`.
fn load_o0(addr: u64) -> u64 {
    let v: u64;
    // SAFETY: meant to fault; the handler points %o0 at WORD, and the load is
    // made again from there. It only reads.
    unsafe {
        asm!("ldx [%o0], %o1", inout("o0") addr => _, out("o1") v, options(nostack, readonly))
    };
    v
}

/// Each trap of check 4, in LWP 2: (signal, what `si_code` it has).
fn traps_in_lwp2(_: u64) {
    let lwp = me();
    let expect = |n: u8, sig: u64, code: i32| {
        let got = (LAST[0].load(SeqCst), LAST[1].load(SeqCst), LAST[2].load(SeqCst) as i32);
        check!(n, got == (sig, u64::from(lwp), code), "signal {sig}: (sig, LWP, code) {got:?}");
    };
    let v = load_o0(UNMAPPED);
    expect(30, SIGSEGV, SEGV_MAPERR);
    check!(30, v == 0x600d_cafe && LAST[4].load(SeqCst) == UNMAPPED, "repaired load read {v:#x}");
    let misaligned = WORD.as_ptr() as u64 + 4;
    // SAFETY: meant to fault; the handler skips it.
    unsafe { asm!("ldx [{a}], %g0", a = in(reg) misaligned, options(nostack, readonly)) };
    expect(31, SIGBUS, BUS_ADRALN);
    // SAFETY: traps; the handler skips it.
    unsafe { asm!("illtrap 0", options(nostack, nomem)) };
    expect(32, SIGILL, ILL_ILLOPC);
    // SAFETY: a division by zero traps; the handler skips it.
    unsafe {
        asm!(
            "sdivx {n}, {d}, {q}",
            n = in(reg) 7u64,
            d = in(reg) black_box(0u64),
            q = lateout(reg) _,
            options(nostack, nomem),
        )
    };
    expect(33, SIGFPE, FPE_INTDIV);
    // SAFETY: the software trap for division by zero; the handler skips it.
    unsafe { asm!("ta 2", options(nostack, nomem)) };
    expect(34, SIGFPE, FPE_INTDIV);
    // SAFETY: the breakpoint trap; the handler skips it.
    unsafe { asm!("ta 1", options(nostack, nomem)) };
    expect(35, SIGTRAP, TRAP_BRKPT);
    // SAFETY: no pointers; the kernel knows no call 9999.
    let r = unsafe { syscall6(9999, [0; 6]) };
    check!(36, r == Err(ENOSYS) && LAST[0].load(SeqCst) == SIGSYS, "call 9999: {r:?}");
    check!(
        37,
        LAST[1].load(SeqCst) == u64::from(lwp),
        "SIGSYS ran in LWP {}",
        LAST[1].load(SeqCst)
    );
    check!(38, ran_by(lwp) == 7 && ran_by(1) == 0, "handler runs {} in LWP {lwp}", ran_by(lwp));
}

pub(super) fn traps() {
    catch(SIGSEGV, h_repair, SA_SIGINFO);
    for sig in [SIGBUS, SIGILL, SIGFPE, SIGTRAP] {
        catch(sig, h_skip, SA_SIGINFO);
    }
    // A bad system call has trapped and returned already: nothing to skip.
    catch(SIGSYS, h_record, SA_SIGINFO);
    // LWP 1 masks them all: a trap signal is the LWP's that caused it, whatever
    // the others' masks say.
    let id = ok!(39, spawn(traps_in_lwp2, 0, 0));
    block(&[SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS]);
    ok!(39, lwp_wait(id));
}

pub(super) fn masked_trap(_: u64) {
    catch(SIGSEGV, h_skip, 0);
    block(&[SIGSEGV]);
    load_o0(UNMAPPED);
}

pub(super) fn ignored_trap(_: u64) {
    ok!(41, sigaction(SIGILL, Disposition::Ignore, 0, SigSet::EMPTY));
    // SAFETY: an illegal instruction: the process should die of it.
    unsafe { asm!("illtrap 0", options(nostack, nomem)) };
}

/// Runs `f` in LWP 2; the process should die there.
pub(super) fn dies_in_lwp2(f: fn(u64), code: u8) {
    let id = ok!(code, spawn(f, 0, 0));
    let r = lwp_wait(id);
    check!(code, false, "LWP 2 lived on: {r:?}");
}
