//! One random system call, and what it may answer.
//!
//! A call is drawn by weight from the ABI's calls ([`MIX`]), its arguments from the
//! pools (`pools`), and from the arguments the rules of the ABI say which errors
//! apply ([`Expect`]): a bad pointer is `EFAULT`, flags, a pc, a stack, a signal or
//! a time out of range are `EINVAL`, an id that is no id `ESRCH`, another file
//! than the console (descriptors 0, 1, 2: the fuzzer makes no pipe) `EBADF`, a wait for oneself `EDEADLK`. A call to which some
//! error applies must fail with one of them (or with one the state of the process
//! may give, such as `ESRCH` for an LWP gone meanwhile): the ABI does not say which
//! comes first when several apply. A call to which none applies may succeed, or fail
//! only as the state of the process allows (`EAGAIN` at a limit). What succeeds is
//! checked where the fuzzer can know the answer: `getpid` and `_lwp_self` give the
//! same as ever, the clocks and the call count of `lwp_times` never go back, a
//! `write` writes what it was given, `sigtimedwait` takes a signal, a new mapping
//! is zero-filled. The signal calls' arguments are drawn in `sigcalls`, the memory
//! calls' in `vmcalls`.

use core::fmt;

use lwp_abi::*;

use crate::call::{Call, Expect, MIX};
use crate::pools::{self, Ids};
use crate::rng::Rng;
use crate::sigcalls;
use crate::vmcalls::{self, Maps, Target};
use crate::{word, Env, Layout, NSLOTS, STAGE_LEN};

/// Bytes `lwp_times` writes.
const LWP_TIMES_LEN: u64 = core::mem::size_of::<LwpTimes>() as u64;

/// What an LWP of the fuzzer knows of itself.
#[derive(Debug, Clone, Copy)]
pub struct Me {
    pub id: u32,
    pub slot: usize,
    /// The process's pid, as the main LWP saw it first.
    pub pid: u64,
    /// The last readings of the clock (`clock_ns` and `ta 0x24` read the same
    /// one) and of its call count.
    last_clock: u64,
    last_sysc: u64,
    /// The mappings it made where the kernel chose.
    maps: Maps,
}

impl Me {
    pub fn new(id: u32, slot: usize, pid: u64) -> Me {
        Me { id, slot, pid, last_clock: 0, last_sysc: 0, maps: Maps::default() }
    }

    pub fn is_main(&self) -> bool {
        self.slot == 0
    }
}

/// The highest LWP id the process's LWPs have made or seen made.
pub fn max_id<E: Env>(env: &E) -> u32 {
    (0..NSLOTS).map(|k| env.get(word::MAXID + k) as u32).max().unwrap_or(1).max(1)
}

/// Notes that LWP `id` exists, in the caller's slot.
pub fn saw_id<E: Env>(env: &E, me: &Me, id: u32) {
    let w = word::MAXID + me.slot;
    if u64::from(id) > env.get(w) {
        env.set(w, u64::from(id));
    }
}

/// A call that was answered wrongly: what was asked and what came back.
#[derive(Debug, Clone, Copy)]
pub struct Wrong {
    pub call: Call,
    pub args: [u64; 6],
    pub got: Result<(u64, u64), u64>,
    pub why: &'static str,
    pub expect: Expect,
}

impl fmt::Display for Wrong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.args;
        write!(
            f,
            "{:?}({:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x}) = {:x?}: {}, expected {}",
            self.call, a[0], a[1], a[2], a[3], a[4], a[5], self.got, self.why, self.expect
        )
    }
}

