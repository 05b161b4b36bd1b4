//! An `lwp` structure's fields as values (S5's eight parts): read from a
//! structure, filled with values of an LWP's own, and compared after a swap-out
//! and a swap-in — what every swap test checks an LWP comes back with.

use arch::{reg, UserRegs};
use kern::errno::Errno;
use kern::lwp::{Eosys, ITimerVal, LwpData, LwpRusage, SigAltStack, NITIMER};
use kern::signal::{Sig, SigInfo, SigSet};

/// Every S5 field of an `lwp` structure, as values. (Read under the structure's
/// lock, where nothing may be allocated: no clone.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fields {
    pub(super) regs: UserRegs,
    pub(super) sysc: u64,
    pub(super) sysnum: u32,
    pub(super) arg: [u64; 8],
    pub(super) rval: [u64; 2],
    pub(super) errno: Option<Errno>,
    pub(super) eosys: Eosys,
    pub(super) sigaltstack: SigAltStack,
    pub(super) cursig: u8,
    pub(super) curinfo: Option<SigInfo>,
    pub(super) sigoldmask: Option<SigSet>,
    pub(super) ru: LwpRusage,
    pub(super) oweupc: u64,
    pub(super) itimer: [ITimerVal; NITIMER],
    pub(super) utime: u64,
    pub(super) stime: u64,
    pub(super) thread: usize,
    pub(super) procp: usize,
}

pub(super) fn fields(d: &LwpData) -> Fields {
    Fields {
        regs: d.lwp_regs.load(),
        sysc: d.lwp_regs.syscalls(),
        sysnum: d.lwp_sysnum,
        arg: d.lwp_arg,
        rval: d.lwp_rval,
        errno: d.lwp_errno,
        eosys: d.lwp_eosys,
        sigaltstack: d.lwp_sigaltstack,
        cursig: d.lwp_cursig,
        curinfo: d.lwp_curinfo,
        sigoldmask: d.lwp_sigoldmask,
        ru: d.lwp_ru,
        oweupc: d.lwp_oweupc,
        itimer: d.lwp_itimer,
        utime: d.lwp_utime,
        stime: d.lwp_stime,
        thread: d.lwp_thread.0 as *const _ as usize,
        procp: d.lwp_procp.0 as *const _ as usize,
    }
}

/// Values of LWP `k`'s own for every S5 field it owns (the system time is the
/// clock's, the count of system calls the machine's, the links the kernel's).
fn filled(f: Fields, k: u64) -> Fields {
    let v = |x: u64| x + (k << 20);
    Fields {
        // What a frame keeps whole: 8 bits of %ccr and %asi, 32 of %y, no %fprs.
        regs: UserRegs {
            r: core::array::from_fn(|i| match i {
                reg::CCR => (0x44 + k) & 0xff,
                reg::ASI => 0x82,
                reg::FPRS => 0,
                reg::Y => v(0x5500) & 0xffff_ffff,
                _ => v(0x5500_0000_0000 + i as u64),
            }),
        },
        sysnum: 159,
        arg: core::array::from_fn(|i| v(i as u64 + 1)),
        rval: [v(11), v(12)],
        errno: Some(Errno::EINTR),
        eosys: Eosys::JustReturn,
        sigaltstack: SigAltStack { ss_sp: v(0x7fff_0000), ss_size: 8192, ss_flags: 1 },
        cursig: 14,
        curinfo: Some(SigInfo {
            si_signo: 11,
            si_code: 1,
            si_errno: 0,
            si_pid: 7 + k as u32,
            si_addr: v(0xdead_0000),
            si_value: v(0x5151),
        }),
        sigoldmask: Some(SigSet::of(Sig::CHLD).union(SigSet::from_words([k as u32, 0, 0, 0]))),
        ru: LwpRusage {
            minflt: v(1),
            majflt: v(2),
            nswap: v(3),
            inblock: v(4),
            oublock: v(5),
            msgsnd: v(6),
            msgrcv: v(7),
            nsignals: v(8),
            nvcsw: v(9),
            nivcsw: v(10),
            ioch: v(12),
        },
        oweupc: v(13),
        // Disarmed (no value left), so that the clock leaves them as they are.
        itimer: core::array::from_fn(|i| ITimerVal {
            it_interval: v(10 + 20 * i as u64),
            it_value: 0,
        }),
        utime: v(77),
        ..f
    }
}

/// Writes the values of [`filled`] into LWP `k`'s own structure.
pub(super) fn fill(d: &mut LwpData, k: u64) {
    let f = filled(fields(d), k);
    d.lwp_regs.store(&f.regs);
    d.lwp_sysnum = f.sysnum;
    d.lwp_arg = f.arg;
    d.lwp_rval = f.rval;
    d.lwp_errno = f.errno;
    d.lwp_eosys = f.eosys;
    d.lwp_sigaltstack = f.sigaltstack;
    d.lwp_cursig = f.cursig;
    d.lwp_curinfo = f.curinfo;
    d.lwp_sigoldmask = f.sigoldmask;
    d.lwp_ru = f.ru;
    d.lwp_oweupc = f.oweupc;
    d.lwp_itimer = f.itimer;
    d.lwp_utime = f.utime;
}

/// Whether LWP `k`'s structure `f` holds what [`fill`] wrote, its usage counts
/// moved on since (never back): it has been switched, and perhaps swapped, since.
pub(super) fn holds_filled(f: Fields, k: u64) -> bool {
    let want = filled(f, k);
    Fields { ru: f.ru, ..want } == f && counts_grew(&want.ru, &f.ru)
}

/// Whether every usage count of `b` is at least `a`'s.
fn counts_grew(a: &LwpRusage, b: &LwpRusage) -> bool {
    a.counts().into_iter().zip(b.counts()).all(|(x, y)| y >= x)
}

/// Whether `b` is `a` after one swap-out and swap-in of the LWP, which slept or
/// stopped (S5.4): the same structure but for the system time, which the clock
/// may have moved on (never back), a swap-out and a block written, a fault that
/// needed I/O and a block read, and perhaps involuntary switches once it ran.
pub(super) fn same_after_round_trip(a: &Fields, b: &Fields) -> bool {
    let ru = LwpRusage {
        nswap: a.ru.nswap + 1,
        oublock: a.ru.oublock + 1,
        majflt: a.ru.majflt + 1,
        inblock: a.ru.inblock + 1,
        nivcsw: b.ru.nivcsw,
        ..a.ru
    };
    Fields { stime: 0, ru, ..*a } == Fields { stime: 0, ..*b }
        && b.stime >= a.stime
        && b.ru.nivcsw >= a.ru.nivcsw
}
