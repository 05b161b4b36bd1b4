//! Error numbers: how the kernel reports a failed operation (S16).
//!
//! Every operation that a caller can get wrong (a bad id, a wait that would never
//! end) returns `Result<_, Errno>` instead of panicking: bad parameters get an error
//! code, never a kernel crash (S16). The names and numbers are Solaris' own
//! (`<sys/errno.h>`), so that the system-call layer hands them to user code unchanged.

use core::fmt;

/// A Solaris error number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Errno {
    /// Not super-user.
    EPERM = 1,
    /// No such file: `exec` of a name no program has.
    ENOENT = 2,
    /// No such process, or no such LWP in this process.
    ESRCH = 3,
    /// Interrupted system call.
    EINTR = 4,
    /// I/O error (the swap device failed a write).
    EIO = 5,
    /// Argument list too long (`exec`).
    E2BIG = 7,
    /// Exec format error: a program image the kernel cannot load.
    ENOEXEC = 8,
    /// Bad file number.
    EBADF = 9,
    /// No children to wait for.
    ECHILD = 10,
    /// Resource temporarily unavailable.
    EAGAIN = 11,
    /// Not enough memory.
    ENOMEM = 12,
    /// Bad address.
    EFAULT = 14,
    /// Device or resource busy.
    EBUSY = 16,
    /// No such device (no swap device).
    ENODEV = 19,
    /// Invalid argument.
    EINVAL = 22,
    /// Too many open files (the process's descriptor table is full).
    EMFILE = 24,
    /// No space left on device (the swap device is full).
    ENOSPC = 28,
    /// Broken pipe: a write to a pipe nobody can read.
    EPIPE = 32,
    /// The operation would deadlock.
    EDEADLK = 45,
    /// A timed wait ran out of time.
    ETIME = 62,
    /// Operation not supported.
    ENOTSUP = 48,
    /// A path name too long (`exec`).
    ENAMETOOLONG = 78,
    /// Unsupported system call.
    ENOSYS = 89,
    /// A system call interrupted by a signal, to be restarted if the signal's
    /// disposition says `SA_RESTART` (else it fails with EINTR): never returned to
    /// user code.
    ERESTART = 91,
}

impl Errno {
    /// Every error number, in the order of [`Errno::index`].
    pub const ALL: [Errno; 24] = [
        Errno::EPERM,
        Errno::ENOENT,
        Errno::ESRCH,
        Errno::EINTR,
        Errno::EIO,
        Errno::E2BIG,
        Errno::ENOEXEC,
        Errno::EBADF,
        Errno::ECHILD,
        Errno::EAGAIN,
        Errno::ENOMEM,
        Errno::EFAULT,
        Errno::EBUSY,
        Errno::ENODEV,
        Errno::EINVAL,
        Errno::ENOSPC,
        Errno::EDEADLK,
        Errno::ETIME,
        Errno::ENOTSUP,
        Errno::ENAMETOOLONG,
        Errno::ENOSYS,
        Errno::ERESTART,
        Errno::EMFILE,
        Errno::EPIPE,
    ];

    /// The number user code sees in `errno`.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The error number `code` is, if it is one.
    pub fn from_code(code: i32) -> Option<Errno> {
        Errno::ALL.into_iter().find(|e| e.code() == code)
    }

    /// Where `self` is in [`Errno::ALL`]: a match that stops compiling when a
    /// number is added and not listed there too.
    pub const fn index(self) -> usize {
        match self {
            Errno::EPERM => 0,
            Errno::ENOENT => 1,
            Errno::ESRCH => 2,
            Errno::EINTR => 3,
            Errno::EIO => 4,
            Errno::E2BIG => 5,
            Errno::ENOEXEC => 6,
            Errno::EBADF => 7,
            Errno::ECHILD => 8,
            Errno::EAGAIN => 9,
            Errno::ENOMEM => 10,
            Errno::EFAULT => 11,
            Errno::EBUSY => 12,
            Errno::ENODEV => 13,
            Errno::EINVAL => 14,
            Errno::ENOSPC => 15,
            Errno::EDEADLK => 16,
            Errno::ETIME => 17,
            Errno::ENOTSUP => 18,
            Errno::ENAMETOOLONG => 19,
            Errno::ENOSYS => 20,
            Errno::ERESTART => 21,
            Errno::EMFILE => 22,
            Errno::EPIPE => 23,
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?} ({})", self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::Errno::*;

    #[test]
    fn numbers_are_solaris() {
        let want = [
            (ESRCH, 3),
            (EINTR, 4),
            (ENOEXEC, 8),
            (ECHILD, 10),
            (EAGAIN, 11),
            (ENOMEM, 12),
            (EFAULT, 14),
        ];
        for (e, n) in want {
            assert_eq!(e.code(), n, "{e:?}");
        }
        assert_eq!((EBUSY.code(), EINVAL.code(), EDEADLK.code(), ENOTSUP.code()), (16, 22, 45, 48));
        assert_eq!((EPERM.code(), ETIME.code()), (1, 62));
        assert_eq!(std::format!("{EDEADLK}"), "EDEADLK (45)");
        assert_eq!((EIO.code(), ENODEV.code(), ENOSPC.code()), (5, 19, 28));
        assert_eq!((ENOENT.code(), E2BIG.code(), ENAMETOOLONG.code()), (2, 7, 78));
        assert_eq!((EMFILE.code(), EPIPE.code()), (24, 32));
    }

    #[test]
    fn every_number_is_listed_once_and_comes_back_from_its_code() {
        for (i, e) in super::Errno::ALL.into_iter().enumerate() {
            assert_eq!(e.index(), i, "{e:?} is listed out of place");
            assert_eq!(super::Errno::from_code(e.code()), Some(e));
        }
        assert_eq!(super::Errno::from_code(0), None);
        assert_eq!(super::Errno::from_code(6), None);
    }
}