/// Draws a call, makes it, and checks its answer: what was answered wrongly, if
/// anything.
pub fn random_call<E: Env>(env: &mut E, me: &mut Me, rng: &mut Rng) -> Option<Wrong> {
    let call = rng.weighted(&MIX);
    let l = *env.layout();
    let ids = Ids { me: me.id, max: max_id(env) };
    let mut args: [u64; 6] = core::array::from_fn(|_| pools::any(rng, &l, ids));
    let none = Expect::default();
    let wrong = |args: [u64; 6], got, why, expect| Wrong { call, args, got, why, expect };
    if call == Call::SoftTrap {
        return soft_trap(env, me, rng, wrong);
    }
    // What the call's answer is checked against, once made: where the kernel writes
    // what the fuzzer reads back, and what `Ok` must carry.
    let mut own = None;
    let mut wrote = None;
    let mut mapping = Target::Other;
    let expect = match call {
        Call::Getpid | Call::LwpSelf | Call::Yield | Call::ClockNs => none,
        Call::Getuid | Call::Getgid => none,
        Call::Read => {
            // The console has no input: end of the file, the buffer untouched.
            let fd = pools::fd(rng);
            args[0] = fd;
            wrote = Some(0);
            none.fails(Errno::EBADF, fd > 2)
        }
        Call::Close => {
            // Never the console, which the runtime writes its lines to.
            args[0] = pools::fd(rng).max(3);
            none.fails(Errno::EBADF, true)
        }
        Call::Rusage => {
            // A subcode (`getrusage` of the process, the children, the LWP) or
            // another; a `struct rusage` in the garbage, or a bad pointer.
            args[0] = if rng.chance(3, 4) { rng.below(3) } else { pools::any(rng, &l, ids) };
            let len = core::mem::size_of::<Rusage>() as u64;
            let bad = rng.chance(1, 3);
            args[1] = if bad { pools::bad_out(rng, &l, len) } else { pools::garbage(rng, &l, len) };
            none.fails(Errno::EINVAL, args[0] > RUSAGESYS_GETRUSAGE_LWP).fails(Errno::EFAULT, bad)
        }
        Call::Write => {
            let fd = pools::fd(rng);
            args[0] = fd;
            if fd > 2 {
                none.fails(Errno::EBADF, true)
            } else if rng.chance(1, 2) {
                args[2] = 0;
                wrote = Some(0);
                none
            } else if rng.chance(1, 40) {
                (args[1], args[2]) = (l.line, l.line_len);
                wrote = Some(l.line_len);
                none
            } else {
                let len = rng.pick(&[1, 8, 255, 256, 257, 4096, u64::MAX, crate::LIMIT]);
                (args[1], args[2]) = (pools::bad_in(rng, &l, len.min(256)), len);
                none.fails(Errno::EFAULT, true)
            }
        }
        Call::LwpCreate => create_args(env, rng, &l, &mut args, &mut own),
        Call::LwpSuspend | Call::LwpContinue | Call::LwpKill => {
            let mut id = pools::id(rng, ids);
            if call == Call::LwpSuspend && id == env.get(word::KEEPER) {
                // Nobody suspends the keeper: nobody would continue it.
                id |= 1 << 32;
            }
            args[0] = id;
            let mut e = none.fails(Errno::ESRCH, !pools::valid_id(id)).may(Errno::ESRCH);
            if call == Call::LwpKill {
                args[1] = pools::sig(rng);
                e = e.fails(Errno::EINVAL, !pools::valid_sig(args[1]));
            }
            e
        }
        Call::LwpWait => {
            let mut id = if rng.chance(1, 4) { 0 } else { pools::id(rng, ids) };
            // Nobody waits for the keeper, nor a worker for the main LWP: those
            // waits would end only with the run. Waiting for oneself instead.
            if id == env.get(word::KEEPER) || (id == 1 && !me.is_main()) {
                id = u64::from(me.id);
            }
            // Null (no report), the LWP's own staging area (the id is read back),
            // garbage, or bad (null among them: then a good one).
            let (dp, bad_dp) = match rng.below(10) {
                0 | 1 => (0, false),
                2 | 3 => {
                    let dp = env.stage(&[0]);
                    own = Some(dp);
                    (dp, false)
                }
                4..=6 => (pools::garbage(rng, &l, 4), false),
                _ => {
                    let dp = pools::bad_out(rng, &l, 4);
                    (dp, dp != 0)
                }
            };
            args[..2].copy_from_slice(&[id, dp]);
            let e = none
                .fails(Errno::EFAULT, bad_dp)
                .fails(Errno::ESRCH, id != 0 && !pools::valid_id(id))
                .fails(Errno::EDEADLK, id == u64::from(me.id));
            if id == 0 {
                // Any LWP: the keeper lives and never waits, so the wait can always
                // end (never EDEADLK), and there is always an LWP (never ESRCH).
                e
            } else {
                // The LWP may be gone, detached, or in a chain of waits back to this one.
                e.may(Errno::ESRCH).may(Errno::EINVAL).may(Errno::EDEADLK)
            }
        }
        Call::Nanosleep => {
            if rng.chance(3, 4) {
                let ts = pools::timespec(rng);
                args[0] = env.stage(&ts);
                none.fails(Errno::EINVAL, !pools::valid_timespec(ts))
            } else {
                args[0] = pools::bad_in(rng, &l, 16);
                none.fails(Errno::EFAULT, true)
            }
        }
        Call::LwpTimes => match rng.below(10) {
            0..=3 => {
                args[0] = env.stage(&[]);
                own = Some(args[0]);
                none
            }
            4..=6 => {
                args[0] = pools::garbage(rng, &l, LWP_TIMES_LEN);
                none
            }
            _ => {
                args[0] = pools::bad_out(rng, &l, LWP_TIMES_LEN);
                none.fails(Errno::EFAULT, true)
            }
        },
        Call::Schedctl => {
            args[0] = pools::sc_flags(rng);
            none.fails(Errno::EINVAL, !pools::valid_sc_flags(args[0]))
                .may(Errno::ENOMEM)
                .may(Errno::EAGAIN)
        }
        Call::LwpPark => park_args(env, me, rng, &l, ids, &mut args),
        Call::LwpUnpark => {
            args[0] = pools::id(rng, ids);
            none.fails(Errno::ESRCH, !pools::valid_id(args[0])).may(Errno::ESRCH)
        }
        Call::LwpMutexTimedlock | Call::LwpMutexUnlock => {
            mutex_args(env, me, rng, &l, call == Call::LwpMutexUnlock, &mut args)
        }
        Call::Mmap | Call::Munmap | Call::Mprotect => {
            let (e, target) = vmcalls::args(&me.maps, rng, &l, call, &mut args);
            mapping = target;
            e
        }
        Call::SoftTrap => unreachable!("made above"),
        _ => sigcalls::args(env, rng, &l, me.pid, call, &mut args),
    };
    // Whom this LWP suspends, while it does (see `run`: continue_all).
    let suspending = call == Call::LwpSuspend && args[0] != u64::from(me.id);
    if suspending {
        env.set(word::SUSPENDING + me.slot, args[0]);
    }
    let got = env.syscall(call.num(), args);
    if suspending {
        env.set(word::SUSPENDING + me.slot, 0);
    }
    if !expect.admits(got) {
        return Some(wrong(args, got, "an answer the arguments do not allow", expect));
    }
    let Ok((r0, _)) = got else { return None };
    let why = match call {
        Call::Getpid => (r0 != me.pid).then_some("not the pid of the process"),
        Call::LwpSelf => (r0 != u64::from(me.id)).then_some("not the caller's id"),
        Call::ClockNs => {
            let back = r0 < me.last_clock;
            me.last_clock = r0;
            back.then_some("the clock went back")
        }
        Call::Write => (Some(r0) != wrote).then_some("not the length written"),
        Call::Read => (Some(r0) != wrote).then_some("input from the console"),
        // Started by the kernel, as root; nothing here changes its ids.
        Call::Getuid | Call::Getgid => {
            (got != Ok((0, 0))).then_some("not root's ids, real and effective")
        }
        Call::Sigtimedwait => (!(1..NSIG).contains(&r0)).then_some("no signal taken"),
        Call::LwpCreate => {
            env.add(word::MADE_LWPS, 1);
            own.and_then(|idp| {
                let id = (env.peek(idp) >> 32) as u32;
                saw_id(env, me, id);
                (id <= 1 || id == me.id).then_some("the new LWP's id")
            })
        }
        Call::LwpWait => own.and_then(|dp| {
            // The id waited for, or, for any, another LWP's.
            let gone = env.peek(dp) >> 32;
            let right =
                if args[0] == 0 { gone != 0 && gone != u64::from(me.id) } else { gone == args[0] };
            (!right).then_some("the departed LWP's id")
        }),
        Call::Schedctl => {
            (r0 != sc_shared_addr(me.id)).then_some("not the address of the caller's slot")
        }
        Call::Mmap | Call::Munmap => vmcalls::check(env, &mut me.maps, mapping, &args, r0),
        Call::LwpTimes => own.and_then(|tp| {
            let t: [u64; 6] = core::array::from_fn(|i| env.peek(tp + 8 * i as u64));
            let [utime, stime, putime, pstime, sysc, hz] = t;
            let back = sysc <= me.last_sysc;
            me.last_sysc = sysc;
            if hz == 0 || hz > 100_000 {
                Some("lwp_times' clock rate")
            } else if putime < utime || pstime < stime {
                Some("lwp_times: the process's times leave out the caller's")
            } else {
                back.then_some("lwp_times' call count did not grow")
            }
        }),
        _ => None,
    };
    why.map(|why| wrong(args, got, why, expect))
}

