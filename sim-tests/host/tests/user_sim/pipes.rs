//! Descriptors and pipes from user programs of the simulation (S1), the LWPs on
//! several CPUs: a ping-pong between two LWPs of one process; the end of the file
//! once the writers are closed; `EPIPE` with SIGPIPE ignored, and death by
//! SIGPIPE under its default action; `EINTR` for a read a caught signal
//! interrupts; `EBADF` for descriptors that are not open (or used the wrong way);
//! `EFAULT` for bad buffers, with nothing taken from the pipe.

use arch::sim::user;
use arch::USER_LIMIT;
use kern::proc::WaitStatus;
use kern_selftest::{ensure_eq, reap, Test, TestResult};
use lwp_abi::*;

use super::lwps::{lwp_exit, wait_lwp, worker_arg};
use super::signals::{catch, h_record, poke_lwp1, ran_by, sigaction};
use super::{errno, exit, new_space, peek, start, sys, DATA, HOLE, RO};

/// The tests, in the order they run.
pub static PIPES: &[Test] = &[
    Test::new("pipes_ping_pong_between_lwps", ping_pong),
    Test::new("pipes_eof_epipe_and_bad_arguments", eof_epipe_and_bad_arguments),
    Test::new("pipes_sigpipe_kills_by_default", sigpipe_kills),
    Test::new("pipes_read_interrupted_by_a_signal", read_interrupted),
    Test::new("pipes_sleeping_reader_gives_the_pipe_back", sleeping_reader_gives_it_back),
];

// What lives where in `DATA` (whose words lie where: the table in `user_sim`).
/// The ping-pong's two pipes: read and write ends, a word each.
const PING: u64 = DATA + 0x1e00;
const PONG: u64 = DATA + 0x1e10;
/// Each side's message buffer.
const MSG: u64 = DATA + 0x1e20;
/// The rounds the answering side played.
const PLAYED: u64 = DATA + 0x1e40;
/// A buffer for the other tests.
const BUF: u64 = DATA + 0x1f00;
/// A timespec for a nap.
const NAP: u64 = DATA + 0x1f80;

const ROUNDS: u64 = 300;

fn pipe() -> (u64, u64) {
    sys(SYS_PIPE, &[]).expect("pipe")
}

fn read(fd: u64, buf: u64, len: u64) -> Result<u64, u64> {
    sys(SYS_READ, &[fd, buf, len]).map(|(n, _)| n)
}

fn write(fd: u64, buf: u64, len: u64) -> Result<u64, u64> {
    sys(SYS_WRITE, &[fd, buf, len]).map(|(n, _)| n)
}

fn close(fd: u64) -> Result<u64, u64> {
    sys(SYS_CLOSE, &[fd]).map(|(n, _)| n)
}

/// Reads an 8-byte message into `at` (a pipe may give it in pieces).
fn read_msg(fd: u64, at: u64) -> u64 {
    let mut got = 0;
    while got < 8 {
        let n = read(fd, at + got, 8 - got).expect("read");
        assert!(n > 0, "user: the end of the file in a message");
        got += n;
    }
    user::load_u64(at)
}

fn send_msg(fd: u64, at: u64, v: u64) {
    user::store_u64(at, v);
    assert_eq!(write(fd, at, 8), Ok(8), "user: a short message");
}

/// The answering LWP: each message plus one, back.
fn ponger(rounds: u64) {
    let (r, w) = (user::load_u64(PING), user::load_u64(PONG + 8));
    for k in 0..rounds {
        let v = read_msg(r, MSG + 8);
        send_msg(w, MSG + 8, v + 1);
        user::store_u64(PLAYED, k + 1);
    }
    lwp_exit()
}

fn ping_pong_main(rounds: u64) {
    let (pr, pw) = pipe();
    let (qr, qw) = pipe();
    assert_eq!((pr, pw, qr, qw), (3, 4, 5, 6), "user: the pipes' descriptors");
    for (at, v) in [(PING, pr), (PING + 8, pw), (PONG, qr), (PONG + 8, qw)] {
        user::store_u64(at, v);
    }
    let other = worker_arg(0, ponger, rounds);
    for k in 0..rounds {
        send_msg(pw, MSG, 3 * k);
        assert_eq!(read_msg(qr, MSG), 3 * k + 1, "user: round {k}");
    }
    wait_lwp(other);
    exit(0)
}

/// S1, S3: two LWPs of one process, on different CPUs when there are several,
/// hand messages back and forth through two pipes, each blocking in `read` until
/// the other writes: every answer comes back, in order.
fn ping_pong() -> TestResult {
    let space = new_space()?;
    ensure_eq!(reap(start(&space, ping_pong_main, ROUNDS)?)?, WaitStatus::Exited(0));
    ensure_eq!(peek(&space, PLAYED)?, ROUNDS);
    Ok(())
}

