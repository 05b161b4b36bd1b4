//! `pipes`: descriptors and pipes from user mode (S1), between the LWPs of one
//! process. With argument 0:
//!
//! 1. a process starts with the console as 0, 1 and 2; a pipe's ends are the
//!    lowest free descriptors; bytes come out as they went in; `dup` names the
//!    same pipe; the end of the file once every write end is closed (a `dup`
//!    too); `FD_CLOEXEC` is the descriptor's own (`dup` clears it);
//! 2. bad arguments: descriptors that are not open (`EBADF`: closed, negative,
//!    past the table, an end used the wrong way), bad buffers (`EFAULT`, and a
//!    read into a bad buffer takes nothing from the pipe), `fcntl`'s unknown
//!    commands and flags (`EINVAL`), and a full table (`EMFILE`: pipes made until
//!    refused, every one of them then closed);
//! 3. two LWPs play ping-pong through two pipes, 2,000 rounds: every message
//!    arrives, in order;
//! 4. a write much larger than the pipe reaches a reader LWP whole and in order;
//!    writes of `PIPE_BUF` bytes from two LWPs at once are never interleaved;
//! 5. a write without readers fails with `EPIPE`, and the writing LWP is sent
//!    SIGPIPE (ignored; then caught: its handler runs in that LWP);
//! 6. a caught signal ends a `read` waiting on an empty pipe with `EINTR`; with
//!    `SA_RESTART` the read goes on, and returns what is written afterwards;
//!
//! and exits with an LWP asleep in `read` and pipes open: they go with the
//! process (the kernel's test checks that memory comes back). With argument 1, a
//! write without readers under SIGPIPE's default action: the process dies of it.
//! With argument 3, only the last: a pipe with an LWP asleep in its `read`, then
//! the exit; with 4, the same ended by SIGKILL sent to the process itself.
//!
//! Exit codes: 0 passed; 1 a call failed; 2 a descriptor is not what it should
//! be; 3 bytes were lost, changed or reordered; 4 no end of the file; 5 a bad
//! descriptor was not `EBADF`; 6 a bad buffer was not `EFAULT`, or lost bytes; 7
//! `fcntl` took a bad argument; 8 the table did not fill with `EMFILE`; 9 a
//! ping-pong message went astray; 10 a big write came out wrong; 11 atomic writes
//! were interleaved; 12 no `EPIPE`; 13 SIGPIPE did not reach the writer; 14 a
//! signal did not end a read with `EINTR`; 15 `SA_RESTART` did not restart it;
//! 16 the process outlived its SIGPIPE.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering::SeqCst};

use lwp_user::abi::{
    SigInfoT, SigSet, UContext, FD_CLOEXEC, F_GETFD, F_SETFD, PIPE_BUF, SA_RESTART, SIGKILL,
    SIGPIPE, SIGUSR1,
};
use lwp_user::errno::{EBADF, EFAULT, EINTR, EINVAL, EMFILE, EPIPE};
use lwp_user::signal::{kill, sigaction, Disposition};
use lwp_user::{
    addr, check, close, dup, exit, fcntl, getpid, lwp_kill, lwp_self, lwp_wait, ok, pipe, read,
    say, sleep_ms, spawn, write,
};

lwp_user::main!(main);

/// The bytes a pipe holds (the kernel's `PIPE_SIZE`).
const PIPE_SIZE: usize = 2 * PIPE_BUF;

fn main(arg: u64) {
    if arg == 3 || arg == 4 {
        reader_left_asleep(arg == 4);
    }
    if arg == 1 {
        let (r, w) = ok!(1, pipe());
        ok!(1, close(r));
        let _ = write(w, b"x");
        check!(16, false, "a write without readers under SIGPIPE's default action");
    }
    basics();
    bad_arguments();
    ping_pong();
    big_and_atomic_writes();
    broken_pipe();
    interrupted_read();
    // An LWP asleep in read, pipes open: the exit takes them all.
    let (r, _w) = ok!(1, pipe());
    ok!(1, spawn(read_forever, r, 0));
    sleep_ms(10);
    say!("pipes passed");
}

/// A pipe whose reader LWP is asleep in `read` when the process ends: by its exit,
/// or (`killed`) by SIGKILL.
fn reader_left_asleep(killed: bool) {
    let (r, _w) = ok!(1, pipe());
    ok!(1, spawn(read_forever, r, 0));
    sleep_ms(10);
    if killed {
        let _ = kill(ok!(1, getpid()), SIGKILL);
        sleep_ms(1_000);
        check!(1, false, "SIGKILL did not end the process");
    }
    exit(0)
}

