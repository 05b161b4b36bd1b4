//! A run, LWP by LWP: the main LWP, which draws calls and episodes (workers,
//! storms, reaping) until the run's calls are made, and ends it as its fate says;
//! the workers, which draw calls until their budget or the run ends; the keeper,
//! which continues every LWP each round; the storms; the strike. And the guard.

use lwp_abi::{
    Errno, LWP_DETACHED, LWP_SUSPENDED, SIGKILL, SYS_EXIT, SYS_GETPID, SYS_LWP_EXIT, SYS_LWP_KILL,
    SYS_LWP_SELF, SYS_LWP_WAIT, SYS_NANOSLEEP,
};

use crate::call::{Call, Expect, BAD_NUMBERS};
use crate::calls::{self, max_id, saw_id, Me, Wrong};
use crate::rng::Rng;
use crate::{code, pools, word, Env, Fate, Role, EXIT_CODE, KERNEL, NSLOTS};

/// What an LWP made by [`Env::spawn`] is (the low byte of its argument; then its
/// slot, then a number that makes its stream of the seed its own).
const WORKER: u64 = 1;
const KEEPER: u64 = 2;
const GUARD_LWP: u64 = 3;

fn lwp_arg(kind: u64, slot: usize, nonce: u64) -> u64 {
    kind | (slot as u64) << 8 | nonce << 16
}

/// A slot's owner while its LWP is being made.
const CLAIMED: u64 = u32::MAX as u64;
/// The guard's secret.
const SECRET: u64 = 0x5ec2_e75e_c2e7_5ec2;
/// Rounds (each a nap of a tick or so) the main LWP waits for the others to end.
const JOIN_ROUNDS: u32 = 5000;

/// The program's first LWP: a run, or the guard, as `arg` says ([`Role::arg`]).
/// Returns when the process is to exit 0.
pub fn start<E: Env>(env: &mut E, arg: u64) {
    match Role::from_arg(arg) {
        Some(Role::Fuzz { seed, calls, fate }) => fuzz_main(env, seed, calls, fate),
        Some(Role::Guard) => guard_main(env),
        None => {
            env.say(format_args!("fuzz: no role in argument {arg:#x}"));
            exit(env, code::BAD_ARG)
        }
    }
}

/// An LWP made by [`Env::spawn`], with the argument it was given. Returns when the
/// LWP is to `_lwp_exit`.
pub fn lwp_start<E: Env>(env: &mut E, arg: u64) {
    let slot = (arg >> 8) as u8 as usize;
    match arg & 0xff {
        WORKER if slot < NSLOTS => worker(env, slot, arg >> 16),
        KEEPER if slot < NSLOTS => keeper(env, slot),
        GUARD_LWP if slot < NSLOTS => guard_lwp(env, slot),
        _ => {
            env.say(format_args!("fuzz: no LWP role in argument {arg:#x}"));
            exit(env, code::BAD_ARG)
        }
    }
}

fn exit<E: Env>(env: &mut E, code: u8) -> ! {
    let _ = env.syscall(SYS_EXIT, [u64::from(code), 0, 0, 0, 0, 0]);
    panic!("exit returned")
}

/// The run this process makes: `(seed, calls, fate)`.
fn run_of<E: Env>(env: &E) -> (u32, u32, Fate) {
    match Role::from_arg(env.get(word::ROLE)) {
        Some(Role::Fuzz { seed, calls, fate }) => (seed, calls, fate),
        _ => (0, 0, Fate::Return),
    }
}

/// Ends the process with `code`, saying why.
fn fail<E: Env>(env: &mut E, me: &Me, code: u8, why: core::fmt::Arguments) -> ! {
    let (seed, _, _) = run_of(env);
    env.say(format_args!("fuzz: seed {seed}, lwp {}: check {code} failed: {why}", me.id));
    exit(env, code)
}

fn wrong<E: Env>(env: &mut E, me: &Me, w: Wrong) -> ! {
    fail(env, me, w.call.code(), format_args!("{w}"))
}

