//! `mmap`: anonymous memory and the growing stack from user mode (S1, S13, S16).
//! The argument selects what it checks:
//!
//! | arg | what |
//! |---|---|
//! | 0 | `sysconfig`'s figures; pages mapped (zero-filled, where the kernel chooses, apart), touched, read back; `mprotect` to read-only (reads work, a write from LWP 2 is SIGSEGV `SEGV_ACCERR` at LWP 2, at the page, and changes nothing), back to read-write, to none (a read is `SEGV_ACCERR`); `munmap` (a read after it is `SEGV_MAPERR`; unmapping nothing is fine); `MAP_FIXED` into the hole and over a mapping (zeros both times); the pool back where it was; every bad argument's errno |
//! | 1 | memory exhausted: mappings until `ENOMEM` take nearly every free page of the pool, which then refuses `fork1` and a fixed mapping with `ENOMEM` while an LWP can still be made (the heap is apart); everything unmapped, the pool has all its pages back |
//! | 2 | the main stack grows: 20,000 frames of 256 bytes (5 MB) deep, each frame's word read back on the way up; a system call's read of a word below the stack grows it (the word reads 0); a store just above the stack limit grows it that far, one below (the guard page) is SIGSEGV `SEGV_MAPERR` there; a child that maps memory and recurses deep exits, and every page it had is back in the pool; one that recurses past the limit dies of SIGSEGV |
//!
//! Exit codes: 0 passed; otherwise the number of the failed check, 200 an unknown
//! argument, 101 a panic.

#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

use core::arch::asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};

use lwp_user::abi::*;
use lwp_user::addr::{data_end, text, KERNEL, LIMIT, STACK_BOTTOM, STACK_FLOOR, STACK_TOP};
use lwp_user::errno::{EBADF, EINVAL, ENODEV, ENOMEM, ENOTSUP};
use lwp_user::signal::{sigaction, sigprocmask, Disposition};
use lwp_user::{
    check, exit, fork1, lwp_self, lwp_wait, mmap, mmap_anon, mprotect, munmap, ok, say, spawn,
    syscall6, sysconfig, waitpid,
};

lwp_user::main!(main);

const PAGE: u64 = 8192;
const RW: u64 = PROT_READ | PROT_WRITE;
const ANON: u64 = MAP_PRIVATE | MAP_ANON;
const REG_O0: usize = 11;

/// Free pages of the pool.
fn avail() -> u64 {
    ok!(90, sysconfig(CONFIG_AVPHYS_PAGES))
}

/// The last SIGSEGV: LWP, `si_code`, `si_addr`; and how many.
static SEGV: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
/// Where a repaired access goes.
static SCRATCH: AtomicU64 = AtomicU64::new(0);

/// SIGSEGV's handler: records it, and points the access's address register (`%o0`)
/// at `SCRATCH`, where the access is made again.
fn h_segv(_: u64, info: Option<&SigInfoT>, uc: &mut UContext) {
    SEGV[0].store(u64::from(ok!(91, lwp_self())), SeqCst);
    if let Some(i) = info {
        SEGV[1].store(i.si_code as u64, SeqCst);
        SEGV[2].store(i.si_addr, SeqCst);
    }
    SEGV[3].fetch_add(1, SeqCst);
    uc.uc_mcontext.gregs[REG_O0] = SCRATCH.as_ptr() as u64;
}

/// The SIGSEGVs so far, and the last one's (LWP, code, address).
fn segv() -> (u64, (u64, i32, u64)) {
    let n = SEGV[3].load(SeqCst);
    (n, (SEGV[0].load(SeqCst), SEGV[1].load(SeqCst) as i32, SEGV[2].load(SeqCst)))
}

/// An 8-byte load from `addr`, through `%o0` (a fault's handler may move it).
fn load(addr: u64) -> u64 {
    let v: u64;
    // SAFETY: reads memory of this program's, or faults, and the handler points
    // %o0 at SCRATCH. It only reads.
    unsafe { asm!("ldx [%o0], %o1", inout("o0") addr => _, out("o1") v, options(nostack)) };
    v
}

/// An 8-byte store of `v` at `addr`, through `%o0` (as `load`).
fn store(addr: u64, v: u64) {
    // SAFETY: writes anonymous memory of this program's that no Rust object lives
    // in, or faults and goes to SCRATCH.
    unsafe { asm!("stx %o1, [%o0]", inout("o0") addr => _, in("o1") v, options(nostack)) };
}

