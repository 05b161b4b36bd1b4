//! The signal calls' arguments (S10–S15, S5.5), and what they may answer.
//!
//! A process of the fuzzer must never take a signal that ends it or stops it, nor
//! run a handler (it has none to run), except as its fate says. So every signal
//! call is hostile only where a refusal is certain, and harmless where it may
//! succeed:
//!
//! * `kill` and `sigqueue` send only signals that are ignored by default, or no
//!   signal (`EINVAL`), to the process itself (0 or its pid), to nearby pids (other
//!   processes: the guard, other fuzzers, none), or to pids that are no pids
//!   (`ESRCH`);
//! * `sigaction` sets only `SIG_DFL` or `SIG_IGN`, with any flags and mask, except
//!   for SIGKILL, SIGSTOP and numbers that are no signal, which also get handlers
//!   at any address and must be refused (`EINVAL`); a trap signal ignored still
//!   ends the process that causes it (S13), so the fates still strike;
//! * masks (`sigprocmask`, `_lwp_sigmask`) are anything: SIGKILL is never masked,
//!   and a trap signal masked still ends the LWP's process (S13);
//! * `sigtimedwait` always has a timeout of a few milliseconds (or a bad one);
//!   `sigsuspend` and `setcontext` get only pointers the kernel cannot read, and
//!   must fail with `EFAULT` (a `setcontext` that worked would resume garbage);
//! * timers (`setitimer`, `alarm`) are disarmed, or armed to run out in more than
//!   a year: they never fire during a run, and the process's end must take them
//!   back (the suites' memory checks count callouts).

use lwp_abi::*;

use crate::call::{Call, Expect};
use crate::pools;
use crate::rng::Rng;
use crate::{Env, Layout};

/// Bytes of the structures the calls read or write.
const SIGSET: u64 = 16;
const SIGACTION: u64 = 32;
const STACK: u64 = 24;
const SIGINFO: u64 = 40;
const UCONTEXT: u64 = 232;
const ITIMERVAL: u64 = 32;

/// More than a year, in seconds: a timer armed this far never fires in a run.
const FAR: u64 = 1 << 25;

/// A pid for `kill`: the caller's own (as itself or as 0), one near it (another
/// process, or none), a small one, or one that is no pid (more than 32 bits).
fn pid(rng: &mut Rng, me: u64) -> u64 {
    match rng.below(10) {
        0 | 1 => 0,
        2 | 3 => me,
        4 => me + 1 + rng.below(4),
        5 => me.saturating_sub(1 + rng.below(4)),
        6 => 1 + rng.below(8),
        7 => 1 << 32 | me,
        8 => u64::from(u32::MAX),
        _ => u64::MAX - rng.below(2),
    }
}

/// A `sigset_t` to stage: empty, full, a few signals, or any bits.
fn sigset(rng: &mut Rng) -> [u64; 2] {
    match rng.below(4) {
        0 => [0, 0],
        1 => [u64::MAX, u64::MAX],
        2 => {
            // One signal that is ignored by default, in `sigset_t`'s first word.
            let s = pools::sig(rng);
            let bit = if (1..=32).contains(&s) { 1u64 << (s - 1 + 32) } else { 0 };
            [bit, 0]
        }
        _ => [rng.next_u64(), rng.next_u64()],
    }
}

/// A signal number for `sigaction`: one ignored by default, SIGKILL or SIGSTOP, any
/// signal, or a number that is none (0 among them).
fn action_sig(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 | 1 => pools::sig(rng),
        2 => SIGKILL,
        3 => SIGSTOP,
        _ => rng.below(NSIG + 2),
    }
}

/// A `how` of `sigprocmask`: a valid one mostly.
fn how(rng: &mut Rng) -> u64 {
    if rng.chance(4, 5) {
        rng.pick(&[SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK])
    } else {
        rng.pick(&[0, 4, 1 << 32 | SIG_BLOCK, u64::MAX])
    }
}

fn valid_how(how: u64) -> bool {
    matches!(how, SIG_BLOCK | SIG_UNBLOCK | SIG_SETMASK)
}

/// A pointer at which the kernel cannot read `len` bytes, never null: where null
/// means "none", a null one would be no bad pointer (and a null timeout of
/// `sigtimedwait` waits for ever).
fn bad_in(rng: &mut Rng, l: &Layout, len: u64) -> u64 {
    match pools::bad_in(rng, l, len) {
        0 => l.unmapped,
        p => p,
    }
}