/// `_lwp_create`'s arguments: a context staged with fields from the pools, or a bad
/// pointer; flags; where the id goes. Sets `own` where the fuzzer reads the id back.
fn create_args<E: Env>(
    env: &mut E,
    rng: &mut Rng,
    l: &Layout,
    args: &mut [u64; 6],
    own: &mut Option<u64>,
) -> Expect {
    let mut flags = pools::flags(rng);
    let staged = rng.chance(7, 10);
    let (pc, top) = (pools::pc(rng, l), pools::stack_top(rng, l));
    let idp_kind = rng.below(20);
    // An LWP made suspended must have its id where the fuzzer reads it, so that the
    // keeper knows it is there to continue.
    if idp_kind >= 12 {
        flags &= !LWP_SUSPENDED;
    }
    let ctx = if staged { env.stage(&[pc, top, rng.next_u64(), 0]) } else { 0 };
    let ctxp = if staged { ctx } else { pools::bad_in(rng, l, 24) };
    let idp = match idp_kind {
        0..=11 if staged => ctx + 24,
        0..=11 => env.stage(&[0]),
        12..=14 => pools::garbage(rng, l, 4),
        _ => pools::bad_out(rng, l, 4),
    };
    if idp_kind < 12 {
        *own = Some(idp);
    }
    args[..3].copy_from_slice(&[ctxp, flags, idp]);
    Expect::default()
        .fails(Errno::EFAULT, !staged || idp_kind >= 15)
        .fails(Errno::EINVAL, !pools::valid_flags(flags))
        .fails(Errno::EINVAL, staged && !(pools::valid_pc(pc) && pools::valid_stack_top(top)))
        .may(Errno::EAGAIN)
        .may(Errno::ENOMEM)
}