/// `mmap` with every argument given.
fn mmap6(addr: u64, len: u64, prot: u64, flags: u64, fd: u64, off: u64) -> Result<u64, u64> {
    // SAFETY: the ranges this program maps fixed hold nothing it still uses.
    unsafe { mmap(addr, len, prot, flags, fd, off) }
}

fn unmap(addr: u64, len: u64) -> Result<(), u64> {
    // SAFETY: only anonymous memory of this program's, which it no longer uses (or
    // ranges the kernel must refuse).
    unsafe { munmap(addr, len) }
}

fn protect(addr: u64, len: u64, prot: u64) -> Result<(), u64> {
    // SAFETY: anonymous memory reached only through `load` and `store`, which a
    // fault does not break (or ranges the kernel must refuse).
    unsafe { mprotect(addr, len, prot) }
}

fn main(arg: u64) {
    ok!(92, sigaction(SIGSEGV, Disposition::Catch(h_segv), SA_SIGINFO, SigSet::EMPTY));
    match arg & 0xff {
        0 => anon(),
        1 => exhaust(),
        2 => stack(),
        _ => check!(200, false, "no mode {arg}"),
    }
}

// ---- 0 ----------------------------------------------------------------------------

/// Check 4's LWP: a store to the read-only page, at the page's first byte, with
/// SIGSEGV unmasked here (LWP 1, which made this LWP, masks it).
fn write_read_only(page: u64) {
    ok!(4, sigprocmask(SIG_UNBLOCK, SigSet::of(&[SIGSEGV])));
    store(page, 0xbad);
}

fn anon() {
    let (page, total) = (ok!(1, sysconfig(CONFIG_PAGESIZE)), ok!(1, sysconfig(CONFIG_PHYS_PAGES)));
    let free0 = avail();
    check!(1, page == PAGE && total > 0 && free0 <= total, "{page}, {total} pages, {free0} free");

    let a = ok!(2, mmap_anon(3 * PAGE, RW));
    let (lo, hi) = (a, a + 3 * PAGE);
    check!(2, a % PAGE == 0 && (hi <= text() || a >= data_end()), "mapped at {a:#x}");
    check!(2, hi <= STACK_FLOOR - PAGE, "mapped at {a:#x}, in the stack's room");
    for at in (lo..hi).step_by(8) {
        check!(2, load(at) == 0, "{at:#x} is not zero");
    }
    for at in (lo..hi).step_by(64) {
        store(at, at ^ 0x5a5a);
    }
    for at in (lo..hi).step_by(64) {
        check!(2, load(at) == at ^ 0x5a5a, "{at:#x} did not keep its value");
    }
    check!(2, avail() + 3 <= free0, "3 pages mapped, the pool went from {free0} to {}", avail());
    let b = ok!(3, mmap_anon(PAGE, RW));
    check!(3, b + PAGE <= lo || b >= hi, "a second mapping at {b:#x} in the first");

    // Read-only: reads work; LWP 2's write faults at LWP 2, with ACCERR.
    let p1 = lo + PAGE;
    ok!(4, protect(p1, PAGE, PROT_READ));
    check!(4, load(p1) == p1 ^ 0x5a5a, "read-only, the page reads {:#x}", load(p1));
    ok!(4, sigprocmask(SIG_BLOCK, SigSet::of(&[SIGSEGV])));
    let (n0, _) = segv();
    let w = ok!(4, spawn(write_read_only, p1, 0));
    ok!(4, lwp_wait(w));
    ok!(4, sigprocmask(SIG_UNBLOCK, SigSet::of(&[SIGSEGV])));
    let (n, last) = segv();
    check!(4, n == n0 + 1, "{} SIGSEGVs for one write to a read-only page", n - n0);
    check!(4, last == (u64::from(w), SEGV_ACCERR, p1), "SIGSEGV (LWP, code, addr) {last:?}");
    check!(4, load(p1) == p1 ^ 0x5a5a, "the refused write changed the page");
    ok!(5, protect(p1, PAGE, RW));
    store(p1, 5);
    check!(5, load(p1) == 5 && segv().0 == n, "read-write again, a write did not take");

    // No access at all: a read faults, with ACCERR.
    let p2 = lo + 2 * PAGE;
    ok!(6, protect(p2, PAGE, PROT_NONE));
    let _ = load(p2);
    let (n, last) = segv();
    check!(6, last == (1, SEGV_ACCERR, p2), "a read of PROT_NONE: SIGSEGV {last:?}");
    ok!(6, protect(p2, PAGE, RW));
    check!(6, load(p2) == p2 ^ 0x5a5a, "PROT_NONE and back lost the page's contents");

    // Unmapped: a read faults, with MAPERR; the neighbours live on.
    ok!(7, unmap(lo, PAGE));
    let _ = load(lo);
    let (n2, last) = segv();
    check!(7, n2 == n + 1 && last == (1, SEGV_MAPERR, lo), "a read after munmap: {last:?}");
    check!(7, load(p1) == 5 && load(p2) == p2 ^ 0x5a5a, "munmap took a neighbour's contents");
    ok!(7, unmap(lo, PAGE));
    ok!(7, unmap(0x2000_0000, 16 * PAGE));

    // Fixed: into the hole, then over a mapping with data: zeros both times.
    check!(8, ok!(8, mmap6(lo, PAGE, RW, ANON | MAP_FIXED, u64::MAX, 0)) == lo, "not at {lo:#x}");
    check!(8, load(lo) == 0 && load(p1) == 5, "the fixed page is not new, or took the next");
    store(lo, 8);
    check!(9, ok!(9, mmap6(lo, 2 * PAGE, RW, ANON | MAP_FIXED, u64::MAX, 0)) == lo, "not at lo");
    check!(9, load(lo) == 0 && load(p1) == 0, "a fixed mapping kept what it replaced");
    check!(9, load(p2) == p2 ^ 0x5a5a, "a fixed mapping took the page after it");

    ok!(10, unmap(lo, 3 * PAGE));
    ok!(10, unmap(b, PAGE));
    check!(10, avail() == free0, "{free0} pages free before, {} after munmap", avail());
    errors();
}