/// An out-pointer: null (when the call allows it), garbage the kernel may write,
/// or a bad one. Returns the pointer and whether it is bad.
fn out(rng: &mut Rng, l: &Layout, len: u64, null_ok: bool) -> (u64, bool) {
    match rng.below(4) {
        0 if null_ok => (0, false),
        0 | 1 => (pools::garbage(rng, l, len), false),
        _ => {
            let p = pools::bad_out(rng, l, len);
            (p, p != 0 || !null_ok)
        }
    }
}

/// A `struct timeval` (seconds, microseconds), valid or not, and whether it is.
fn timeval(rng: &mut Rng, far: bool) -> ([u64; 2], bool) {
    match rng.below(8) {
        0 => ([u64::MAX, 0], false),
        1 => ([0, 1_000_000], false),
        2 => ([1, u64::MAX], false),
        _ if far => ([FAR + rng.below(1 << 40), rng.below(1_000_000)], true),
        _ => ([rng.below(100), rng.below(1_000_000)], true),
    }
}

/// Draws the arguments of signal call `call` into `args`, and says what it may
/// answer.
pub fn args<E: Env>(
    env: &mut E,
    rng: &mut Rng,
    l: &Layout,
    my_pid: u64,
    call: Call,
    args: &mut [u64; 6],
) -> Expect {
    let none = Expect::ok();
    match call {
        Call::Kill | Call::Sigqueue => {
            let (p, s) = (pid(rng, my_pid), pools::sig(rng));
            (args[0], args[1]) = (p, s);
            let e = none
                .fails(Errno::EINVAL, !pools::valid_sig(s))
                .fails(Errno::ESRCH, p > u64::from(u32::MAX));
            // Another pid may be nobody's.
            if p == 0 || p == my_pid {
                e
            } else {
                e.may(Errno::ESRCH)
            }
        }
        Call::Sigaction => {
            let sig = action_sig(rng);
            let valid = (1..NSIG).contains(&sig);
            let cant = sig == SIGKILL || sig == SIGSTOP;
            let (actp, bad_act, refused) = match rng.below(5) {
                0 => (0, false, false),
                1 => (bad_in(rng, l, SIGACTION), true, false),
                _ => {
                    let handler = if !valid || cant {
                        let any = rng.next_u64();
                        rng.pick(&[SIG_DFL, SIG_IGN, l.stub_pc, any])
                    } else {
                        rng.pick(&[SIG_DFL, SIG_IGN])
                    };
                    let [m0, m1] = sigset(rng);
                    let flags = rng.next_u64() as u32 as u64;
                    let p = env.stage(&[flags << 32, handler, m0, m1]);
                    (p, false, cant && handler != SIG_DFL)
                }
            };
            let (oactp, bad_oact) = out(rng, l, SIGACTION, true);
            (args[0], args[1], args[2]) = (sig, actp, oactp);
            none.fails(Errno::EINVAL, !valid || refused).fails(Errno::EFAULT, bad_act || bad_oact)
        }
        Call::Sigprocmask => {
            let h = how(rng);
            let (setp, bad_set) = match rng.below(4) {
                0 => (0, false),
                1 => (bad_in(rng, l, SIGSET), true),
                _ => (env.stage(&sigset(rng)), false),
            };
            let (osetp, bad_oset) = out(rng, l, SIGSET, true);
            (args[0], args[1], args[2]) = (h, setp, osetp);
            none.fails(Errno::EINVAL, setp != 0 && !valid_how(h))
                .fails(Errno::EFAULT, bad_set || bad_oset)
        }
        Call::LwpSigmask => {
            args[0] = how(rng);
            for a in &mut args[1..5] {
                *a = if rng.chance(1, 2) { rng.next_u64() as u32 as u64 } else { rng.next_u64() };
            }
            none.fails(Errno::EINVAL, !valid_how(args[0]))
        }
        Call::Sigpending => {
            let sub = rng.pick(&[SIGPENDING, SIGPENDING, SIGFILLSET, 0, 3, 1 << 32 | SIGPENDING]);
            let (setp, bad) = out(rng, l, SIGSET, false);
            (args[0], args[1]) = (sub, setp);
            none.fails(Errno::EINVAL, sub != SIGPENDING && sub != SIGFILLSET)
                .fails(Errno::EFAULT, bad)
        }
        Call::Sigsuspend => {
            args[0] = pools::bad_in(rng, l, SIGSET);
            none.fails(Errno::EFAULT, true)
        }
        Call::Sigaltstack => {
            let (ssp, bad_ss, einval, enomem) = match rng.below(5) {
                0 => (0, false, false, false),
                1 => (bad_in(rng, l, STACK), true, false, false),
                _ => {
                    let flags = rng.pick(&[0, 0, SS_DISABLE, SS_ONSTACK, 4, u32::MAX]);
                    let any = rng.next_u64();
                    let size = rng.pick(&[0, MINSIGSTKSZ - 1, MINSIGSTKSZ, 1 << 16, u64::MAX, any]);
                    let sp = pools::any(rng, l, pools::Ids { me: 1, max: 1 });
                    let p = env.stage(&[sp, size, u64::from(flags) << 32]);
                    let einval = flags & !SS_DISABLE != 0;
                    (p, false, einval, flags & SS_DISABLE == 0 && size < MINSIGSTKSZ)
                }
            };
            let (ossp, bad_oss) = out(rng, l, STACK, true);
            (args[0], args[1]) = (ssp, ossp);
            let e = none
                .fails(Errno::EFAULT, bad_ss || bad_oss)
                .fails(Errno::EINVAL, einval)
                .fails(Errno::ENOMEM, enomem);
            // An alternate stack set before, anywhere and of any size, may hold
            // the LWP's stack pointer: the LWP is on it, and may not change it.
            if ssp != 0 && !bad_ss {
                e.may(Errno::EPERM)
            } else {
                e
            }
        }
        Call::Sigtimedwait => {
            // The set and the timeout, staged together.
            let ([m0, m1], ts) = (sigset(rng), pools::timespec(rng));
            let area = env.stage(&[m0, m1, ts[0], ts[1]]);
            let (setp, bad_set) = if rng.chance(1, 6) {
                (pools::bad_in(rng, l, SIGSET), true)
            } else {
                (area, false)
            };
            let (infop, bad_info) = out(rng, l, SIGINFO, true);
            let (tsp, bad_ts) =
                if rng.chance(1, 6) { (bad_in(rng, l, 16), true) } else { (area + 16, false) };
            (args[0], args[1], args[2]) = (setp, infop, tsp);
            none.fails(Errno::EFAULT, bad_set || bad_info || bad_ts)
                .fails(Errno::EINVAL, !bad_ts && !pools::valid_timespec(ts))
                .may(Errno::EAGAIN)
                .may(Errno::EINTR)
        }
        Call::Context => {
            let sub = rng.pick(&[GETCONTEXT, GETCONTEXT, SETCONTEXT, 2, 1 << 32 | SETCONTEXT]);
            let (ucp, bad) = if sub == GETCONTEXT {
                out(rng, l, UCONTEXT, false)
            } else {
                // Never a context the kernel can read: it would be resumed.
                (pools::bad_in(rng, l, UCONTEXT), true)
            };
            (args[0], args[1]) = (sub, ucp);
            let valid = sub == GETCONTEXT || sub == SETCONTEXT;
            none.fails(Errno::EINVAL, !valid).fails(Errno::EFAULT, valid && bad)
        }
        Call::Getitimer => {
            let which = rng.pick(&[ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF, 3, 1 << 32, u64::MAX]);
            let (vp, bad) = out(rng, l, ITIMERVAL, false);
            (args[0], args[1]) = (which, vp);
            none.fails(Errno::EINVAL, which > ITIMER_PROF).fails(Errno::EFAULT, bad)
        }
        Call::Setitimer => {
            let which = rng.pick(&[ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF, 3, 1 << 32, u64::MAX]);
            let (vp, bad_v, bad_time) = if rng.chance(1, 6) {
                (pools::bad_in(rng, l, ITIMERVAL), true, false)
            } else {
                let (interval, ok_i) = timeval(rng, false);
                // Disarmed, or far off.
                let (value, ok_v) =
                    if rng.chance(1, 2) { ([0, 0], true) } else { timeval(rng, true) };
                let p = env.stage(&[interval[0], interval[1], value[0], value[1]]);
                (p, false, !(ok_i && ok_v))
            };
            let (ovp, bad_ov) = out(rng, l, ITIMERVAL, true);
            (args[0], args[1], args[2]) = (which, vp, ovp);
            none.fails(Errno::EINVAL, which > ITIMER_PROF || bad_time)
                .fails(Errno::EFAULT, bad_v || bad_ov)
        }
        Call::Alarm => {
            args[0] = if rng.chance(1, 2) { 0 } else { FAR + rng.below(u64::MAX - FAR) };
            none
        }
        _ => unreachable!("{call:?} is no signal call"),
    }
}