fn eof_epipe_main(_: u64) {
    let (ebadf, efault) = (Err(errno(Errno::EBADF)), Err(errno(Errno::EFAULT)));
    let (r, w) = pipe();
    for (k, b) in b"hello".iter().enumerate() {
        user::store_u8(BUF + k as u64, *b);
    }
    assert_eq!(write(w, BUF, 5), Ok(5));
    // Bad buffers: nothing is taken from the pipe.
    for bad in [HOLE, USER_LIMIT, u64::MAX - 3, RO] {
        assert_eq!(read(r, bad, 5), efault, "user: read into {bad:#x}");
        if bad != RO {
            assert_eq!(write(w, bad, 5), efault, "user: write from {bad:#x}");
        }
    }
    // Descriptors not open, or the wrong way.
    for fd in [7, 64, 1000, u64::MAX] {
        assert_eq!(read(fd, BUF, 1), ebadf, "user: read({fd})");
        assert_eq!(write(fd, BUF, 1), ebadf, "user: write({fd})");
        assert_eq!(close(fd), ebadf, "user: close({fd})");
    }
    assert_eq!(read(w, BUF, 1), ebadf, "user: a read of the write end");
    assert_eq!(write(r, BUF, 1), ebadf, "user: a write to the read end");
    // The bytes, then the end of the file once the writer is closed.
    assert_eq!(close(w), Ok(0));
    assert_eq!(close(w), ebadf, "user: a second close");
    assert_eq!(read(r, BUF + 8, 64), Ok(5));
    for (k, b) in b"hello".iter().enumerate() {
        assert_eq!(user::load_u8(BUF + 8 + k as u64), *b, "user: byte {k}");
    }
    assert_eq!(read(r, BUF + 8, 64), Ok(0), "user: no end of the file");
    // Without readers: EPIPE, and SIGPIPE (ignored here).
    let (r2, w2) = pipe();
    assert_eq!(close(r2), Ok(0));
    sigaction(SIGPIPE, SIG_IGN, 0).expect("sigaction");
    assert_eq!(write(w2, BUF, 1), Err(errno(Errno::EPIPE)));
    exit(0)
}

/// S1, S16: the end of the file, `EPIPE`, and every bad argument's error.
fn eof_epipe_and_bad_arguments() -> TestResult {
    let space = new_space()?;
    ensure_eq!(reap(start(&space, eof_epipe_main, 0)?)?, WaitStatus::Exited(0));
    Ok(())
}

fn sigpipe_main(_: u64) {
    let (r, w) = pipe();
    assert_eq!(close(r), Ok(0));
    let _ = write(w, BUF, 1);
    exit(1)
}

/// A write to a pipe without readers, under SIGPIPE's default action, ends the
/// process with SIGPIPE.
fn sigpipe_kills() -> TestResult {
    let space = new_space()?;
    ensure_eq!(reap(start(&space, sigpipe_main, 0)?)?, WaitStatus::Killed(SIGPIPE as u8));
    Ok(())
}

fn eintr_main(_: u64) {
    let (r, _w) = pipe();
    catch(SIGUSR1, h_record, 0);
    let poker = worker_arg(0, poke_lwp1, 20);
    assert_eq!(read(r, BUF, 8), Err(errno(Errno::EINTR)), "user: read of an empty pipe");
    assert_eq!(ran_by(1), 1, "user: the handler ran in LWP 1");
    wait_lwp(poker);
    exit(0)
}

/// A caught signal ends a `read` waiting on an empty pipe with `EINTR`.
fn read_interrupted() -> TestResult {
    let space = new_space()?;
    ensure_eq!(reap(start(&space, eintr_main, 0)?)?, WaitStatus::Exited(0));
    Ok(())
}

fn read_forever(fd: u64) {
    let _ = read(fd, BUF, 8);
    exit(3)
}

/// A pipe whose reader LWP is asleep in `read` when the process ends: by its exit
/// (`how` 0), or by SIGKILL sent to itself (1).
fn sleeping_reader_main(how: u64) {
    let (r, _w) = pipe();
    worker_arg(0, read_forever, r);
    user::store_u64(NAP, 0);
    user::store_u64(NAP + 8, 5_000_000);
    assert_eq!(sys(SYS_NANOSLEEP, &[NAP]), Ok((0, 0)), "user: nap");
    if how == 1 {
        let pid = sys(SYS_GETPID, &[]).expect("getpid").0;
        let _ = sys(SYS_KILL, &[pid, SIGKILL]);
    }
    exit(0)
}

/// An LWP asleep in a pipe's `read` when its process ends gives the pipe back: its
/// wait ends and its call unwinds before it exits. After a first round (the caches
/// then hold what they keep), eight more ends leave the kernel's memory where it
/// was, as the suites' check measures it (an exit deep in the call kept the pipe:
/// a 10 KiB buffer a process, beyond what that check allows).
fn sleeping_reader_gives_it_back() -> TestResult {
    let round = || -> TestResult {
        let space = new_space()?;
        ensure_eq!(reap(start(&space, sleeping_reader_main, 0)?)?, WaitStatus::Exited(0));
        let space = new_space()?;
        let killed = reap(start(&space, sleeping_reader_main, 1)?)?;
        ensure_eq!(killed, WaitStatus::Killed(SIGKILL as u8));
        Ok(())
    };
    kern_selftest::rounds_leave_memory_back(4, round)
        .map_err(|e| format!("eight ends of a sleeping reader's process: {e}"))
}
