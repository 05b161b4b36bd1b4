//! System calls (S16): their LWP id arguments, and the ABI structures they copy in
//! and out as 64-bit words (`kern::syscall`).

use kern::errno::Errno;
use kern::lwp::LwpId;
use kern::syscall::lwp_id;
use lwp_abi::{LwpContext, LwpTimes, Rusage, Timespec, RUSAGE_WORDS};

#[test]
fn lwp_ids_are_checked() {
    assert_eq!(lwp_id(0), Err(Errno::ESRCH));
    assert_eq!(lwp_id(1 << 32), Err(Errno::ESRCH));
    assert_eq!(lwp_id(7), Ok(LwpId(7)));
}

#[test]
fn abi_layouts_are_words() {
    assert_eq!(core::mem::size_of::<LwpContext>(), 3 * 8);
    assert_eq!(core::mem::size_of::<Timespec>(), 2 * 8);
    assert_eq!(core::mem::size_of::<LwpTimes>(), 7 * 8);
    // Solaris' 64-bit `struct rusage`: two timevals and fourteen longs.
    assert_eq!(core::mem::size_of::<Rusage>(), RUSAGE_WORDS * 8);
    assert_eq!(RUSAGE_WORDS, 2 * 2 + 14);
}