/// Makes a call the run needs (not a random one) and checks its answer against
/// `expect`; returns it.
fn call<E: Env>(
    env: &mut E,
    me: &Me,
    call: Call,
    args: [u64; 6],
    expect: Expect,
) -> Result<(u64, u64), u64> {
    let got = env.syscall(call.num(), args);
    if !expect.admits(got) {
        wrong(env, me, Wrong { call, args, got, why: "the run's own call", expect })
    }
    got
}

/// [`call`] when the answer is needed no further.
fn make<E: Env>(env: &mut E, me: &Me, c: Call, args: [u64; 6], expect: Expect) {
    let _ = call(env, me, c, args, expect);
}

fn args1(a: u64) -> [u64; 6] {
    [a, 0, 0, 0, 0, 0]
}

/// Sleeps a millisecond (a tick or two).
fn nap<E: Env>(env: &mut E, me: &Me) {
    let ts = env.stage(&[0, 1_000_000]);
    make(env, me, Call::Nanosleep, args1(ts), Expect::ok());
}

/// Whether LWP `id` is alive (`_lwp_kill(id, 0)`).
fn alive<E: Env>(env: &mut E, me: &Me, id: u64) -> bool {
    let r = call(env, me, Call::LwpKill, args1(id), Expect::ok().may(Errno::ESRCH));
    r.is_ok()
}

/// Makes a stub LWP with `flags`: its id, or `EAGAIN`/`ENOMEM`.
fn make_stub<E: Env>(env: &mut E, me: &Me, flags: u64) -> Result<u32, u64> {
    let l = *env.layout();
    make_lwp(env, me, [l.stub_pc, l.stub_stack_top, 0], flags)
}

/// Makes an LWP from the context `ctx`: its id, or `EAGAIN`/`ENOMEM`.
fn make_lwp<E: Env>(env: &mut E, me: &Me, ctx: [u64; 3], flags: u64) -> Result<u32, u64> {
    let ctxp = env.stage(&[ctx[0], ctx[1], ctx[2], 0]);
    let expect = Expect::ok().may(Errno::EAGAIN).may(Errno::ENOMEM);
    call(env, me, Call::LwpCreate, [ctxp, flags, ctxp + 24, 0, 0, 0], expect)?;
    let id = (env.peek(ctxp + 24) >> 32) as u32;
    saw_id(env, me, id);
    env.add(word::MADE_LWPS, 1);
    Ok(id)
}

/// [`continue_all`] continues an LWP that another is suspending once in this many
/// rounds only.
const SPARE_ROUNDS: u32 = 4;

/// What an LWP that continues every LWP round after round remembers: for each
/// slot, whom it was suspending and for how many rounds.
struct Rounds {
    suspending: [(u64, u32); NSLOTS],
}

impl Rounds {
    fn new() -> Rounds {
        Rounds { suspending: [(0, 0); NSLOTS] }
    }
}

/// Continues every LWP up to a few past the highest id made, but the keeper's
/// reserve (when the keeper does it), and, but once in [`SPARE_ROUNDS`] rounds,
/// those that another LWP is suspending: a continue before the suspender has seen
/// its LWP stopped cancels its request, and it asks again; continued at every
/// round, on a busy CPU where the LWP waits longer than a round to run, it would
/// ask for ever. (Two LWPs suspending each other both stop: the round that
/// continues them frees them.)
fn continue_all<E: Env>(env: &mut E, me: &Me, rounds: &mut Rounds) {
    let keep = if u64::from(me.id) == env.get(word::KEEPER) { env.get(word::RESERVE) } else { 0 };
    let mut spare = [0u64; NSLOTS];
    for (k, (target, n)) in rounds.suspending.iter_mut().enumerate() {
        let now = env.get(word::SUSPENDING + k);
        if now == *target {
            *n += 1;
        } else {
            (*target, *n) = (now, 0);
        }
        if *n % SPARE_ROUNDS != SPARE_ROUNDS - 1 {
            spare[k] = now;
        }
    }
    for id in 1..=u64::from(max_id(env)) + 4 {
        if id != u64::from(me.id) && id != keep && !spare.contains(&id) {
            make(env, me, Call::LwpContinue, args1(id), Expect::ok().may(Errno::ESRCH));
        }
    }
}