/// Every bad argument's error (S16), and that none of them mapped anything.
fn errors() {
    let free0 = avail();
    let fixed = ANON | MAP_FIXED;
    let cases: &[(u8, &str, Result<u64, u64>, u64)] = &[
        (20, "len 0", mmap6(0, 0, RW, ANON, u64::MAX, 0), EINVAL),
        (21, "prot 8", mmap6(0, PAGE, 8, ANON, u64::MAX, 0), EINVAL),
        (22, "no type", mmap6(0, PAGE, RW, MAP_ANON, u64::MAX, 0), EINVAL),
        (23, "type 3", mmap6(0, PAGE, RW, 3 | MAP_ANON, u64::MAX, 0), EINVAL),
        (24, "shared", mmap6(0, PAGE, RW, MAP_SHARED | MAP_ANON, u64::MAX, 0), ENOTSUP),
        (25, "flag 0x200", mmap6(0, PAGE, RW, ANON | 0x200, u64::MAX, 0), EINVAL),
        (26, "fd -1", mmap6(0, PAGE, RW, MAP_PRIVATE, u64::MAX, 0), EBADF),
        (27, "the console", mmap6(0, PAGE, RW, MAP_PRIVATE, 1, 0), ENODEV),
        (28, "offset", mmap6(0, PAGE, RW, ANON, u64::MAX, 100), EINVAL),
        (29, "misaligned", mmap6(0x2000_0100, PAGE, RW, fixed, u64::MAX, 0), EINVAL),
        (30, "past 2^43", mmap6(LIMIT - PAGE, 2 * PAGE, RW, fixed, u64::MAX, 0), ENOMEM),
        (31, "wrapping", mmap6(LIMIT - PAGE, u64::MAX, RW, fixed, u64::MAX, 0), ENOMEM),
        (32, "text", mmap6(text() & !(PAGE - 1), PAGE, RW, fixed, u64::MAX, 0), EINVAL),
        (33, "stack", mmap6(STACK_TOP - PAGE, PAGE, RW, fixed, u64::MAX, 0), EINVAL),
        (34, "its room", mmap6(STACK_BOTTOM - PAGE, PAGE, RW, fixed, u64::MAX, 0), EINVAL),
        (35, "its guard", mmap6(STACK_FLOOR - PAGE, PAGE, RW, fixed, u64::MAX, 0), EINVAL),
        (36, "the kernel", mmap6(KERNEL & !(PAGE - 1), PAGE, RW, fixed, u64::MAX, 0), EINVAL),
        (37, "schedctl", mmap6(SC_BASE, PAGE, RW, fixed, u64::MAX, 0), EINVAL),
        (38, "2^42 bytes", mmap6(0, 1 << 42, RW, ANON, u64::MAX, 0), ENOMEM),
        (39, "u64::MAX bytes", mmap6(0, u64::MAX, RW, ANON, u64::MAX, 0), ENOMEM),
    ];
    for &(code, what, r, want) in cases {
        check!(code, r == Err(want), "mmap, {what}: {r:?}, not {want}");
    }
    let cases: &[(u8, &str, Result<(), u64>, u64)] = &[
        (40, "munmap misaligned", unmap(0x2000_0100, PAGE), EINVAL),
        (41, "munmap len 0", unmap(0x2000_0000, 0), EINVAL),
        (42, "munmap past 2^43", unmap(LIMIT - PAGE, 2 * PAGE), EINVAL),
        (43, "munmap text", unmap(text() & !(PAGE - 1), PAGE), EINVAL),
        (44, "munmap stack", unmap(STACK_TOP - PAGE, PAGE), EINVAL),
        (45, "munmap kernel", unmap(KERNEL & !(PAGE - 1), PAGE), EINVAL),
        (46, "mprotect nothing", protect(0x2000_0000, PAGE, PROT_READ), ENOMEM),
        (47, "mprotect misaligned", protect(0x2000_0100, PAGE, PROT_READ), EINVAL),
        (48, "mprotect prot 8", protect(0x2000_0000, PAGE, 8), EINVAL),
        (49, "mprotect text", protect(text() & !(PAGE - 1), PAGE, RW), EINVAL),
        (50, "mprotect stack", protect(STACK_TOP - PAGE, PAGE, PROT_READ), EINVAL),
        (51, "mprotect past 2^43", protect(LIMIT - PAGE, 2 * PAGE, PROT_READ), ENOMEM),
        (52, "sysconfig 1", sysconfig(1).map(drop), EINVAL),
    ];
    for &(code, what, r, want) in cases {
        check!(code, r == Err(want), "{what}: {r:?}, not {want}");
    }
    // A range partly mapped: mprotect refuses it whole.
    let a = ok!(53, mmap_anon(PAGE, RW));
    let r = protect(a - PAGE, 2 * PAGE, PROT_READ);
    check!(53, r == Err(ENOMEM), "a range half unmapped: {r:?}");
    store(a, 53);
    check!(53, load(a) == 53, "the refused mprotect changed the mapped half");
    ok!(53, unmap(a, PAGE));
    check!(54, avail() == free0, "the refused calls left {} pages of {free0}", avail());
    say!("anonymous memory: mapped, protected, unmapped, fixed; every bad argument refused");
}

