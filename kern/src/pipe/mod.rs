//! Pipes (S1): a bounded byte stream from the LWPs that write one end to those
//! that read the other, in one process or between processes that share the ends.
//!
//! # Theory
//!
//! A pipe is a ring buffer of [`PIPE_SIZE`] bytes (twice Solaris' `PIPE_BUF` of
//! 5120: room for one atomic write while another is half read) under a sleeping
//! kernel mutex, so that bytes go between the ring and user memory directly,
//! with the user's own rights (`copyin`/`copyout`), while it is held; and a count
//! of the open ends of each kind. Readers and writers that must wait sleep on the
//! pipe's event, which every change signals (bytes in, bytes out, an end
//! closed), in interruptible waits (`lwp::Event`): a stop or an exit of the LWP is
//! acted on and the wait resumes; a signal it catches ends the call with `EINTR`,
//! or restarts it if the handler's disposition says `SA_RESTART`.
//!
//! The rules are POSIX's:
//! * `read` takes what is there, up to what was asked, and waits only when the
//!   pipe is empty; an empty pipe without writers is the end of the file (0).
//! * `write` of at most [`PIPE_BUF`] bytes is atomic: it waits until all of them
//!   fit, so that they are never interleaved with another writer's. A longer
//!   write goes in as room comes, and may interleave; a signal after some of it
//!   went in ends it with the count written.
//! * A write to a pipe without readers fails with `EPIPE`, and the writing LWP is
//!   sent SIGPIPE (whose default action ends the process).
//! * A bad buffer is `EFAULT` if nothing was moved; otherwise the count moved so
//!   far (nothing taken from the pipe is lost: a read takes only what reached
//!   the user).
//!
//! The ends are [`PipeEnd`]s, which the open files of `file` hold: the last
//! descriptor of an end closed (or its process gone) drops it, and dropping it is
//! what closes the end for the other side.

use crate::errno::Errno;
use crate::lwp::handle::lwp_self;
use crate::lwp::stop::wait_interrupted;
use crate::signal;
use crate::syscall::uaccess::{copyin, copyout};

pub(crate) mod ring;
use ring::PipeState;
pub use ring::{pipe_create, Pipe, PipeEnd, PIPE_BUF, PIPE_SIZE};

impl PipeEnd {
    /// Whether this is the write end.
    pub fn is_write(&self) -> bool {
        self.pe_write
    }

    /// `read(buf, len)` from the pipe (see the module comment): the count read.
    ///
    /// Errors: `EFAULT` if nothing could be copied out; `EINTR` if a signal the
    /// LWP catches interrupts the wait.
    ///
    /// Inlined into `file::read`, its one caller, as `write` is into `file::write`:
    /// a call that sleeps has one kernel window fewer to spill and fill at its
    /// switches (about 70 instructions a round trip of `pipe_pingpong`).
    #[inline]
    pub(crate) fn read(&self, buf: u64, len: u64) -> Result<u64, Errno> {
        let pipe = &*self.pe_pipe;
        if len == 0 {
            return Ok(0);
        }
        loop {
            let seen = pipe.pi_event.snapshot();
            {
                let mut st = pipe.pi_state.lock();
                if st.pi_len > 0 {
                    let n = st.pi_len.min(usize::try_from(len).unwrap_or(usize::MAX));
                    let mut moved = 0;
                    for (at, k) in PipeState::pieces(st.pi_head, n) {
                        let dst = buf.checked_add(moved as u64).ok_or(Errno::EFAULT);
                        match dst.and_then(|dst| copyout(dst, &st.pi_buf[at..at + k])) {
                            Ok(()) => moved += k,
                            Err(e) if moved == 0 => return Err(e),
                            Err(_) => break,
                        }
                    }
                    st.pi_head = (st.pi_head + moved) % PIPE_SIZE;
                    st.pi_len -= moved;
                    drop(st);
                    pipe.pi_event.signal();
                    return Ok(moved as u64);
                }
                if st.pi_writers == 0 {
                    return Ok(0);
                }
            }
            if !pipe.pi_event.wait(seen) {
                wait_interrupted()?;
            }
        }
    }

    /// `write(buf, len)` to the pipe (see the module comment): the count written.
    ///
    /// Errors: `EPIPE` (and SIGPIPE) without readers; `EFAULT` if nothing could be
    /// copied in; `EINTR` if a signal the LWP catches interrupts the wait before
    /// anything was written.
    #[inline]
    pub(crate) fn write(&self, buf: u64, len: u64) -> Result<u64, Errno> {
        let pipe = &*self.pe_pipe;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        // At most PIPE_BUF bytes go in together or not at all.
        let atomic = len <= PIPE_BUF;
        let mut done = 0usize;
        loop {
            let seen = pipe.pi_event.snapshot();
            {
                let mut st = pipe.pi_state.lock();
                if st.pi_readers == 0 {
                    drop(st);
                    if done > 0 {
                        return Ok(done as u64);
                    }
                    if let Some(me) = lwp_self() {
                        // The call fails with EPIPE whatever becomes of the signal.
                        let _ = signal::lwp_kill(me, lwp_abi::SIGPIPE);
                    }
                    return Err(Errno::EPIPE);
                }
                let (left, room) = (len - done, PIPE_SIZE - st.pi_len);
                if left == 0 {
                    return Ok(done as u64);
                }
                if room > 0 && (!atomic || room >= left) {
                    let n = left.min(room);
                    let tail = (st.pi_head + st.pi_len) % PIPE_SIZE;
                    let mut moved = 0;
                    for (at, k) in PipeState::pieces(tail, n) {
                        let src = buf.checked_add((done + moved) as u64).ok_or(Errno::EFAULT);
                        match src.and_then(|src| copyin(src, &mut st.pi_buf[at..at + k])) {
                            Ok(()) => moved += k,
                            Err(e) if done + moved == 0 => return Err(e),
                            Err(_) => {
                                // What went in stays; the bad rest ends the call.
                                st.pi_len += moved;
                                drop(st);
                                pipe.pi_event.signal();
                                return Ok((done + moved) as u64);
                            }
                        }
                    }
                    st.pi_len += moved;
                    done += moved;
                    drop(st);
                    pipe.pi_event.signal();
                    continue;
                }
            }
            if !pipe.pi_event.wait(seen) {
                if let Err(e) = wait_interrupted() {
                    return if done > 0 { Ok(done as u64) } else { Err(e) };
                }
            }
        }
    }
}