/// One step of the run: strikes if this is the call the fate waits for, else
/// makes a random call.
fn step<E: Env>(env: &mut E, me: &mut Me, rng: &mut Rng) {
    let n = env.add(word::MADE, 1);
    // The first two LWPs to reach the point both strike, if the first has not
    // ended the process by then: two exits (or faults) at once, to one status.
    if n >= env.get(word::DEATH_AT) && env.get(word::STRUCK) < 2 {
        strike(env, me, rng);
    }
    let depth = rng.below(16) as u32;
    let salt = rng.next_u64();
    match deep(depth, salt, &mut || calls::random_call(env, me, rng)) {
        Ok(None) => {}
        Ok(Some(w)) => wrong(env, me, w),
        Err(frame) => fail(
            env,
            me,
            code::FRAMES,
            format_args!("frame {frame} of {depth} lost its value across a system call"),
        ),
    }
}

/// Runs `f` `depth` frames deeper, each frame holding a value of its own across the
/// call (in a register of its window, on SPARC), which must be the same after it:
/// the windows spilled and filled around the system calls below come back intact
/// (S17). The frame whose value changed, if one did.
#[inline(never)]
fn deep<R>(depth: u32, salt: u64, f: &mut dyn FnMut() -> R) -> Result<R, u32> {
    if depth == 0 {
        return Ok(f());
    }
    let want = salt.rotate_left(depth) ^ u64::from(depth);
    let mine = core::hint::black_box(want);
    let r = deep(depth - 1, salt, f);
    if core::hint::black_box(mine) != want {
        return Err(depth);
    }
    r
}

/// The fate's call: it ends the process, so nothing after it should run.
fn strike<E: Env>(env: &mut E, me: &mut Me, rng: &mut Rng) -> ! {
    env.add(word::STRUCK, 1);
    let (seed, _, fate) = run_of(env);
    let made = env.get(word::MADE);
    env.say(format_args!("fuzz: seed {seed}: lwp {} strikes ({fate:?}) at call {made}", me.id));
    let l = *env.layout();
    match fate {
        Fate::Exit => {
            // High bits too: the status is the low byte.
            let status = u64::from(EXIT_CODE) | rng.next_u64() << 8;
            let _ = env.syscall(SYS_EXIT, [status, 0, 0, 0, 0, 0]);
        }
        Fate::BadCall => {
            let num = rng.pick(&BAD_NUMBERS);
            let ids = pools::Ids { me: me.id, max: max_id(env) };
            let args = core::array::from_fn(|_| pools::any(rng, &l, ids));
            let _ = env.syscall(num, args);
        }
        Fate::Kill => {
            let target = if rng.chance(1, 2) { me.id } else { 1 };
            let _ = env.syscall(SYS_LWP_KILL, [u64::from(target), SIGKILL, 0, 0, 0, 0]);
        }
        Fate::Fault => {
            // At a kernel address, aligned and below 2^43: accepted, and it faults
            // as it starts. Room is made if the process is at its limit.
            let flags = rng.pick(&[0, LWP_DETACHED]);
            for tries in 0..JOIN_ROUNDS {
                if make_lwp(env, me, [KERNEL.start, l.stub_stack_top, 0], flags).is_ok() {
                    break;
                }
                if tries % 16 == 15 {
                    reap_zombies(env, me);
                }
                nap(env, me);
            }
            for _ in 0..JOIN_ROUNDS {
                nap(env, me);
            }
        }
        Fate::Return | Fate::LastLwpExit => {}
    }
    fail(env, me, code::STRIKE, format_args!("{fate:?} did not end the process"))
}

