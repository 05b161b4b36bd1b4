//! Descriptors and open files (S1): a process's descriptor table, shared by its
//! LWPs, and the system calls on descriptors — `read`, `write`, `close`, `dup`,
//! `pipe`, `fcntl`.
//!
//! # Theory
//!
//! A descriptor names an open file ([`File`], Solaris' `file_t`): the console,
//! or one end of a pipe (`pipe`). A pipe end is reference counted (`Shared`):
//! each descriptor that names it holds one reference — `dup` adds one, and so
//! does `fork` — and the last one dropped closes the end. The console needs no
//! count: it is never closed for good. A descriptor also has its own flags
//! (`FD_CLOEXEC`: `exec` closes it), which `dup` does not copy and `fork` does.
//!
//! The table (`p_fd`, Solaris' `uf_info`) is [`NFD`] entries inside the process
//! structure, so that a process has one without an allocation; a new descriptor
//! is the lowest free one (`EMFILE` when none is). It is under a spin lock held
//! only to look an entry up, fill or empty it: an entry taken out is dropped
//! after the lock (a pipe end's drop takes the pipe's mutex and frees memory),
//! and a call on a file works on a reference of its own, taken under the lock,
//! so that another LWP's `close` meanwhile does not pull the file from under it.
//!
//! A process starts with the console as descriptors 0, 1 and 2 (`proc`), and its
//! descriptors are closed when its last LWP leaves ([`closeall`]): its pipes'
//! other ends see end of file, or `EPIPE`, from then on.
//!
//! The console has no input for processes (the keyboard is the kernel
//! debugger's): reading it is the end of the file at once.

use crate::errno::Errno;
use crate::pipe::{self};
use crate::proc::Proc;
use crate::syscall::uaccess::{copyin, SysResult};
use crate::thread::curproc;
use crate::{console, rusage};
use lwp_abi::{FD_CLOEXEC, F_GETFD, F_SETFD};

pub(crate) mod pstate;
use pstate::FdEnt;
pub(crate) use pstate::File;
pub use pstate::{FdTable, NFD};

/// The calling LWP's process.
fn me() -> Result<&'static Proc, Errno> {
    curproc().ok_or(Errno::EBADF)
}

/// The open file of descriptor `fd` of the current process: a reference of the
/// caller's own (`EBADF` if it is not open).
pub(crate) fn getf(fd: u64) -> Result<File, Errno> {
    me()?.p_fd.lock().ent(fd).map(|e| e.fe_file.clone())
}

/// Gives `files` descriptors of `p`, the lowest free ones, all or none
/// (`EMFILE`: the files are dropped, after the lock).
fn falloc<const N: usize>(p: &Proc, files: [File; N]) -> Result<[u64; N], Errno> {
    let mut t = p.p_fd.lock();
    let mut fds = [0usize; N];
    let mut from = 0;
    for fd in &mut fds {
        match t.lowest_free(from) {
            Some(free) => {
                *fd = free;
                from = free + 1;
            }
            None => {
                drop(t);
                return Err(Errno::EMFILE);
            }
        }
    }
    for (&fd, f) in fds.iter().zip(files) {
        t.fd_ent[fd] = Some(FdEnt { fe_file: f, fe_flags: 0 });
    }
    Ok(fds.map(|fd| fd as u64))
}

/// `read(fd, buf, len)`: the count read; 0 at the end of the file.
///
/// Errors: `EBADF` if `fd` is not open for reading; `EFAULT`, `EINTR` (`pipe`).
pub(crate) fn read(fd: u64, buf: u64, len: u64) -> SysResult {
    let n = match getf(fd)? {
        File::Console => 0,
        File::Pipe(end) if !end.is_write() => end.read(buf, len)?,
        File::Pipe(_) => return Err(Errno::EBADF),
    };
    rusage::ioch(n);
    Ok((n, 0))
}

/// `write(fd, buf, len)`: the count written.
///
/// Errors: `EBADF` if `fd` is not open for writing; `EFAULT`; `EPIPE`, `EINTR`
/// (`pipe`).
pub(crate) fn write(fd: u64, buf: u64, len: u64) -> SysResult {
    let n = match getf(fd)? {
        File::Console => console_write(buf, len)?,
        File::Pipe(end) if end.is_write() => end.write(buf, len)?,
        File::Pipe(_) => return Err(Errno::EBADF),
    };
    rusage::ioch(n);
    Ok((n, 0))
}

