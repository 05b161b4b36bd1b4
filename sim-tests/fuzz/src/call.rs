//! The calls the fuzzer makes, how often each is drawn, and what a call may answer
//! ([`Expect`]): the vocabulary `calls`, `sigcalls` and `vmcalls` share.

use core::fmt;

use lwp_abi::*;

/// The calls the fuzzer makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Getpid,
    LwpSelf,
    Yield,
    ClockNs,
    Write,
    LwpCreate,
    LwpSuspend,
    LwpContinue,
    LwpKill,
    LwpWait,
    Nanosleep,
    LwpTimes,
    /// Solaris' other software traps: `ta 0x24`, `ta 0x25`, `ta 3`.
    SoftTrap,
    // The signal calls (`sigcalls`).
    Kill,
    Sigqueue,
    Sigaction,
    Sigprocmask,
    LwpSigmask,
    Sigpending,
    Sigsuspend,
    Sigaltstack,
    Sigtimedwait,
    Context,
    Getitimer,
    Setitimer,
    Alarm,
    Schedctl,
    LwpPark,
    LwpUnpark,
    LwpMutexTimedlock,
    LwpMutexUnlock,
    Getuid,
    Getgid,
    Read,
    Close,
    Rusage,
    // The memory calls (`vmcalls`).
    Mmap,
    Munmap,
    Mprotect,
}

/// How often each call is drawn.
pub const MIX: [(u32, Call); 39] = [
    (3, Call::Getpid),
    (3, Call::LwpSelf),
    (6, Call::Yield),
    (2, Call::ClockNs),
    (6, Call::Write),
    (10, Call::LwpCreate),
    (7, Call::LwpSuspend),
    (8, Call::LwpContinue),
    (6, Call::LwpKill),
    (7, Call::LwpWait),
    (5, Call::Nanosleep),
    (5, Call::LwpTimes),
    (3, Call::SoftTrap),
    (4, Call::Kill),
    (2, Call::Sigqueue),
    (4, Call::Sigaction),
    (4, Call::Sigprocmask),
    (2, Call::LwpSigmask),
    (2, Call::Sigpending),
    (1, Call::Sigsuspend),
    (2, Call::Sigaltstack),
    (3, Call::Sigtimedwait),
    (2, Call::Context),
    (2, Call::Getitimer),
    (2, Call::Setitimer),
    (2, Call::Alarm),
    (3, Call::Schedctl),
    (5, Call::LwpPark),
    (4, Call::LwpUnpark),
    (5, Call::LwpMutexTimedlock),
    (4, Call::LwpMutexUnlock),
    (2, Call::Getuid),
    (2, Call::Getgid),
    (3, Call::Read),
    (2, Call::Close),
    (2, Call::Rusage),
    (3, Call::Mmap),
    (2, Call::Munmap),
    (2, Call::Mprotect),
];

/// The highest call number of the ABI: the table ends after it.
pub const LAST_NUM: u64 = SYS_MAX;

/// Numbers that are no system call, for [`crate::Fate::BadCall`]: 0, just past the
/// table's end, far past it, and valid numbers with high bits set (a kernel that
/// looks at 32 bits finds a call).
pub const BAD_NUMBERS: [u64; 7] =
    [0, LAST_NUM + 1, LAST_NUM + 2, 1000, 1 << 32 | SYS_GETPID, 1 << 63 | SYS_YIELD, u64::MAX];