fn read_forever(r: u64) {
    let mut b = [0u8; 1];
    let _ = read(r, &mut b);
    check!(1, false, "a read of a pipe nobody writes returned");
}

/// Reads exactly `buf.len()` bytes (a pipe may give fewer at a time).
fn read_all(fd: u64, buf: &mut [u8]) {
    let mut got = 0;
    while got < buf.len() {
        let n = ok!(1, read(fd, &mut buf[got..]));
        check!(3, n > 0, "the end of the file after {got} of {} bytes", buf.len());
        got += n;
    }
}

/// 1.
fn basics() {
    let (r, w) = ok!(1, pipe());
    check!(2, (r, w) == (3, 4), "the first pipe is ({r}, {w}), not (3, 4)");
    check!(2, ok!(1, write(1, b"")) == 0, "the console is not descriptor 1");
    check!(4, ok!(1, read(0, &mut [0u8; 4])) == 0, "the console gave input");
    check!(2, ok!(1, write(w, b"hello")) == 5, "a short write");
    let w2 = ok!(1, dup(w));
    check!(2, w2 == 5, "dup gave {w2}, not 5");
    check!(2, ok!(1, write(w2, b", world")) == 7, "a short write through dup");
    let mut buf = [0u8; 64];
    let n = ok!(1, read(r, &mut buf));
    check!(3, &buf[..n] == b"hello, world", "read {:?}", &buf[..n]);
    // FD_CLOEXEC is the descriptor's: dup does not copy it.
    check!(7, ok!(1, fcntl(w, F_GETFD, 0)) == 0, "a new descriptor has flags");
    ok!(1, fcntl(w, F_SETFD, FD_CLOEXEC));
    check!(7, ok!(1, fcntl(w, F_GETFD, 0)) == FD_CLOEXEC, "FD_CLOEXEC not kept");
    let w3 = ok!(1, dup(w));
    check!(7, ok!(1, fcntl(w3, F_GETFD, 0)) == 0, "dup copied FD_CLOEXEC");
    ok!(1, fcntl(w, F_SETFD, 0));
    check!(7, ok!(1, fcntl(w, F_GETFD, 0)) == 0, "FD_CLOEXEC not cleared");
    // The end of the file only once every write end is closed.
    ok!(1, write(w3, b"!"));
    ok!(1, close(w));
    ok!(1, close(w3));
    check!(3, ok!(1, read(r, &mut buf)) == 1 && buf[0] == b'!', "bytes after a close");
    ok!(1, close(w2));
    check!(4, ok!(1, read(r, &mut buf)) == 0, "no end of the file without writers");
    ok!(1, close(r));
}

/// 2.
fn bad_arguments() {
    let (r, w) = ok!(1, pipe());
    let mut buf = [0u8; 8];
    for fd in [7, 63, 64, 1000, u64::MAX, 1 << 32] {
        check!(5, read(fd, &mut buf) == Err(EBADF), "read({fd})");
        check!(5, write(fd, b"x") == Err(EBADF), "write({fd})");
        check!(5, close(fd) == Err(EBADF), "close({fd})");
        check!(5, dup(fd) == Err(EBADF), "dup({fd})");
        check!(5, fcntl(fd, F_GETFD, 0) == Err(EBADF), "fcntl({fd})");
    }
    check!(5, read(w, &mut buf) == Err(EBADF), "a read of the write end");
    check!(5, write(r, b"x") == Err(EBADF), "a write to the read end");
    check!(7, fcntl(r, 99, 0) == Err(EINVAL), "fcntl command 99");
    check!(7, fcntl(r, F_SETFD, 2) == Err(EINVAL), "fcntl flags 2");
    // Bad buffers: unmapped, beyond user space, read-only (for a read).
    for bad in [addr::UNMAPPED, addr::LIMIT, u64::MAX - 3] {
        check!(6, raw_write(w, bad, 8) == Err(EFAULT), "write from {bad:#x}");
    }
    ok!(1, write(w, b"kept"));
    for bad in [addr::UNMAPPED, addr::LIMIT, addr::text(), u64::MAX - 3] {
        check!(6, raw_read(r, bad, 8) == Err(EFAULT), "read into {bad:#x}");
    }
    let n = ok!(1, read(r, &mut buf));
    check!(6, &buf[..n] == b"kept", "a refused read took bytes: {:?}", &buf[..n]);
    // A full table: EMFILE, with no half-made pipe left behind.
    let mut ends = [0u64; 64];
    let mut n = 0;
    let full = loop {
        match pipe() {
            Ok((a, b)) => {
                ends[n] = a;
                ends[n + 1] = b;
                n += 2;
            }
            Err(e) => break e,
        }
    };
    check!(8, full == EMFILE && n == 58, "pipe() failed with {full} after {n} ends");
    // One descriptor is still free: dup takes it; then the table is full.
    let last = ok!(8, dup(r));
    check!(8, dup(r) == Err(EMFILE), "dup with a full table");
    ok!(1, close(last));
    for &fd in &ends[..n] {
        ok!(1, close(fd));
    }
    ok!(1, close(r));
    ok!(1, close(w));
    check!(5, close(w) == Err(EBADF), "a second close");
}

