//! Trap signals (S13): each goes to the LWP that caused it, whatever the other
//! LWPs mask, and its handler skips the instruction; masked by that LWP, it still
//! kills the process.

use arch::sim::user::{self, TEXT};
use arch::FaultKind;
use kern::proc::WaitStatus;
use kern_selftest::{ensure_eq, reap, TestResult};
use lwp_abi::*;

use super::{
    block, catch, errno, exit, h_record, h_skip, last, lwp_exit, me, peek, ran_by, space, start,
    sys, wait_lwp, worker, COUNT, DATA, HOLE, RAN_BY, RO,
};

fn traps_in_lwp(_: u64) {
    let lwp = me();
    let expect = |sig: u64, code: i32| {
        assert_eq!((last(0), last(1), last(2) as i32), (sig, lwp, code), "signal {sig}");
    };
    assert_eq!(user::load_u64(HOLE), 0, "a skipped load yields 0");
    expect(SIGSEGV, SEGV_MAPERR);
    assert_eq!(last(4), HOLE, "si_addr");
    user::store_u64(RO, 1);
    expect(SIGSEGV, SEGV_ACCERR);
    user::load_u64(DATA + 4);
    expect(SIGBUS, BUS_ADRALN);
    user::fault(FaultKind::IllegalInstruction, TEXT.start);
    expect(SIGILL, ILL_ILLOPC);
    user::fault(FaultKind::DivisionByZero, TEXT.start);
    expect(SIGFPE, FPE_INTDIV);
    user::fault(FaultKind::Breakpoint, TEXT.start);
    expect(SIGTRAP, TRAP_BRKPT);
    assert_eq!(sys(1_000_000, &[]), Err(errno(Errno::ENOSYS)), "a bad call fails after SIGSYS");
    assert_eq!((last(0), last(1)), (SIGSYS, lwp), "SIGSYS");
    assert_eq!((ran_by(lwp), ran_by(1)), (7, 0), "handler runs");
    user::store_u64(COUNT, 1);
    lwp_exit()
}

fn traps_main(_: u64) {
    for sig in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP] {
        catch(sig, h_skip, SA_SIGINFO);
    }
    // A bad system call has trapped and returned already: nothing to skip.
    catch(SIGSYS, h_record, SA_SIGINFO);
    let id = worker(0, traps_in_lwp);
    block(&[SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS]);
    wait_lwp(id);
    exit(0)
}

/// S13: SIGSEGV (unmapped load, store to read-only memory), SIGBUS, SIGILL,
/// SIGFPE, SIGTRAP and SIGSYS caused by LWP 2 run their handler in LWP 2 — LWP 1
/// masks them all — which skips the instruction; LWP 2 goes on past each.
pub(super) fn traps_in_their_lwp() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, traps_main, 0)?)?, WaitStatus::Exited(0));
    ensure_eq!(peek(&s, COUNT)?, 1);
    Ok(())
}

fn masked_trap(_: u64) {
    catch(SIGSEGV, h_skip, 0);
    block(&[SIGSEGV]);
    user::store_u64(COUNT, 1);
    user::load_u64(HOLE);
    user::store_u64(COUNT, 2);
}

fn masked_trap_main(_: u64) {
    let id = worker(0, masked_trap);
    let _ = sys(SYS_LWP_WAIT, &[id, 0]);
    exit(3)
}

/// S13: an LWP that masks the trap signal it causes still dies of it (the
/// handler does not run), and its process with it.
pub(super) fn masked_trap_kills() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, masked_trap_main, 0)?)?, WaitStatus::Killed(SIGSEGV as u8));
    ensure_eq!(peek(&s, COUNT)?, 1);
    ensure_eq!(peek(&s, RAN_BY + 8)? + peek(&s, RAN_BY + 16)?, 0);
    Ok(())
}
