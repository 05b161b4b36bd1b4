//! Registers across a handler (check 12; S5.1, S17): every register of the
//! interrupted code — the user's `%g7`, `%y`, `%ccr`, `%asi` too — and the
//! register windows of its callers are as they were once the handler returns; so
//! are a system call's results when the handler is taken on the call's way out.

use core::arch::asm;
use core::hint::black_box;
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};

use lwp_user::abi::*;
use lwp_user::signal::{kill, sigprocmask};
use lwp_user::{check, lwp_wait, ok, spawn};

use super::{block, catch, h_record, poke_lwp1, ran_by, record, set};

static FLAG: AtomicU64 = AtomicU64::new(0);
/// The registers as `registers_after_signal` found them: `%g1`..`%g7`, `%l0`..`%l7`,
/// `%i0`..`%i5`, `%o0`..`%o4`, `%y`, `%asi`, `%ccr`.
static SEEN: [AtomicU64; 29] = [const { AtomicU64::new(0) }; 29];

/// What each slot of `SEEN` should hold (`%i4`, `%i5`: the two addresses).
fn expected(i: usize) -> u64 {
    match i {
        0..=6 => 0x101 + i as u64,
        7..=14 => 0x110 + (i - 7) as u64,
        15..=18 => 0x120 + (i - 15) as u64,
        19 => SEEN.as_ptr() as u64,
        20 => FLAG.as_ptr() as u64,
        21..=25 => 0x130 + (i - 21) as u64,
        26 => 0x55,
        27 => 0x88,
        _ => 0x05,
    }
}

/// Gives every register it can a value of its own, spins until `FLAG` (a handler
/// sets it), then stores every register in `SEEN` and puts the globals back.
fn registers_after_signal() {
    // SAFETY: a window of its own (`save`), whose locals and ins are its own; the
    // caller's outs (our ins) are declared clobbered; the globals are saved on the
    // frame and put back; %y, %asi and %ccr are the program's to change (the
    // compiler keeps nothing in them across an asm block, ccr is clobbered).
    unsafe {
        asm!(
            "save %sp, -240, %sp",
            "stx %g1, [%sp + 2047 + 176]",
            "stx %g2, [%sp + 2047 + 184]",
            "stx %g3, [%sp + 2047 + 192]",
            "stx %g4, [%sp + 2047 + 200]",
            "stx %g5, [%sp + 2047 + 208]",
            "stx %g6, [%sp + 2047 + 216]",
            "stx %g7, [%sp + 2047 + 224]",
            "mov 0x101, %g1", "mov 0x102, %g2", "mov 0x103, %g3", "mov 0x104, %g4",
            "mov 0x105, %g5", "mov 0x106, %g6", "mov 0x107, %g7",
            "mov 0x110, %l0", "mov 0x111, %l1", "mov 0x112, %l2", "mov 0x113, %l3",
            "mov 0x114, %l4", "mov 0x115, %l5", "mov 0x116, %l6", "mov 0x117, %l7",
            "mov 0x120, %i0", "mov 0x121, %i1", "mov 0x122, %i2", "mov 0x123, %i3",
            "mov 0x130, %o0", "mov 0x131, %o1", "mov 0x132, %o2", "mov 0x133, %o3",
            "mov 0x134, %o4",
            "wr %g0, 0x55, %y",
            "wr %g0, 0x88, %asi",
            "wr %g0, 0x05, %ccr",
            "1:",
            "ldx [%i5], %o5",
            "brz %o5, 1b",
            " nop",
            "stx %g1, [%i4 + 0]", "stx %g2, [%i4 + 8]", "stx %g3, [%i4 + 16]",
            "stx %g4, [%i4 + 24]", "stx %g5, [%i4 + 32]", "stx %g6, [%i4 + 40]",
            "stx %g7, [%i4 + 48]",
            "stx %l0, [%i4 + 56]", "stx %l1, [%i4 + 64]", "stx %l2, [%i4 + 72]",
            "stx %l3, [%i4 + 80]", "stx %l4, [%i4 + 88]", "stx %l5, [%i4 + 96]",
            "stx %l6, [%i4 + 104]", "stx %l7, [%i4 + 112]",
            "stx %i0, [%i4 + 120]", "stx %i1, [%i4 + 128]", "stx %i2, [%i4 + 136]",
            "stx %i3, [%i4 + 144]", "stx %i4, [%i4 + 152]", "stx %i5, [%i4 + 160]",
            "stx %o0, [%i4 + 168]", "stx %o1, [%i4 + 176]", "stx %o2, [%i4 + 184]",
            "stx %o3, [%i4 + 192]", "stx %o4, [%i4 + 200]",
            "rd %y, %o5", "stx %o5, [%i4 + 208]",
            "rd %asi, %o5", "stx %o5, [%i4 + 216]",
            "rd %ccr, %o5", "stx %o5, [%i4 + 224]",
            "ldx [%sp + 2047 + 176], %g1",
            "ldx [%sp + 2047 + 184], %g2",
            "ldx [%sp + 2047 + 192], %g3",
            "ldx [%sp + 2047 + 200], %g4",
            "ldx [%sp + 2047 + 208], %g5",
            "ldx [%sp + 2047 + 216], %g6",
            "ldx [%sp + 2047 + 224], %g7",
            "restore",
            inout("o4") SEEN.as_ptr() as u64 => _,
            inout("o5") FLAG.as_ptr() as u64 => _,
            out("o0") _, out("o1") _, out("o2") _, out("o3") _,
            out("g2") _, out("g3") _, out("g4") _, out("g5") _,
        )
    };
}