/// `_lwp_park`'s arguments: a timeout, valid and short, out of range, at a bad
/// pointer, or absurdly long (`i64::MAX` seconds, or none at all) but then only
/// with the caller's own id to unpark first, whose permit ends the park at once;
/// and an LWP to unpark first: none, the caller, or any id of the pool (other
/// LWPs, nobody's, not 32 bits).
fn park_args<E: Env>(
    env: &mut E,
    me: &Me,
    rng: &mut Rng,
    l: &Layout,
    ids: Ids,
    args: &mut [u64; 6],
) -> Expect {
    let none = Expect::default();
    let (tsp, e) = match rng.below(10) {
        0..=4 => {
            let ts = pools::timespec(rng);
            let tsp = env.stage(&ts);
            (tsp, none.fails(Errno::EINVAL, !pools::valid_timespec(ts)))
        }
        5 | 6 => (bad_timeout(rng, l), none.fails(Errno::EFAULT, true)),
        7 => {
            // Unparking itself first: the permit is there before the park.
            args[..2].copy_from_slice(&[l.huge_ts, u64::from(me.id)]);
            return none;
        }
        8 => {
            args[..2].copy_from_slice(&[0, u64::from(me.id)]);
            return none;
        }
        _ => (pools::garbage(rng, l, 16), none.may(Errno::EINVAL).may(Errno::EFAULT)),
    };
    let unpark = if rng.chance(1, 2) { 0 } else { pools::id(rng, ids) };
    args[..2].copy_from_slice(&[tsp, unpark]);
    // A timeout from garbage may be anything, long ones too: never with no error
    // that ends the call first.
    let e = if tsp >= l.outbuf && tsp < l.outbuf + l.outbuf_len {
        args[1] = 1 << 32;
        e.fails(Errno::ESRCH, true)
    } else {
        e.fails(Errno::ESRCH, unpark != 0 && !pools::valid_id(unpark))
    };
    // The LWP unparked may be gone; a short park times out.
    e.may(Errno::ESRCH).may(Errno::ETIME)
}

/// A pointer to a timeout that cannot be read: a bad one but null, which is no
/// timeout at all (a wait for ever).
fn bad_timeout(rng: &mut Rng, l: &Layout) -> u64 {
    match pools::bad_in(rng, l, 16) {
        0 => 8,
        p => p,
    }
}