fn fuzz_main<E: Env>(env: &mut E, seed: u32, calls: u32, fate: Fate) {
    let me = Me::new(0, 0, 0);
    let pid = call(env, &me, Call::Getpid, [0; 6], Expect::ok()).map_or(0, |r| r.0);
    let id = call(env, &me, Call::LwpSelf, [0; 6], Expect::ok()).map_or(0, |r| r.0) as u32;
    let mut me = Me::new(id, 0, pid);
    env.set(word::ROLE, Role::Fuzz { seed, calls, fate }.arg());
    env.set(word::PID, pid);
    env.set(word::OWNER, u64::from(id));
    saw_id(env, &me, id);
    let mut rng = Rng::new(u64::from(seed), 0);
    let calls = u64::from(calls);
    let death_at =
        if fate.strikes() { calls / 4 + rng.below(calls - calls / 4 + 1) } else { u64::MAX };
    env.set(word::DEATH_AT, death_at);
    env.say(format_args!(
        "fuzz: seed {seed}, {calls} calls, ending by {fate:?} ({:?})",
        fate.ending()
    ));
    let keeper = spawn_keeper(env, &me);
    env.set(word::KEEPER, u64::from(keeper));
    if fate != Fate::LastLwpExit {
        sleeper(env, &me);
    }
    let mut nonce = 1;
    while env.get(word::MADE) < calls {
        match rng.below(1000) {
            0..=14 => spawn_worker(env, &me, &mut rng, &mut nonce),
            15 | 16 => storm(env, &me, &mut rng),
            17 | 18 => reap_zombies(env, &me),
            _ => step(env, &mut me, &mut rng),
        }
    }
    if fate.strikes() {
        if env.get(word::STRUCK) == 0 {
            strike(env, &mut me, &mut rng);
        }
        // Another LWP struck: the process is on its way out.
        for _ in 0..JOIN_ROUNDS {
            nap(env, &me);
        }
        fail(
            env,
            &me,
            code::STRIKE,
            format_args!("{fate:?} by another LWP did not end the process"),
        );
    }
    if fate == Fate::LastLwpExit && rng.chance(1, 2) {
        // This LWP leaves first, the others busy: the keeper ends the run.
        env.say(format_args!("fuzz: seed {seed}: the main LWP leaves first"));
        env.set(word::STOP, 1);
        env.set(word::MAIN_GONE, 1);
        let _ = env.syscall(SYS_LWP_EXIT, [0; 6]);
        fail(env, &me, code::STRIKE, format_args!("_lwp_exit returned"));
    }
    join(env, &me);
    let sleeper = env.get(word::SLEEPER);
    if sleeper != 0 && !alive(env, &me, sleeper) {
        fail(env, &me, code::SLEEPER, format_args!("the sleeper {sleeper} woke up"));
    }
    env.say(format_args!(
        "fuzz: seed {seed}: {} calls, {} LWPs made, {} storms ({} to EAGAIN, {} to ENOMEM), \
         {} mappings made: done",
        env.get(word::MADE),
        env.get(word::MADE_LWPS),
        env.get(word::STORMS),
        env.get(word::STORMS_EAGAIN),
        env.get(word::STORMS_ENOMEM),
        env.get(word::MAPPED),
    ));
    if fate == Fate::LastLwpExit {
        leave_last(env, &me);
    }
}

/// The end of [`Fate::LastLwpExit`], once the workers are gone: two more LWPs that
/// may outlive this one, and `_lwp_exit`: the last to leave ends the process.
fn leave_last<E: Env>(env: &mut E, me: &Me) -> ! {
    for _ in 0..2 {
        let _ = make_stub(env, me, 0);
    }
    let _ = env.syscall(SYS_LWP_EXIT, [0; 6]);
    fail(env, me, code::STRIKE, format_args!("_lwp_exit returned"))
}

/// Makes the LWP of slot `slot` with argument `arg`: its id.
fn spawn_lwp<E: Env>(env: &mut E, me: &Me, slot: usize, arg: u64, flags: u64) -> Result<u32, u64> {
    env.set(word::OWNER + slot, CLAIMED);
    let r = env.spawn(slot, arg, flags);
    env.set(word::OWNER + slot, r.map_or(0, u64::from));
    if let Ok(id) = r {
        saw_id(env, me, id);
    }
    r
}

/// Yields the keeper may wait for room (see `spawn_keeper`).
const KEEPER_TRIES: usize = 100_000;

