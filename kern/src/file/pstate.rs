//! What each process carries for its open files (`Proc::p_fd`): its descriptor
//! table. Kept by `file`; below the process structure that holds it.

use arch::kmem::Shared;

use crate::errno::Errno;
use crate::pipe::ring::PipeEnd;

/// Descriptors per process (`0..NFD`).
pub const NFD: usize = 64;

/// An open file.
#[derive(Clone)]
pub(crate) enum File {
    /// The console: writes go to it; reads find the end of the file.
    Console,
    /// One end of a pipe.
    Pipe(Shared<PipeEnd>),
}

/// A descriptor: its file and its flags (`FD_CLOEXEC`).
pub(super) struct FdEnt {
    pub(super) fe_file: File,
    pub(super) fe_flags: u64,
}

/// A process's descriptors (`p_fd`).
pub struct FdTable {
    pub(super) fd_ent: [Option<FdEnt>; NFD],
}

impl FdTable {
    /// No descriptor at all: a process structure not in use.
    pub const EMPTY: FdTable = FdTable { fd_ent: [const { None }; NFD] };

    /// What a new process starts with: the console as 0, 1 and 2.
    pub(crate) fn console() -> FdTable {
        let mut t = FdTable::EMPTY;
        for e in &mut t.fd_ent[..3] {
            *e = Some(FdEnt { fe_file: File::Console, fe_flags: 0 });
        }
        t
    }

    /// The lowest free descriptor.
    pub(super) fn lowest_free(&self, from: usize) -> Option<usize> {
        (from..NFD).find(|&fd| self.fd_ent[fd].is_none())
    }

    /// The entry of `fd`, if it is open.
    pub(super) fn ent(&mut self, fd: u64) -> Result<&mut FdEnt, Errno> {
        let fd = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        self.fd_ent.get_mut(fd).and_then(Option::as_mut).ok_or(Errno::EBADF)
    }

    /// Open descriptors.
    pub fn nopen(&self) -> usize {
        self.fd_ent.iter().filter(|e| e.is_some()).count()
    }
}
