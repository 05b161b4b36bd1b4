//! The user programs the kernel image carries: the ELF executables of
//! `sim-tests/user` and `sim-tests/user/thread` (one per `src/bin/*.rs` there),
//! built by `build.rs` and included here byte for byte, as a program file would
//! be read.

/// Program `name`'s file, from where `build.rs` built it, 8-byte aligned as a file
/// read into a page would be: `exec` copies each segment to an address that agrees
/// with its file offset modulo the page size, and a copy between two doubleword-
/// aligned addresses goes by doublewords, not bytes (`include_bytes!` alone aligns
/// to nothing, and a program's `exec` costs then twice as much).
macro_rules! program {
    ($name:literal) => {{
        #[repr(C, align(8))]
        struct Aligned<B: ?Sized>(B);
        static FILE: &Aligned<[u8]> =
            &Aligned(*include_bytes!(concat!(env!("LWP_USER_BIN_DIR"), "/", $name)));
        &FILE.0
    }};
}

pub static HELLO: &[u8] = program!("hello");
pub static LWPS: &[u8] = program!("lwps");
pub static SUSPEND: &[u8] = program!("suspend");
pub static WAIT: &[u8] = program!("wait");
pub static FAULT: &[u8] = program!("fault");
pub static BADPTR: &[u8] = program!("badptr");
pub static ISOLATION: &[u8] = program!("isolation");
pub static STACK: &[u8] = program!("stack");
pub static TIMES: &[u8] = program!("times");
pub static TRAPS: &[u8] = program!("traps");
pub static FPU: &[u8] = program!("fpu");
pub static FORK: &[u8] = program!("fork");
pub static EXEC: &[u8] = program!("exec");
pub static LIMITS: &[u8] = program!("limits");
pub static BENCH: &[u8] = program!("bench");
pub static SIGNALS: &[u8] = program!("signals");
pub static SWAPEE: &[u8] = program!("swapee");
pub static PARK: &[u8] = program!("park");
pub static UTHREADS: &[u8] = program!("uthreads");
pub static UBENCH: &[u8] = program!("ubench");
pub static USYNC: &[u8] = program!("usync");
pub static FUZZ: &[u8] = program!("fuzz");
pub static CREDS: &[u8] = program!("creds");
pub static PIPES: &[u8] = program!("pipes");
pub static PRIO: &[u8] = program!("prio");
pub static INIT: &[u8] = program!("init");
pub static MMAP: &[u8] = program!("mmap");
pub static RUSAGE: &[u8] = program!("rusage");
pub static RC: &[u8] = program!("rc");

/// What `exec` finds by name (`kern::exec::set_programs`): every program above,
/// and `badimage`, which is no program (an `exec` of it must fail with ENOEXEC).
pub static BY_NAME: &[(&str, &[u8])] = &[
    ("init", INIT),
    ("rc", RC),
    ("hello", HELLO),
    ("lwps", LWPS),
    ("suspend", SUSPEND),
    ("wait", WAIT),
    ("fault", FAULT),
    ("badptr", BADPTR),
    ("isolation", ISOLATION),
    ("stack", STACK),
    ("times", TIMES),
    ("traps", TRAPS),
    ("fpu", FPU),
    ("fork", FORK),
    ("exec", EXEC),
    ("limits", LIMITS),
    ("bench", BENCH),
    ("signals", SIGNALS),
    ("swapee", SWAPEE),
    ("park", PARK),
    ("uthreads", UTHREADS),
    ("ubench", UBENCH),
    ("usync", USYNC),
    ("fuzz", FUZZ),
    ("creds", CREDS),
    ("pipes", PIPES),
    ("prio", PRIO),
    ("mmap", MMAP),
    ("rusage", RUSAGE),
    ("badimage", b"\x7fELF, but nothing else an image needs"),
];