/// `lwp_mutex_timedlock`'s and `lwp_mutex_unlock`'s arguments: an LWP mutex staged
/// in the caller's own memory (free, held by the caller, held by another id with or
/// without waiters, destroyed, never initialized), misaligned, at a bad pointer, or
/// in garbage (anything at all), or the caller's schedctl slot; and for a lock, a timeout: short (or out of
/// range), at a bad pointer, or none or `i64::MAX` seconds where the lock cannot
/// wait. A mutex staged held by another id is never unlocked: a lock of it sleeps
/// until its timeout.
fn mutex_args<E: Env>(
    env: &mut E,
    me: &Me,
    rng: &mut Rng,
    l: &Layout,
    unlock: bool,
    args: &mut [u64; 6],
) -> Expect {
    let none = Expect::default();
    let mine = u64::from(me.id);
    let other = u64::from(if me.id == 1 { 2 } else { me.id - 1 });
    let magic = u64::from(LWP_MUTEX_MAGIC);
    let waiters = u64::from(LWP_MUTEX_WAITERS);
    // The staged lock and type words; what a lock and an unlock of them answer, and
    // whether the lock waits.
    let (word, kind, lock, unlocked, waits) = match rng.below(10) {
        0 | 1 => (0, magic, none, none.fails(Errno::EPERM, true), false),
        2 | 3 => (mine, magic, none.fails(Errno::EDEADLK, true), none, false),
        4 => (mine | waiters, magic, none.fails(Errno::EDEADLK, true), none, false),
        5 | 6 => {
            let w = if rng.chance(1, 2) { other } else { other | waiters };
            (w, magic, none.fails(Errno::ETIME, true), none.fails(Errno::EPERM, true), true)
        }
        7 => {
            let dead = none.fails(Errno::EINVAL, true);
            (0, u64::from(LWP_MUTEX_DEAD), dead, dead, false)
        }
        _ => {
            let junk = none.fails(Errno::EINVAL, true);
            (0, u64::from(rng.next_u64() as u32 | 1), junk, junk, false)
        }
    };
    let ts = pools::timespec(rng);
    let staged = env.stage(&[word << 32 | kind, ts[0], ts[1]]);
    let anything = none.may(Errno::EINVAL).may(Errno::EDEADLK).may(Errno::ETIME).may(Errno::EPERM);
    let (lp, at, waits) = match rng.below(10) {
        0..=5 => (staged, if unlock { unlocked } else { lock }, waits),
        6 => (staged + 1 + rng.below(3), none.fails(Errno::EINVAL, true), false),
        7 | 8 => {
            let lp = pools::bad_out(rng, l, 8);
            // A misaligned one is refused as such, maybe before it is read.
            let e = none.fails(Errno::EFAULT, true).fails(Errno::EINVAL, !lp.is_multiple_of(4));
            (lp, e, false)
        }
        9 if rng.chance(1, 2) => {
            // The caller's schedctl slot, if mapped: shared with the kernel, which
            // writes it at every switch; never a mutex.
            let e = none.fails(Errno::EINVAL, true).fails(Errno::EFAULT, true);
            (sc_shared_addr(me.id), e, false)
        }
        _ => (pools::garbage(rng, l, 8), anything, true),
    };
    args[0] = lp;
    if unlock {
        return at;
    }
    let (tsp, e) = match rng.below(8) {
        0 => (bad_timeout(rng, l), at.fails(Errno::EFAULT, true)),
        1 if !waits => (0, at),
        2 if !waits => (l.huge_ts, at),
        _ => (staged + 8, at.fails(Errno::EINVAL, !pools::valid_timespec(ts))),
    };
    args[1] = tsp;
    e
}

/// `ta 0x24` (gethrtime, which never goes back), `ta 0x25` (gethrvtime) or `ta 3`
/// (flush windows); a yield where the machine has no such traps.
fn soft_trap<E: Env>(
    env: &mut E,
    me: &mut Me,
    rng: &mut Rng,
    wrong: impl Fn([u64; 6], Result<(u64, u64), u64>, &'static str, Expect) -> Wrong,
) -> Option<Wrong> {
    let which = rng.pick(&[0x24, 0x25, 3]);
    match env.soft_trap(which) {
        None => {
            let got = env.syscall(SYS_YIELD, [0; 6]);
            got.is_err().then(|| wrong([0; 6], got, "yield failed", Expect::ok()))
        }
        Some(t) if which == 0x24 => {
            let back = t < me.last_clock;
            me.last_clock = t;
            let got = Ok((t, 0));
            back.then(|| wrong([which, 0, 0, 0, 0, 0], got, "gethrtime went back", Expect::ok()))
        }
        Some(_) => None,
    }
}

/// The staging area is big enough for what is staged here.
const _: () = assert!(STAGE_LEN >= 48);
