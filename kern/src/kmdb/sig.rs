//! `::sig PID`: a process's signal state as the kernel keeps it (S10–S12, S14) —
//! the dispositions its LWPs share that are not the default, the signals pending
//! on the process, its real-time timer, and for each LWP its own mask, its own
//! pending signals, the signal it is delivering and its alternate stack.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use super::thread::ProcName;
use super::thread::{Hex, World};
use super::{l, r, row, Args, Col, Dcmd, Next};
use crate::lwp::{LwpId, SigAltStack};
use crate::signal::data::NSIG;
use crate::signal::{Sig, SigAct, SigDisp, SigSet};
use crate::thread::KThread;
use lwp_abi::{
    SA_NOCLDSTOP, SA_NOCLDWAIT, SA_NODEFER, SA_ONSTACK, SA_RESETHAND, SA_RESTART, SA_SIGINFO,
    SIGRTMIN, SS_DISABLE,
};

pub(super) const DCMDS: &[Dcmd] = &[Dcmd {
    name: "sig",
    usage: "PID",
    help: "signals of process PID: dispositions, pending signals, each LWP's mask",
    run: sig,
}];

/// The columns of the dispositions (the last, the mask, takes what it needs).
const ACT_COLS: &[Col] = &[l(10), l(24), l(22)];
/// The columns of the LWPs (the last, the alternate stack, takes what it needs).
const LWP_COLS: &[Col] = &[r(4), l(16), l(24), l(24), l(10)];

/// The names of signals 1 to 41; the real-time ones are `RTMIN+n`.
const NAMES: [&str; 41] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "EMT", "FPE", "KILL", "BUS", "SEGV", "SYS",
    "PIPE", "ALRM", "TERM", "USR1", "USR2", "CHLD", "PWR", "WINCH", "URG", "POLL", "STOP", "TSTP",
    "CONT", "TTIN", "TTOU", "VTALRM", "PROF", "XCPU", "XFSZ", "WAITING", "LWP", "FREEZE", "THAW",
    "CANCEL", "LOST", "XRES", "JVM1", "JVM2", "INFO",
];
const _: () = assert!(NAMES.len() as u64 == SIGRTMIN - 1);

/// A signal by its name: `SIGINT`, `SIGRTMIN+3`.
struct Name(Sig);

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = u64::from(self.0.num());
        match NAMES.get(n as usize - 1) {
            Some(name) => write!(f, "SIG{name}"),
            None => write!(f, "SIGRTMIN+{}", n - SIGRTMIN),
        }
    }
}

/// How many names a set is shown with at most; a bigger one is shown by what it
/// lacks, or by its `sigset_t` words.
const MAX_NAMES: usize = 4;

/// A set of signals: `-` if empty, its names, `all but` what it lacks, or its
/// count and `sigset_t` words.
struct Set(SigSet);

impl fmt::Display for Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |f: &mut fmt::Formatter<'_>, s: SigSet| {
            for (i, sig) in s.iter().enumerate() {
                write!(f, "{}{}", if i == 0 { "" } else { "," }, Name(sig))?;
            }
            Ok(())
        };
        let s = self.0;
        let lacks = SigSet::ALL.minus(s);
        if s.is_empty() {
            f.write_str("-")
        } else if s.iter().count() <= MAX_NAMES {
            names(f, s)
        } else if lacks.iter().count() <= MAX_NAMES {
            f.write_str("all")?;
            if !lacks.is_empty() {
                f.write_str("-but-")?;
                names(f, lacks)?;
            }
            Ok(())
        } else {
            let [a, b, c, d] = s.words();
            write!(f, "{}:{a:08x}.{b:08x}.{c:08x}.{d:08x}", s.iter().count())
        }
    }
}

/// `sa_flags`, by name (`-`: none).
struct Flags(u32);

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ALL: [(u32, &str); 7] = [
            (SA_ONSTACK, "ONSTACK"),
            (SA_RESETHAND, "RESETHAND"),
            (SA_RESTART, "RESTART"),
            (SA_SIGINFO, "SIGINFO"),
            (SA_NODEFER, "NODEFER"),
            (SA_NOCLDWAIT, "NOCLDWAIT"),
            (SA_NOCLDSTOP, "NOCLDSTOP"),
        ];
        let mut rest = self.0;
        let mut sep = "";
        for (bit, name) in ALL {
            if rest & bit != 0 {
                write!(f, "{sep}{name}")?;
                sep = "|";
                rest &= !bit;
            }
        }
        match (rest, sep) {
            (0, "") => f.write_str("-"),
            (0, _) => Ok(()),
            (rest, _) => write!(f, "{sep}{rest:#x}"),
        }
    }
}