/// Makes the keeper, yielding while the system has no room for it: the other
/// processes' storms may hold every LWP it allows for a while (`EAGAIN` is the
/// kernel's right answer at a limit, S16), and give them back as they end.
fn spawn_keeper<E: Env>(env: &mut E, me: &Me) -> u32 {
    for _ in 0..KEEPER_TRIES {
        match spawn_lwp(env, me, 1, lwp_arg(KEEPER, 1, 0), 0) {
            Ok(id) => return id,
            Err(e) if e == Errno::EAGAIN as u64 || e == Errno::ENOMEM as u64 => {
                make(env, me, Call::Yield, [0; 6], Expect::ok());
            }
            Err(e) => fail(env, me, code::SPAWN, format_args!("the keeper: {e}")),
        }
    }
    fail(env, me, code::SPAWN, format_args!("the keeper: no room in {KEEPER_TRIES} yields"))
}

/// Whether the LWP in slot `slot` lives; frees the slot if it is gone (then its
/// stack is nobody's: it has left user mode for good).
fn slot_taken<E: Env>(env: &mut E, me: &Me, slot: usize) -> bool {
    let owner = env.get(word::OWNER + slot);
    if owner == 0 || (owner != CLAIMED && !alive(env, me, owner)) {
        env.set(word::OWNER + slot, 0);
        return false;
    }
    true
}

/// Starts a worker in a free slot, made suspended (the keeper continues it),
/// detached, or plain.
fn spawn_worker<E: Env>(env: &mut E, me: &Me, rng: &mut Rng, nonce: &mut u64) {
    let Some(slot) = (2..NSLOTS).find(|&s| !slot_taken(env, me, s)) else { return };
    let flags = match rng.below(20) {
        0..=2 => LWP_SUSPENDED,
        3..=5 => LWP_DETACHED,
        _ => 0,
    };
    *nonce += 1;
    match spawn_lwp(env, me, slot, lwp_arg(WORKER, slot, *nonce), flags) {
        Ok(_) => {}
        Err(e) if e == Errno::EAGAIN as u64 || e == Errno::ENOMEM as u64 => {}
        Err(e) => fail(env, me, code::SPAWN, format_args!("a worker: error {e}")),
    }
}

fn worker<E: Env>(env: &mut E, slot: usize, nonce: u64) {
    let (seed, calls, _) = run_of(env);
    let id = env.syscall(SYS_LWP_SELF, [0; 6]).map_or(0, |r| r.0) as u32;
    let mut me = Me::new(id, slot, env.get(word::PID));
    let mut rng = Rng::new(u64::from(seed), nonce);
    for _ in 0..20 + rng.below(400) {
        if env.get(word::STOP) != 0 || env.get(word::MADE) >= u64::from(calls) {
            break;
        }
        if rng.chance(1, 300) {
            storm(env, &me, &mut rng);
        } else {
            step(env, &mut me, &mut rng);
        }
    }
}

/// The keeper: each round it continues every LWP, and, when no call has been made
/// for a few rounds, gives the LWPs a zombie, so that a wait for any LWP ends: it
/// continues its reserve, a stub it keeps suspended for the purpose (made while
/// memory allows: when the heap is gone no stub can be made then), or makes a stub.
fn keeper<E: Env>(env: &mut E, slot: usize) {
    let id = env.syscall(SYS_LWP_SELF, [0; 6]).map_or(0, |r| r.0) as u32;
    let me = Me::new(id, slot, env.get(word::PID));
    let (mut last, mut still) = (u64::MAX, 0);
    let mut rounds = Rounds::new();
    while env.get(word::KEEPER_STOP) == 0 {
        if env.get(word::MAIN_GONE) != 0 {
            // The main LWP has left first: the keeper ends the run in its stead
            // (and its reserve goes with the others).
            env.set(word::RESERVE, 0);
            join_workers(env, &me);
            continue_all(env, &me, &mut Rounds::new());
            reap_zombies(env, &me);
            leave_last(env, &me);
        }
        let mut reserve = env.get(word::RESERVE);
        if reserve == 0 || !alive(env, &me, reserve) {
            reserve = make_stub(env, &me, LWP_SUSPENDED).map_or(0, u64::from);
            env.set(word::RESERVE, reserve);
        }
        continue_all(env, &me, &mut rounds);
        let made = env.get(word::MADE);
        if made == last {
            still += 1;
        } else {
            (last, still) = (made, 0);
        }
        if still >= 4 {
            still = 0;
            if reserve == 0 {
                let _ = make_stub(env, &me, 0);
            } else {
                env.set(word::RESERVE, 0);
                make(env, &me, Call::LwpContinue, args1(reserve), Expect::ok().may(Errno::ESRCH));
            }
        }
        nap(env, &me);
    }
}

