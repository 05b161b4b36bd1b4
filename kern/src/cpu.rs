//! Per-CPU data (`cpu_t`): what each CPU is running and its counters.
//!
//! A CPU's structure is written only by that CPU with interrupts off (the running
//! thread, the switch bookkeeping) or is atomic (counters read by anyone).

use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use arch::cell::StaticRef;
use arch::Machine;

use crate::displock::DispLock;
use crate::dispq::DispQ;
use crate::thread::KThread;
use crate::M;

/// The most CPUs the kernel supports.
pub const MAX_CPUS: usize = 8;

/// One CPU.
pub struct Cpu {
    /// This CPU's number, `0..MAX_CPUS`: its index in the table of CPUs.
    pub cpu_id: usize,
    /// The thread running on this CPU.
    pub cpu_thread: StaticRef<KThread>,
    /// This CPU's idle thread.
    pub cpu_idle: StaticRef<KThread>,
    /// Priority of the running thread (-1 while idle).
    pub cpu_curpri: AtomicI32,
    /// The running thread should give up the CPU at the next preemption point
    /// (`kpreempt` takes it; a switch to a thread of this CPU's queue answers it).
    pub cpu_runrun: AtomicBool,
    /// ... because its quantum is used up (it goes to the back of its queue).
    pub cpu_qexpired: AtomicBool,
    /// A cross-call has been sent to this CPU and it has not taken it yet
    /// (`disp::kpreempt` clears it): no other is sent meanwhile.
    pub cpu_poked: AtomicBool,
    /// The runnable threads waiting for this CPU.
    pub cpu_disp: DispLock<DispQ>,
    /// How many wait there (read without the lock, as a hint).
    pub cpu_nrunnable: AtomicUsize,
    /// Clock interrupts taken.
    pub cpu_ticks: AtomicU64,
    /// Context switches made.
    pub cpu_switches: AtomicU64,
    /// Of those, preemptions (involuntary switches).
    pub cpu_preempts: AtomicU64,
    /// The thread switched away from, and what to do with it once the switch is
    /// complete. Only this CPU touches them, with interrupts off: no lock.
    pub(crate) cpu_prev: StaticRef<KThread>,
    pub(crate) cpu_prev_why: AtomicU8,
}

impl Cpu {
    const fn new(id: usize) -> Cpu {
        Cpu {
            cpu_id: id,
            cpu_thread: StaticRef::none(),
            cpu_idle: StaticRef::none(),
            cpu_curpri: AtomicI32::new(-1),
            cpu_runrun: AtomicBool::new(false),
            cpu_qexpired: AtomicBool::new(false),
            cpu_poked: AtomicBool::new(false),
            cpu_disp: DispLock::new(DispQ::new()),
            cpu_nrunnable: AtomicUsize::new(0),
            cpu_ticks: AtomicU64::new(0),
            cpu_switches: AtomicU64::new(0),
            cpu_preempts: AtomicU64::new(0),
            cpu_prev: StaticRef::none(),
            cpu_prev_why: AtomicU8::new(0),
        }
    }

    /// Clock interrupts this CPU has taken (`cpu_ticks`).
    pub fn ticks(&self) -> u64 {
        self.cpu_ticks.load(Ordering::Relaxed)
    }

    /// Context switches this CPU has made (`cpu_switches`).
    #[inline]
    pub fn switches(&self) -> u64 {
        self.cpu_switches.load(Ordering::Relaxed)
    }

    /// Of its switches, the involuntary ones: preemptions (`cpu_preempts`).
    pub fn preempts(&self) -> u64 {
        self.cpu_preempts.load(Ordering::Relaxed)
    }

    /// The priority of what the CPU runs (-1: idle).
    pub fn curpri(&self) -> i32 {
        self.cpu_curpri.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn set_running(&self, t: &'static KThread, pri: i32) {
        self.cpu_thread.set(Some(t));
        self.cpu_curpri.store(pri, Ordering::Relaxed);
    }

    /// Whether `t` is this CPU's idle thread.
    #[inline]
    pub fn is_idle(&self, t: &KThread) -> bool {
        self.cpu_idle.holds(t)
    }
}

static CPUS: [Cpu; MAX_CPUS] = [
    Cpu::new(0),
    Cpu::new(1),
    Cpu::new(2),
    Cpu::new(3),
    Cpu::new(4),
    Cpu::new(5),
    Cpu::new(6),
    Cpu::new(7),
];

/// The CPU this code runs on (`CPU` in Solaris).
#[inline]
pub fn cpu() -> &'static Cpu {
    &CPUS[M::cpu_id()]
}

/// CPU `id`.
pub fn cpu_by_id(id: usize) -> &'static Cpu {
    &CPUS[id]
}

/// Every CPU the machine has.
pub fn cpus() -> &'static [Cpu] {
    &CPUS[..M::ncpus().min(MAX_CPUS)]
}

/// Preemptions on all CPUs.
pub fn total_preempts() -> u64 {
    cpus().iter().map(Cpu::preempts).sum()
}

/// Clock ticks taken on all CPUs.
pub fn total_ticks() -> u64 {
    cpus().iter().map(Cpu::ticks).sum()
}
