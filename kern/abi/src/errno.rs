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
    /// No such process, or no such LWP in this process.
    ESRCH = 3,
    /// Interrupted system call.
    EINTR = 4,
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
    /// Invalid argument.
    EINVAL = 22,
    /// The operation would deadlock.
    EDEADLK = 45,
    /// A timed wait ran out of time.
    ETIME = 62,
    /// Operation not supported.
    ENOTSUP = 48,
    /// Unsupported system call.
    ENOSYS = 89,
}

impl Errno {
    /// The number user code sees in `errno`.
    pub fn code(self) -> i32 {
        self as i32
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
    }
}