// ---- 1 ----------------------------------------------------------------------------

/// The mappings of `exhaust`: address and length.
const MAX_CHUNKS: usize = 1024;
struct Chunks(UnsafeCell<[(u64, u64); MAX_CHUNKS]>);
// SAFETY: only the main LWP uses it.
unsafe impl Sync for Chunks {}
static CHUNKS: Chunks = Chunks(UnsafeCell::new([(0, 0); MAX_CHUNKS]));

fn child_of_nothing(_: u64) {}

fn exhaust() {
    let free0 = avail();
    // SAFETY: this LWP alone uses the array.
    let chunks = unsafe { &mut *CHUNKS.0.get() };
    let (mut n, mut pages) = (0, 0);
    for len in [128 * PAGE, PAGE] {
        while n < MAX_CHUNKS {
            match mmap_anon(len, RW) {
                Ok(a) => {
                    for at in (a..a + len).step_by(PAGE as usize) {
                        store(at, at);
                    }
                    chunks[n] = (a, len);
                    n += 1;
                    pages += len / PAGE;
                }
                Err(e) => {
                    check!(60, e == ENOMEM, "mmap with the pool running out: {e}");
                    break;
                }
            }
        }
    }
    let left = avail();
    check!(61, n < MAX_CHUNKS && left <= 1, "{n} mappings, {pages} pages; {left} left");
    check!(61, pages >= free0 - free0 / 64, "{pages} pages mapped of {free0} free");
    say!("{pages} pages mapped of {free0} free, in {n} mappings; {left} left");
    check!(62, fork1() == Err(ENOMEM), "fork1 with no memory left");
    let r = mmap6(0x2000_0000, PAGE, RW, ANON | MAP_FIXED, u64::MAX, 0);
    check!(63, r == Err(ENOMEM), "a fixed mapping with no memory left: {r:?}");
    // The kernel's own memory is apart: an LWP can still be made.
    let id = ok!(64, spawn(child_of_nothing, 0, 0));
    ok!(64, lwp_wait(id));
    for &(a, len) in chunks[..n].iter().rev() {
        check!(65, load(a) == a && load(a + len - PAGE) == a + len - PAGE, "{a:#x} lost data");
        ok!(65, unmap(a, len));
    }
    check!(66, avail() == free0, "{free0} pages free before, {} after unmapping all", avail());
    say!("memory exhausted: ENOMEM, and every page back");
}