impl Call {
    pub const fn num(self) -> u64 {
        match self {
            Call::Getpid => SYS_GETPID,
            Call::LwpSelf => SYS_LWP_SELF,
            Call::Yield => SYS_YIELD,
            Call::ClockNs => SYS_CLOCK_NS,
            Call::Write => SYS_WRITE,
            Call::LwpCreate => SYS_LWP_CREATE,
            Call::LwpSuspend => SYS_LWP_SUSPEND,
            Call::LwpContinue => SYS_LWP_CONTINUE,
            Call::LwpKill => SYS_LWP_KILL,
            Call::LwpWait => SYS_LWP_WAIT,
            Call::Nanosleep => SYS_NANOSLEEP,
            Call::LwpTimes => SYS_LWP_TIMES,
            Call::SoftTrap => 0,
            Call::Kill => SYS_KILL,
            Call::Sigqueue => SYS_SIGQUEUE,
            Call::Sigaction => SYS_SIGACTION,
            Call::Sigprocmask => SYS_SIGPROCMASK,
            Call::LwpSigmask => SYS_LWP_SIGMASK,
            Call::Sigpending => SYS_SIGPENDING,
            Call::Sigsuspend => SYS_SIGSUSPEND,
            Call::Sigaltstack => SYS_SIGALTSTACK,
            Call::Sigtimedwait => SYS_SIGTIMEDWAIT,
            Call::Context => SYS_CONTEXT,
            Call::Getitimer => SYS_GETITIMER,
            Call::Setitimer => SYS_SETITIMER,
            Call::Alarm => SYS_ALARM,
            Call::Schedctl => SYS_SCHEDCTL,
            Call::LwpPark => SYS_LWP_PARK,
            Call::LwpUnpark => SYS_LWP_UNPARK,
            Call::LwpMutexTimedlock => SYS_LWP_MUTEX_TIMEDLOCK,
            Call::LwpMutexUnlock => SYS_LWP_MUTEX_UNLOCK,
            Call::Getuid => SYS_GETUID,
            Call::Getgid => SYS_GETGID,
            Call::Read => SYS_READ,
            Call::Close => SYS_CLOSE,
            Call::Rusage => SYS_RUSAGESYS,
            Call::Mmap => SYS_MMAP,
            Call::Munmap => SYS_MUNMAP,
            Call::Mprotect => SYS_MPROTECT,
        }
    }

    /// The exit code of a process whose call of this kind was answered wrongly.
    pub fn code(self) -> u8 {
        10 + self as u8
    }
}

/// What a call may answer: `Ok` unless an error applies (`certain`), one of the
/// errors that apply, or one the state of the process may give (`possible`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expect {
    certain: u128,
    possible: u128,
}

fn bit(e: Errno) -> u128 {
    1 << e.code()
}

impl Expect {
    /// Success: no error applies, none may come.
    pub fn ok() -> Expect {
        Expect::default()
    }

    /// `e` applies when `applies`.
    pub fn fails(mut self, e: Errno, applies: bool) -> Expect {
        if applies {
            self.certain |= bit(e);
        }
        self
    }

    /// `e` may come whatever the arguments.
    pub fn may(mut self, e: Errno) -> Expect {
        self.possible |= bit(e);
        self
    }

    pub fn admits(&self, r: Result<(u64, u64), u64>) -> bool {
        match r {
            Ok(_) => self.certain == 0,
            Err(e) => e < 128 && (self.certain | self.possible) & (1 << e) != 0,
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMED: [Errno; 13] = [
            Errno::ESRCH,
            Errno::EINTR,
            Errno::EBADF,
            Errno::EAGAIN,
            Errno::ENOMEM,
            Errno::EFAULT,
            Errno::EINVAL,
            Errno::EDEADLK,
            Errno::ENOTSUP,
            Errno::ENODEV,
            Errno::ENOSYS,
            Errno::EPERM,
            Errno::ETIME,
        ];
        let name = |m: u128| NAMED.into_iter().filter(move |&e| m & bit(e) != 0);
        if self.certain == 0 {
            write!(f, "Ok")?;
        } else {
            write!(f, "one of")?;
            for e in name(self.certain) {
                write!(f, " {e:?}")?;
            }
        }
        for e in name(self.possible & !self.certain) {
            write!(f, " or {e:?}")?;
        }
        Ok(())
    }
}