/// `write` to the console. Like any `write`, it may write less than asked when
/// part of the buffer is bad: it copies 256 bytes at a time and stops at the
/// first piece that cannot be read whole, failing with `EFAULT` if that is the
/// first.
fn console_write(buf: u64, len: u64) -> Result<u64, Errno> {
    let mut chunk = [0u8; 256];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(chunk.len() as u64) as usize;
        let at = buf.checked_add(done).ok_or(Errno::EFAULT);
        match at.and_then(|at| copyin(at, &mut chunk[..n])) {
            Ok(()) => console::write_bytes(&chunk[..n]),
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
        done += n as u64;
    }
    Ok(done)
}

/// `close(fd)`.
///
/// Errors: `EBADF` if `fd` is not open.
pub(crate) fn close(fd: u64) -> SysResult {
    let p = me()?;
    let gone = {
        let mut t = p.p_fd.lock();
        t.ent(fd)?;
        t.fd_ent[fd as usize].take()
    };
    drop(gone);
    Ok((0, 0))
}

/// `dup(fd)`: the lowest free descriptor, for the same open file, its flags clear.
///
/// Errors: `EBADF` if `fd` is not open; `EMFILE` if no descriptor is free.
pub(crate) fn dup(fd: u64) -> SysResult {
    let f = getf(fd)?;
    falloc(me()?, [f]).map(|[d]| (d, 0))
}

/// `pipe()`: a new pipe, its read end's descriptor and its write end's.
///
/// Errors: `EMFILE` if two descriptors are not free; `ENOMEM`.
pub(crate) fn pipe() -> SysResult {
    let p = me()?;
    let (r, w) = pipe::pipe_create()?;
    falloc(p, [File::Pipe(r), File::Pipe(w)]).map(|[r, w]| (r, w))
}

/// `fcntl(fd, F_GETFD)`: the descriptor's flags; `fcntl(fd, F_SETFD, flags)`: sets
/// them (`FD_CLOEXEC`, for `exec`).
///
/// Errors: `EBADF` if `fd` is not open; `EINVAL` for another command, or flags
/// other than `FD_CLOEXEC`.
pub(crate) fn fcntl(fd: u64, cmd: u64, arg: u64) -> SysResult {
    let p = me()?;
    let mut t = p.p_fd.lock();
    let e = t.ent(fd)?;
    match cmd {
        F_GETFD => Ok((e.fe_flags, 0)),
        F_SETFD if arg & !FD_CLOEXEC == 0 => {
            e.fe_flags = arg;
            Ok((0, 0))
        }
        _ => Err(Errno::EINVAL),
    }
}

/// A child made by `fork` gets its parent's descriptors: the same open files
/// (each one more reference: a pipe's end stays open while either has it), with
/// their flags.
pub(crate) fn fork_fds(parent: &Proc, child: &Proc) {
    let copy = {
        let t = parent.p_fd.lock();
        FdTable {
            fd_ent: core::array::from_fn(|fd| {
                t.fd_ent[fd]
                    .as_ref()
                    .map(|e| FdEnt { fe_file: e.fe_file.clone(), fe_flags: e.fe_flags })
            }),
        }
    };
    let old = core::mem::replace(&mut *child.p_fd.lock(), copy);
    drop(old);
}

/// `exec`: the descriptors marked `FD_CLOEXEC` are closed (dropped after the lock).
pub(crate) fn exec_cloexec(p: &Proc) {
    let closed: [Option<FdEnt>; NFD] = {
        let mut t = p.p_fd.lock();
        core::array::from_fn(|fd| match &t.fd_ent[fd] {
            Some(e) if e.fe_flags & FD_CLOEXEC != 0 => t.fd_ent[fd].take(),
            _ => None,
        })
    };
    drop(closed);
}

/// Closes every descriptor of `p` (its last LWP has left, or the structure is
/// being reset).
pub(crate) fn closeall(p: &Proc) {
    let gone = core::mem::replace(&mut *p.p_fd.lock(), FdTable::EMPTY);
    drop(gone);
}

/// The open descriptors of `p` (for tests).
pub fn nopen(p: &Proc) -> usize {
    p.p_fd.lock().nopen()
}