fn raw_read(fd: u64, buf: u64, len: u64) -> Result<(u64, u64), u64> {
    // SAFETY: the kernel must refuse the bad buffer (EFAULT) and write nothing.
    unsafe { lwp_user::syscall6(lwp_user::abi::SYS_READ, [fd, buf, len, 0, 0, 0]) }
}

fn raw_write(fd: u64, buf: u64, len: u64) -> Result<(u64, u64), u64> {
    // SAFETY: a write only reads the buffer; the kernel must refuse the bad one.
    unsafe { lwp_user::syscall6(lwp_user::abi::SYS_WRITE, [fd, buf, len, 0, 0, 0]) }
}

/// The ping-pong's pipes: to the other LWP (`PING`) and back (`PONG`), read and
/// write ends packed as `r | w << 16`.
static PING: AtomicU64 = AtomicU64::new(0);
static PONG: AtomicU64 = AtomicU64::new(0);
const ROUNDS: u64 = 2_000;

fn ends(p: &AtomicU64) -> (u64, u64) {
    let v = p.load(SeqCst);
    (v & 0xffff, v >> 16)
}

fn new_pipe(p: &AtomicU64) {
    let (r, w) = ok!(1, pipe());
    p.store(r | w << 16, SeqCst);
}

/// The other side: answers every message with the message plus one.
fn ponger(rounds: u64) {
    let ((r, _), (_, w)) = (ends(&PING), ends(&PONG));
    for _ in 0..rounds {
        let mut m = [0u8; 8];
        read_all(r, &mut m);
        let v = u64::from_be_bytes(m) + 1;
        check!(9, ok!(1, write(w, &v.to_be_bytes())) == 8, "a short answer");
    }
}

/// 3.
fn ping_pong() {
    new_pipe(&PING);
    new_pipe(&PONG);
    let other = ok!(1, spawn(ponger, ROUNDS, 0));
    let ((_, w), (r, _)) = (ends(&PING), ends(&PONG));
    for i in 0..ROUNDS {
        let v = i * 1000;
        check!(9, ok!(1, write(w, &v.to_be_bytes())) == 8, "a short message");
        let mut m = [0u8; 8];
        read_all(r, &mut m);
        check!(9, u64::from_be_bytes(m) == v + 1, "round {i}: answer {}", u64::from_be_bytes(m));
    }
    ok!(1, lwp_wait(other));
    close_pipe(&PING);
    close_pipe(&PONG);
}

fn close_pipe(p: &AtomicU64) {
    let (r, w) = ends(p);
    ok!(1, close(r));
    ok!(1, close(w));
}

/// The byte at offset `i` of the big write.
fn pattern(i: usize) -> u8 {
    (i * 7 + i / 251) as u8
}

const BIG: usize = 3 * PIPE_SIZE + 123;
static mut BIG_BUF: [u8; BIG] = [0; BIG];

/// Reads the big write and checks it; then reads two atomic writes' worth.
fn big_reader(_: u64) {
    let (r, _) = ends(&PING);
    let mut chunk = [0u8; 1000];
    let mut at = 0;
    while at < BIG {
        let want = chunk.len().min(BIG - at);
        let n = ok!(1, read(r, &mut chunk[..want]));
        check!(10, n > 0, "the end of the file at {at}");
        for (k, &b) in chunk[..n].iter().enumerate() {
            check!(10, b == pattern(at + k), "byte {} is {b}", at + k);
        }
        at += n;
    }
}

