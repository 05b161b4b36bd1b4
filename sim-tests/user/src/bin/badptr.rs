//! `badptr`: every system call that takes a pointer refuses a bad one with EFAULT
//! and the process goes on (S16): memory is reached only with the caller's own
//! rights, and nothing is done by a call that fails. Each pointer argument gets
//! each of: null, an unmapped address, a kernel address, a buffer that begins in
//! the last mapped page of the data and ends in the unmapped page after it, 2^43-8
//! (the end of user space), u64::MAX-7 (wrapping around); pointers the kernel
//! writes through also get the program's own text, which is read-only.
//!
//! Exit codes: 0 passed; 10*c + a: call c (1 write, 2 lwp_create's context, 3
//! lwp_create's id, 4 nanosleep, 5 lwp_times, 6 lwp_wait's id, 8 `_lwp_park`'s
//! timeout, 9 `lwp_mutex_timedlock`'s mutex, 10 its timeout, 11
//! `lwp_mutex_unlock`'s mutex) with address a (0 null, 1 unmapped, 2 kernel, 3
//! straddling, 4 2^43-8, 5 u64::MAX-7, 6 text) did not fail with EFAULT; 70 a refused lwp_create made an LWP anyway; 71 that LWP ran;
//! 72 the LWP that refused waits were about did not survive them; 73 a call with
//! good pointers failed.

#![no_std]
#![no_main]

use core::cell::UnsafeCell;

use lwp_user::abi::{
    LwpContext, LwpMutex, LwpTimes, Timespec, SYS_LWP_CREATE, SYS_LWP_MUTEX_TIMEDLOCK,
    SYS_LWP_MUTEX_UNLOCK, SYS_LWP_PARK, SYS_LWP_TIMES, SYS_LWP_WAIT, SYS_NANOSLEEP, SYS_WRITE,
};
use lwp_user::addr::{data_end, text, KERNEL, LIMIT, UNMAPPED};
use lwp_user::errno::{EDEADLK, EFAULT};
use lwp_user::{
    check, fail, lwp_times, lwp_wait, nanosleep, ok, say, spawn, syscall6, write, LwpId,
};

lwp_user::main!(main);

/// What the kernel does with a pointer argument.
#[derive(Clone, Copy, PartialEq)]
enum Use {
    Read,
    Written,
    /// Written unless null, which asks for nothing.
    WrittenOrNull,
    /// Read unless null, which means "none" (a timeout: for ever).
    ReadOrNull,
}

/// The bad addresses for an object of `len` bytes used so, with their numbers:
/// the straddling one has half of the object (at most 8 bytes, so that it stays
/// aligned) in the last mapped page; text only for what is written.
fn bad_addresses(len: u64, how: Use) -> impl Iterator<Item = (u8, &'static str, u64)> {
    let all = [
        ("null", 0),
        ("unmapped", UNMAPPED),
        ("kernel", KERNEL),
        ("straddling", data_end() - (len / 2).min(8)),
        ("2^43-8", LIMIT - 8),
        ("u64::MAX-7", u64::MAX - 7),
        ("text", text()),
    ];
    all.into_iter().enumerate().map(|(i, (name, a))| (i as u8, name, a)).filter(
        move |&(_, name, _)| {
            let or_null = matches!(how, Use::WrittenOrNull | Use::ReadOrNull);
            let read = matches!(how, Use::Read | Use::ReadOrNull);
            !(name == "null" && or_null || name == "text" && read)
        },
    )
}

/// Makes system call `num` with each bad address for argument `what` (an object
/// of `len` bytes), which `args` puts among the others: each must fail with
/// EFAULT, else the program exits with 10 * `call` + the address's number.
fn expect_efault(
    call: u8,
    what: &str,
    len: u64,
    how: Use,
    num: u64,
    args: impl Fn(u64) -> [u64; 6],
) {
    for (i, name, a) in bad_addresses(len, how) {
        // SAFETY: the pointer is bad on purpose, and every other argument is valid.
        let r = unsafe { syscall6(num, args(a)) };
        check!(10 * call + i, r == Err(EFAULT), "{what} with a {name} pointer {a:#x} = {r:?}");
    }
}