/// What a disposition does.
struct Disp(SigDisp);

impl fmt::Display for Disp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            SigDisp::Default => f.write_str("default"),
            SigDisp::Ignore => f.write_str("ignore"),
            SigDisp::Catch(h) => write!(f, "catch {h:#x}"),
        }
    }
}

/// What `::sig` shows of the process, copied under its lock.
struct ProcView {
    acts: Vec<(Sig, SigAct)>,
    pending: SigSet,
    stopsig: Option<Sig>,
    real_expire: u64,
    lwps: Vec<(LwpId, &'static KThread)>,
}

/// An LWP's alternate stack (`-`: none).
struct Alt(Option<Option<SigAltStack>>);

impl fmt::Display for Alt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("? (locked)"),
            Some(None) => f.write_str("? (swapped out)"),
            Some(Some(a)) if a.ss_flags & SS_DISABLE != 0 => f.write_str("-"),
            Some(Some(a)) => write!(f, "{:#x}+{:#x}", a.ss_sp, a.ss_size),
        }
    }
}

/// A cell's text, so that its column pads it.
fn s(d: &dyn fmt::Display) -> String {
    alloc::format!("{d}")
}

fn sig(args: &Args<'_>, out: &mut dyn Write) -> Result<Next, fmt::Error> {
    let w = World::take();
    let Some(p) = super::proc::process_arg(args, &w, "sig", "takes no signals", out)? else {
        return Ok(Next::Stay);
    };
    let pid = p.pid().0;
    // Room first, then what is shown copied under the lock (nothing allocated there).
    let n = super::peek(&p.p_lock).map_or(0, |ps| ps.p_lwpdir.len());
    let mut v = ProcView {
        acts: Vec::with_capacity(NSIG),
        pending: SigSet::EMPTY,
        stopsig: None,
        real_expire: 0,
        lwps: Vec::with_capacity(n + 8),
    };
    {
        let Some(ps) = super::peek(&p.p_lock) else {
            writeln!(out, "kmdb: process {pid} is locked")?;
            return Ok(Next::Stay);
        };
        let s = &ps.p_sig;
        for sig in SigSet::ALL.iter() {
            let a = s.act(sig);
            if a != SigAct::DEFAULT {
                v.acts.push((sig, a));
            }
        }
        v.pending = p.p_sigpend.get();
        v.stopsig = s.stopsig;
        v.real_expire = s.real_expire;
        let room = v.lwps.capacity();
        for (id, e) in ps.p_lwpdir.used().take(room) {
            if let Some((t, _)) = e.le_live {
                v.lwps.push((id, t));
            }
        }
    }
    writeln!(out, "process {pid} ({}): pending {}", ProcName(p), Set(v.pending))?;
    if let Some(s) = v.stopsig {
        writeln!(out, "stopping for {}", Name(s))?;
    }
    if v.real_expire != 0 {
        writeln!(out, "ITIMER_REAL due at tick {}", v.real_expire)?;
    }
    if v.acts.is_empty() {
        writeln!(out, "every disposition is the default")?;
    } else {
        row(out, ACT_COLS, &[&"SIG", &"ACTION", &"FLAGS", &"MASK"])?;
        for (sig, a) in &v.acts {
            let cells = [s(&Name(*sig)), s(&Disp(a.disp)), s(&Flags(a.flags)), s(&Set(a.mask))];
            row(out, ACT_COLS, &[&cells[0], &cells[1], &cells[2], &cells[3]])?;
        }
    }
    row(out, LWP_COLS, &[&"LWP", &"THREAD", &"MASK", &"PENDING", &"CURSIG", &"ALTSTACK"])?;
    for &(id, t) in &v.lwps {
        let lwp = t.lwp();
        let cursig = match lwp.and_then(|l| l.peek_data(|d| d.lwp_cursig)).flatten() {
            Some(c) => Sig::new(c.into()).map_or(String::from("-"), |sig| s(&Name(sig))),
            None => String::from("?"),
        };
        let alt = s(&Alt(lwp.and_then(|l| l.peek_data(|d| d.lwp_sigaltstack))));
        let (mask, pending) = (s(&Set(t.sig_state().hold())), s(&Set(t.sig_state().sig())));
        let thread = Hex(Some(t as *const KThread as usize));
        row(out, LWP_COLS, &[&id.0, &thread, &mask, &pending, &cursig, &alt])?;
    }
    Ok(Next::Stay)
}