/// The sleeper: an LWP asleep for `i64::MAX` seconds, which is continued and
/// suspended over and over (each wakes its sleep, which must go on as before).
fn sleeper<E: Env>(env: &mut E, me: &Me) {
    let l = *env.layout();
    let Ok(id) = make_lwp(env, me, [l.sleeper_pc, l.stub_stack_top, l.huge_ts], LWP_DETACHED)
    else {
        return;
    };
    env.set(word::SLEEPER, u64::from(id));
    let id = u64::from(id);
    for i in 0..64 {
        if i % 8 == 0 {
            env.set(word::SUSPENDING + me.slot, id);
            make(env, me, Call::LwpSuspend, args1(id), Expect::ok());
            env.set(word::SUSPENDING + me.slot, 0);
        }
        make(env, me, Call::LwpContinue, args1(id), Expect::ok());
        make(env, me, Call::Yield, [0; 6], Expect::ok());
    }
}

/// A storm: stub LWPs made as fast as the process can, suspended, detached, both or
/// neither, until the process or the system has no room (`EAGAIN`) or a cap; then
/// the suspended ones are continued and the others waited for.
fn storm<E: Env>(env: &mut E, me: &Me, rng: &mut Rng) {
    const CAP: usize = 128;
    env.add(word::STORMS, 1);
    let (mut held, mut nheld) = ([0u32; CAP], 0);
    let (mut waits, mut nwaits) = ([0u32; CAP], 0);
    let cap = 8 + rng.below(CAP as u64 - 8);
    let mut made = 0;
    while made < cap {
        let flags = rng.pick(&[0, LWP_SUSPENDED, LWP_DETACHED, LWP_SUSPENDED | LWP_DETACHED]);
        let id = match make_stub(env, me, flags) {
            Ok(id) => id,
            Err(e) => {
                let nomem = e == Errno::ENOMEM as u64;
                env.add(if nomem { word::STORMS_ENOMEM } else { word::STORMS_EAGAIN }, 1);
                break;
            }
        };
        made += 1;
        if flags & LWP_SUSPENDED != 0 {
            held[nheld] = id;
            nheld += 1;
        }
        if flags & LWP_DETACHED == 0 {
            waits[nwaits] = id;
            nwaits += 1;
        }
    }
    env.add(word::MADE, made);
    for &id in &held[..nheld] {
        make(env, me, Call::LwpContinue, args1(u64::from(id)), Expect::ok().may(Errno::ESRCH));
    }
    // Another LWP may have reaped one (ESRCH), and a detached one have its id now.
    let expect = Expect::ok().may(Errno::ESRCH).may(Errno::EINVAL).may(Errno::EDEADLK);
    for &id in &waits[..nwaits] {
        make(env, me, Call::LwpWait, [u64::from(id), 0, 0, 0, 0, 0], expect);
    }
}

/// Reaps the zombies it can find: every id past the main LWP's that names no live
/// LWP is waited for (a zombie is reaped at once, a free id is `ESRCH`).
fn reap_zombies<E: Env>(env: &mut E, me: &Me) {
    let skip = [u64::from(me.id), env.get(word::KEEPER), env.get(word::SLEEPER)];
    let expect = Expect::ok().may(Errno::ESRCH).may(Errno::EINVAL).may(Errno::EDEADLK);
    for id in 2..=u64::from(max_id(env)) + 4 {
        if !skip.contains(&id) && !alive(env, me, id) {
            make(env, me, Call::LwpWait, [id, 0, 0, 0, 0, 0], expect);
        }
    }
}

/// The end of a run that is not struck: the workers go (`join_workers`), then the
/// keeper, and the zombies are reaped.
fn join<E: Env>(env: &mut E, me: &Me) {
    join_workers(env, me);
    env.set(word::KEEPER_STOP, 1);
    let keeper = env.get(word::KEEPER);
    for round in 0.. {
        if !alive(env, me, keeper) {
            break;
        }
        nap(env, me);
        if round == JOIN_ROUNDS {
            fail(env, me, code::JOIN, format_args!("the keeper did not end"));
        }
    }
    make(env, me, Call::LwpWait, [keeper, 0, 0, 0, 0, 0], Expect::ok().may(Errno::ESRCH));
    continue_all(env, me, &mut Rounds::new());
    reap_zombies(env, me);
}