/// The stack of the LWP a refused `lwp_create` must not make.
#[repr(C, align(16))]
struct StrayStack(UnsafeCell<[u8; 4096]>);
// SAFETY: only its address is used, by an LWP that must never exist.
unsafe impl Sync for StrayStack {}
static STRAY_STACK: StrayStack = StrayStack(UnsafeCell::new([0; 4096]));

/// A good LWP mutex, for the calls whose other pointer is the bad one.
static MUTEX: LwpMutex = LwpMutex::new();

extern "C" fn stray(_: u64) -> ! {
    fail(env!("CARGO_BIN_NAME"), 71, format_args!("an LWP made by a refused lwp_create ran"))
}

fn main(_: u64) {
    let line = b"badptr: the good pointer works\n";
    ok!(73, write(1, line));
    expect_efault(1, "write", 16, Use::Read, SYS_WRITE, |a| [1, a, 16, 0, 0, 0]);

    let ctx = LwpContext {
        pc: stray as *const () as u64,
        stack_top: STRAY_STACK.0.get() as u64 + 4096,
        arg: 0,
    };
    let ctx_len = core::mem::size_of::<LwpContext>() as u64;
    let mut id: LwpId = 0;
    let idp = &mut id as *mut LwpId as u64;
    expect_efault(2, "lwp_create's context", ctx_len, Use::Read, SYS_LWP_CREATE, |a| {
        [a, 0, idp, 0, 0, 0]
    });
    let ctxp = &ctx as *const LwpContext as u64;
    expect_efault(3, "lwp_create's id", 4, Use::Written, SYS_LWP_CREATE, |a| [ctxp, 0, a, 0, 0, 0]);
    let r = lwp_wait(0);
    check!(70, r == Err(EDEADLK), "after refused lwp_creates, lwp_wait(any) = {r:?}");

    ok!(73, nanosleep(&Timespec { tv_sec: 0, tv_nsec: 1_000_000 }));
    expect_efault(
        4,
        "nanosleep",
        core::mem::size_of::<Timespec>() as u64,
        Use::Read,
        SYS_NANOSLEEP,
        |a| [a, 0, 0, 0, 0, 0],
    );
    ok!(73, lwp_times());
    expect_efault(
        5,
        "lwp_times",
        core::mem::size_of::<LwpTimes>() as u64,
        Use::Written,
        SYS_LWP_TIMES,
        |a| [a, 0, 0, 0, 0, 0],
    );

    // A refused wait reaps nothing: the LWP is still there for a good one.
    let z = ok!(73, spawn(|_| {}, 0, 0));
    expect_efault(6, "lwp_wait's id", 4, Use::WrittenOrNull, SYS_LWP_WAIT, |a| {
        [u64::from(z), a, 0, 0, 0, 0]
    });
    let r = lwp_wait(z);
    check!(72, r == Ok(z), "lwp_wait({z}) after the refused waits = {r:?}");

    // Parks and LWP mutexes: a timeout is read first, a mutex must be writable.
    let ts_len = core::mem::size_of::<Timespec>() as u64;
    expect_efault(8, "_lwp_park's timeout", ts_len, Use::ReadOrNull, SYS_LWP_PARK, |a| {
        [a, 0, 0, 0, 0, 0]
    });
    let m_len = core::mem::size_of::<LwpMutex>() as u64;
    expect_efault(
        9,
        "lwp_mutex_timedlock's mutex",
        m_len,
        Use::Written,
        SYS_LWP_MUTEX_TIMEDLOCK,
        |a| [a, 0, 0, 0, 0, 0],
    );
    let mp = &MUTEX as *const LwpMutex as u64;
    expect_efault(
        10,
        "lwp_mutex_timedlock's timeout",
        ts_len,
        Use::ReadOrNull,
        SYS_LWP_MUTEX_TIMEDLOCK,
        |a| [mp, a, 0, 0, 0, 0],
    );
    expect_efault(11, "lwp_mutex_unlock's mutex", m_len, Use::Written, SYS_LWP_MUTEX_UNLOCK, |a| {
        [a, 0, 0, 0, 0, 0]
    });
    say!("every bad pointer was refused with EFAULT");
}