/// Recurses `depth` frames deep, each keeping a value of its own, then runs the
/// register check; true if every frame's value came back.
fn deep(depth: u64) -> bool {
    let mine = black_box(depth * 0x1111);
    let below = if depth == 0 {
        registers_after_signal();
        true
    } else {
        deep(depth - 1)
    };
    below && black_box(mine) == depth * 0x1111
}

/// The handler of check 12: clobbers every global, deep in windows of its own.
fn h_clobber(sig: u64, info: Option<&SigInfoT>, _: &mut UContext) {
    fn churn(n: u64) -> u64 {
        // SAFETY: the globals the handler's own code does not keep anything in.
        unsafe {
            asm!(
                "mov -1, %g2", "mov -1, %g3", "mov -1, %g4", "mov -1, %g5",
                "wr %g0, 0, %y",
                out("g2") _, out("g3") _, out("g4") _, out("g5") _,
            )
        };
        if n == 0 {
            0
        } else {
            black_box(churn(n - 1)) + 1
        }
    }
    black_box(churn(20));
    record(sig, info);
    FLAG.store(1, SeqCst);
}

pub(super) fn registers() {
    catch(SIGUSR1, h_clobber, 0);
    let poker = ok!(95, spawn(poke_lwp1, 20, 0));
    let windows = deep(12);
    check!(95, ran_by(1) == 1, "the handler ran {} times in LWP 1", ran_by(1));
    for (i, seen) in SEEN.iter().enumerate() {
        let (got, want) = (seen.load(SeqCst), expected(i));
        check!(96, got == want, "register slot {i}: {got:#x}, expected {want:#x}");
    }
    check!(97, windows, "a caller's frame lost its value across the handler");
    ok!(98, lwp_wait(poker));
    results_across_handler();
}

/// A call's results across a handler taken on its way out: the unblocking
/// `_lwp_sigmask` (a fast call) finds SIGUSR1 pending, the handler runs before
/// the call returns, and its return puts the call's result registers back: the
/// mask before the call.
fn results_across_handler() {
    catch(SIGUSR1, h_record, 0);
    let before = ran_by(1);
    block(&[SIGUSR1]);
    ok!(99, kill(super::pid(), SIGUSR1));
    check!(99, ran_by(1) == before, "a masked signal was taken");
    let old = ok!(99, sigprocmask(SIG_UNBLOCK, set(&[SIGUSR1])));
    check!(99, ran_by(1) == before + 1, "the unmasked signal was not taken on the way out");
    check!(99, old == set(&[SIGUSR1]), "the call returned {:?} across the handler", old.sigbits);
}