// ---- 2 ----------------------------------------------------------------------------

/// Recurses `n` frames of 256 bytes each on the stack (a `save` each), writes each
/// frame's depth in a word of its own, and on the way back up adds those words:
/// `n (n + 1) / 2` if every frame kept its word.
fn deep(n: u64) -> u64 {
    let sum: u64;
    // SAFETY: the frames are made below the stack pointer and all popped before
    // the asm ends (one `restore` per `save`); the words written are in them.
    unsafe {
        asm!(
            "clr %g2",                      // the sum
            "clr %g3",                      // frames made
            "1: save %sp, -256, %sp",
            "stx %i0, [%sp + 2047 + 176]",  // the frame's word, above its save area
            "add %g3, 1, %g3",
            "subcc %i0, 1, %o0",
            "bnz,pt %xcc, 1b",
            " nop",
            "2: ldx [%sp + 2047 + 176], %g4",
            "add %g2, %g4, %g2",
            "subcc %g3, 1, %g3",
            "bnz,pt %xcc, 2b",
            " restore",
            "mov %g2, {sum}",
            sum = lateout(reg) sum,
            inout("o0") n => _,
            out("g2") _, out("g3") _, out("g4") _,
        )
    };
    sum
}

fn stack() {
    let free0 = avail();
    let n = 20_000;
    check!(70, deep(n) == n * (n + 1) / 2, "20,000 frames deep, a frame lost its word");
    let grown = free0 - avail();
    check!(70, grown >= (n * 256 - (STACK_TOP - STACK_BOTTOM)) / PAGE, "grew by {grown} pages");

    // A child maps memory, grows its stack further, exits: every page comes back.
    let free = avail();
    match ok!(73, fork1()) {
        0 => {
            let a = mmap_anon(16 * PAGE, RW).unwrap_or(0);
            if a != 0 {
                store(a + 15 * PAGE, 1);
            }
            let m = 30_000;
            exit(if a != 0 && deep(m) == m * (m + 1) / 2 { 0 } else { 1 });
        }
        pid => {
            let (_, status) = ok!(73, waitpid(pid, 0));
            check!(73, status == 0, "the child ended {status:#x}");
        }
    }
    check!(74, avail() == free, "{free} pages free before the child, {} after", avail());

    // Past the limit: SIGSEGV, which cannot be caught on a stack that is full.
    match ok!(75, fork1()) {
        0 => {
            let m = 40_000;
            let _ = deep(m);
            exit(2);
        }
        pid => {
            let (_, status) = ok!(75, waitpid(pid, 0));
            check!(75, status & 0x7f == SIGSEGV as i32, "10 MB deep, the child ended {status:#x}");
        }
    }
    check!(76, avail() == free, "{free} pages free before the children, {} after", avail());

    // The kernel's read of a word below the stack (the set of `sigprocmask`) grows
    // it as the LWP's own load would: the set is read as zeros, not EFAULT.
    let below = STACK_FLOOR + 3 * PAGE;
    let (n0, _) = segv();
    // SAFETY: a system call that reads a set at `below` and writes nothing.
    let r = unsafe { syscall6(SYS_SIGPROCMASK, [SIG_BLOCK, below, 0, 0, 0, 0]) };
    check!(77, r == Ok((0, 0)), "sigprocmask of a set below the stack: {r:?}");
    check!(77, load(below) == 0 && segv().0 == n0, "the page below the stack was not grown");

    // Just above the limit: the stack grows all the way there; just below it, in
    // the guard page, SIGSEGV with MAPERR.
    let (n0, _) = segv();
    store(STACK_FLOOR + 8, 71);
    check!(71, segv().0 == n0 && load(STACK_FLOOR + 8) == 71, "a store at the limit faulted");
    store(STACK_FLOOR - 8, 72);
    let (n1, last) = segv();
    check!(72, n1 == n0 + 1 && (last.0, last.1) == (1, SEGV_MAPERR), "below the limit: {last:?}");
    let guard = (STACK_FLOOR - 8) & !(PAGE - 1);
    check!(72, last.2 & !(PAGE - 1) == guard, "below the limit, at {:#x}", last.2);
    say!("the stack grew to 5 MB and to its limit, and not past it");
}