/// Writes `PIPE_BUF` bytes of its own value, 20 times.
fn atomic_writer(v: u64) {
    let (_, w) = ends(&PING);
    let block = [v as u8; PIPE_BUF];
    for _ in 0..20 {
        check!(11, ok!(1, write(w, &block)) == PIPE_BUF, "a short atomic write");
    }
}

/// 4.
fn big_and_atomic_writes() {
    new_pipe(&PING);
    let (r, w) = ends(&PING);
    // SAFETY: only this LWP touches the buffer, before the reader starts.
    let big = unsafe { &mut *core::ptr::addr_of_mut!(BIG_BUF) };
    for (i, b) in big.iter_mut().enumerate() {
        *b = pattern(i);
    }
    let reader = ok!(1, spawn(big_reader, 0, 0));
    check!(10, ok!(1, write(w, big)) == BIG, "the big write came back short");
    ok!(1, lwp_wait(reader));
    // Two writers of PIPE_BUF blocks; this LWP reads them all, block by block.
    let writers = [ok!(1, spawn(atomic_writer, 1, 0)), ok!(1, spawn(atomic_writer, 2, 0))];
    let mut block = [0u8; PIPE_BUF];
    for _ in 0..40 {
        read_all(r, &mut block);
        let v = block[0];
        check!(11, (v == 1 || v == 2) && block.iter().all(|&b| b == v), "blocks interleaved");
    }
    for id in writers {
        ok!(1, lwp_wait(id));
    }
    close_pipe(&PING);
}

/// The LWP that took the last SIGPIPE, and how many it took.
static SIGPIPE_LWP: AtomicU64 = AtomicU64::new(0);
static SIGPIPES: AtomicU64 = AtomicU64::new(0);

fn on_sigpipe(_: u64, _: Option<&SigInfoT>, _: &mut UContext) {
    SIGPIPE_LWP.store(u64::from(lwp_self().unwrap_or(0)), SeqCst);
    SIGPIPES.fetch_add(1, SeqCst);
}

fn write_broken(w: u64) {
    check!(12, write(w, b"lost") == Err(EPIPE), "a write without readers");
}

/// 5.
fn broken_pipe() {
    let (r, w) = ok!(1, pipe());
    ok!(1, close(r));
    ok!(1, sigaction(SIGPIPE, Disposition::Ignore, 0, SigSet::EMPTY));
    write_broken(w);
    ok!(1, sigaction(SIGPIPE, Disposition::Catch(on_sigpipe), 0, SigSet::EMPTY));
    let writer = ok!(1, spawn(write_broken, w, 0));
    ok!(1, lwp_wait(writer));
    check!(13, SIGPIPES.load(SeqCst) == 1, "SIGPIPE taken {} times", SIGPIPES.load(SeqCst));
    check!(
        13,
        SIGPIPE_LWP.load(SeqCst) == u64::from(writer),
        "SIGPIPE went to LWP {}, not the writer {writer}",
        SIGPIPE_LWP.load(SeqCst)
    );
    ok!(1, close(w));
}

static USR1S: AtomicU64 = AtomicU64::new(0);

fn on_usr1(_: u64, _: Option<&SigInfoT>, _: &mut UContext) {
    USR1S.fetch_add(1, SeqCst);
}

/// Sends SIGUSR1 to LWP 1 after 30 ms; then, if `w` is a descriptor, writes a
/// byte to it 30 ms later.
fn poke_then_write(w: u64) {
    sleep_ms(30);
    ok!(1, lwp_kill(1, SIGUSR1));
    if w != 0 {
        sleep_ms(30);
        ok!(1, write(w, b"R"));
    }
}

/// 6.
fn interrupted_read() {
    let (r, w) = ok!(1, pipe());
    let mut b = [0u8; 4];
    ok!(1, sigaction(SIGUSR1, Disposition::Catch(on_usr1), 0, SigSet::EMPTY));
    let poker = ok!(1, spawn(poke_then_write, 0, 0));
    let got = read(r, &mut b);
    check!(14, got == Err(EINTR) && USR1S.load(SeqCst) == 1, "read: {got:?}");
    ok!(1, lwp_wait(poker));
    ok!(1, sigaction(SIGUSR1, Disposition::Catch(on_usr1), SA_RESTART, SigSet::EMPTY));
    let poker = ok!(1, spawn(poke_then_write, w, 0));
    let got = read(r, &mut b);
    check!(15, got == Ok(1) && b[0] == b'R' && USR1S.load(SeqCst) == 2, "read: {got:?}");
    ok!(1, lwp_wait(poker));
    ok!(1, close(r));
    ok!(1, close(w));
}