/// The workers are told to stop and are continued until they are gone; a worker
/// waiting for any LWP is given a zombie now and then.
fn join_workers<E: Env>(env: &mut E, me: &Me) {
    env.set(word::STOP, 1);
    let mut round = 0;
    let mut rounds = Rounds::new();
    while (2..NSLOTS).any(|s| slot_taken(env, me, s)) {
        continue_all(env, me, &mut rounds);
        if round % 8 == 7 {
            let _ = make_stub(env, me, 0);
        }
        nap(env, me);
        round += 1;
        if round == JOIN_ROUNDS {
            fail(env, me, code::JOIN, format_args!("the workers did not end"));
        }
    }
}

/// The guard (see [`Role::Guard`]).
fn guard_main<E: Env>(env: &mut E) {
    let me = Me::new(0, 0, 0);
    let pid = call(env, &me, Call::Getpid, [0; 6], Expect::ok()).map_or(0, |r| r.0);
    let id = call(env, &me, Call::LwpSelf, [0; 6], Expect::ok()).map_or(0, |r| r.0) as u32;
    let me = Me::new(id, 0, pid);
    env.set(word::SECRET, SECRET);
    let mut ids = [0u64; 3];
    for (k, slot) in ids.iter_mut().zip(1..) {
        match spawn_lwp(env, &me, slot, lwp_arg(GUARD_LWP, slot, 0), 0) {
            Ok(id) => *k = u64::from(id),
            Err(e) => fail(env, &me, code::GUARD, format_args!("guard LWP {slot}: error {e}")),
        }
    }
    let mailbox = env.layout().mailbox;
    let mut rounds = 0u64;
    while env.peek(mailbox) == 0 {
        nap(env, &me);
        rounds += 1;
        let secret = env.get(word::SECRET);
        let now = env.syscall(SYS_GETPID, [0; 6]).map_or(0, |r| r.0);
        let myself = env.syscall(SYS_LWP_SELF, [0; 6]).map_or(0, |r| r.0);
        if secret != SECRET || now != pid || myself != u64::from(id) {
            fail(
                env,
                &me,
                code::GUARD + 1,
                format_args!("secret {secret:#x}, pid {now}, lwp {myself}"),
            );
        }
        if let Some(gone) = ids.iter().find(|&&k| !alive(env, &me, k)) {
            fail(env, &me, code::GUARD + 2, format_args!("guard LWP {gone} is gone"));
        }
    }
    env.set(word::STOP, 1);
    for (k, slot) in ids.into_iter().zip(1..) {
        let got = env.syscall(SYS_LWP_WAIT, [k, 0, 0, 0, 0, 0]);
        let ran = env.get(word::ROUNDS + slot);
        if got.is_err() || ran == 0 {
            fail(
                env,
                &me,
                code::GUARD + 3,
                format_args!("guard LWP {k}: wait {got:?}, {ran} rounds"),
            );
        }
    }
    env.say(format_args!("fuzz: guard intact after {rounds} rounds"));
}

/// A guard LWP: naps and checks the secret until told to stop.
fn guard_lwp<E: Env>(env: &mut E, slot: usize) {
    let id = env.syscall(SYS_LWP_SELF, [0; 6]).map_or(0, |r| r.0) as u32;
    let me = Me::new(id, slot, env.get(word::PID));
    while env.get(word::STOP) == 0 {
        let ts = env.stage(&[0, 1_000_000]);
        let slept = env.syscall(SYS_NANOSLEEP, args1(ts));
        let secret = env.get(word::SECRET);
        if slept.is_err() || secret != SECRET {
            fail(
                env,
                &me,
                code::GUARD + 4,
                format_args!("nanosleep {slept:?}, secret {secret:#x}"),
            );
        }
        env.add(word::ROUNDS + slot, 1);
    }
}
