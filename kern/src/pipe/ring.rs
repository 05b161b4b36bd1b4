//! A pipe's ring and the counts of its ends, and the ends themselves ([`PipeEnd`],
//! which the open files of a process hold): below the descriptor table that holds
//! them. How they are read and written is `pipe`.

use alloc::vec::Vec;

use arch::kmem::Shared;

use crate::errno::Errno;
use crate::lwp::event::Event;
use crate::sync::Mutex;

pub use lwp_abi::PIPE_BUF;

/// The bytes a pipe holds at most.
pub const PIPE_SIZE: usize = 2 * PIPE_BUF;

/// A pipe's ring and ends, under its mutex.
pub(super) struct PipeState {
    /// The ring, [`PIPE_SIZE`] bytes.
    pub(super) pi_buf: Vec<u8>,
    /// Where the oldest byte is, and how many there are.
    pub(super) pi_head: usize,
    pub(super) pi_len: usize,
    /// Open ends.
    pub(super) pi_readers: u32,
    pub(super) pi_writers: u32,
}

impl PipeState {
    /// The pieces of the ring (at most two, the second from its start) that hold
    /// the `n` bytes from `at` on.
    pub(super) fn pieces(at: usize, n: usize) -> [(usize, usize); 2] {
        let first = n.min(PIPE_SIZE - at);
        [(at, first), (0, n - first)]
    }
}

/// A pipe: its state and the event its waiters sleep on.
pub struct Pipe {
    pub(super) pi_state: Mutex<PipeState>,
    pub(super) pi_event: Event,
}

/// One end of a pipe, for reading or for writing; dropping it closes the end.
pub struct PipeEnd {
    pub(super) pe_pipe: Shared<Pipe>,
    pub(super) pe_write: bool,
}

/// A new pipe: its read end and its write end.
///
/// Errors: `ENOMEM` without memory for the ring or the ends.
pub fn pipe_create() -> Result<(Shared<PipeEnd>, Shared<PipeEnd>), Errno> {
    let mut buf = Vec::new();
    buf.try_reserve_exact(PIPE_SIZE).map_err(|_| Errno::ENOMEM)?;
    buf.resize(PIPE_SIZE, 0);
    let state = PipeState { pi_buf: buf, pi_head: 0, pi_len: 0, pi_readers: 0, pi_writers: 0 };
    let pipe = Pipe { pi_state: Mutex::new(state), pi_event: Event::new() };
    let pipe = Shared::try_new(pipe).map_err(|_| Errno::ENOMEM)?;
    let end = |write| {
        Shared::try_new(PipeEnd { pe_pipe: pipe.share(), pe_write: write })
            .map_err(|_| Errno::ENOMEM)
    };
    // The ends are counted once both exist: an end dropped because the other
    // could not be made finds the counts 0.
    let (r, w) = (end(false)?, end(true)?);
    let mut st = pipe.pi_state.lock();
    st.pi_readers = 1;
    st.pi_writers = 1;
    drop(st);
    Ok((r, w))
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut st = self.pe_pipe.pi_state.lock();
        let n = if self.pe_write { &mut st.pi_writers } else { &mut st.pi_readers };
        *n = n.saturating_sub(1);
        drop(st);
        self.pe_pipe.pi_event.signal();
    }
}
