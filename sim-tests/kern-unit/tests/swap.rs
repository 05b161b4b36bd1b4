//! Swapping (S5): the image of an `lwp` structure on the swap device
//! (`kern::swap::image`), which comes back whole, and is refused when it is not
//! the one expected.

use arch::{UserFrame, UserRegs};
use kern::errno::Errno;
use kern::lwp::{
    Eosys, ITimerVal, Link, LwpData, LwpRusage, LwpUsage, SigAltStack, SwapRef, NITIMER,
};
use kern::proc::PROC0;
use kern::signal::{SigInfo, SigSet};
use kern::swap::image::{checksum, decode, encode, Encoded, Owner, Refused, HEADER, IMAGE_MAX};
use kern::thread::KThread;

fn thread() -> &'static KThread {
    Box::leak(Box::new(KThread::boot("swapped")))
}

/// A structure with a value of its own in every field.
fn sample(t: &'static KThread) -> Box<LwpData> {
    let mut regs = UserRegs::for_entry(0x10_0000, 0x7fff_0000, 3);
    regs.r[arch::reg::G1 + 3] = 0x1234_5678_9abc_def0;
    let mut lwp_itimer = [ITimerVal::default(); NITIMER];
    lwp_itimer[1] = ITimerVal { it_interval: 5, it_value: 6 };
    Box::new(LwpData {
        lwp_regs: UserFrame::try_new(&regs).expect("memory"),
        lwp_sysnum: 202,
        lwp_arg: [1, 2, 3, 4, 5, 6, 7, 8],
        lwp_rval: [9, 10],
        lwp_errno: Some(Errno::EINTR),
        lwp_eosys: Eosys::JustReturn,
        lwp_sigaltstack: SigAltStack { ss_sp: 0x7000, ss_size: 8192, ss_flags: 2 },
        lwp_cursig: 11,
        lwp_curinfo: Some(SigInfo {
            si_signo: 11,
            si_code: 2,
            si_errno: 0,
            si_pid: 7,
            si_addr: 0xdead,
            si_value: 0x5151,
        }),
        lwp_sigoldmask: Some(SigSet::from_words([0x8000_0001, 2, 0, 0x10])),
        lwp_ru: LwpRusage { nvcsw: 17, ..LwpRusage::default() },
        lwp_oweupc: 3,
        lwp_itimer,
        lwp_utime: 40,
        lwp_stime: 41,
        lwp_thread: Link(t),
        lwp_procp: Link(&PROC0),
    })
}

fn swap_ref(e: &Encoded, seq: u64) -> SwapRef {
    SwapRef { slot: 0, seq, len: e.len, sum: e.sum, attached: false, usage: LwpUsage::default() }
}

#[test]
fn a_structure_comes_back_whole_with_new_links() {
    let (t, u) = (thread(), thread());
    let mut d = sample(t);
    let owner = Owner { tid: 7, lwpid: 2 };
    let mut buf = vec![0u8; IMAGE_MAX];
    let e = encode(&mut d, owner, 5, &mut buf).expect("an unshared frame");
    let back = decode(&buf, &swap_ref(&e, 5), owner, u, &PROC0).expect("a good image");
    assert_eq!(LwpData { lwp_thread: Link(t), ..(*back).clone() }, *d);
    assert!(core::ptr::eq(back.lwp_thread.0, u), "the link is made anew");
    assert!(!back.lwp_regs.same(&d.lwp_regs), "new registers");
}

#[test]
fn a_damaged_stale_or_foreign_image_is_refused() {
    let t = thread();
    let mut d = sample(t);
    let owner = Owner { tid: 7, lwpid: 2 };
    let mut buf = vec![0u8; IMAGE_MAX];
    let e = encode(&mut d, owner, 5, &mut buf).expect("an unshared frame");
    let r = swap_ref(&e, 5);
    let refused = |img: &[u8], r: &SwapRef, o: Owner| decode(img, r, o, t, &PROC0).err();
    // A changed byte anywhere in the payload (a torn or damaged slot).
    for at in [HEADER, HEADER + 100, e.len as usize - 1] {
        let mut bad = buf.clone();
        bad[at] ^= 1;
        assert_eq!(refused(&bad, &r, owner), Some(Refused::Damaged), "byte {at}");
    }
    // Another swap-out's image (a stale slot), another LWP's, no image at all.
    assert_eq!(refused(&buf, &swap_ref(&e, 6), owner), Some(Refused::Stale));
    assert_eq!(refused(&buf, &r, Owner { tid: 8, ..owner }), Some(Refused::Stale));
    assert_eq!(refused(&vec![0u8; IMAGE_MAX], &r, owner), Some(Refused::Stale));
    assert_eq!(refused(&buf[..20], &r, owner), Some(Refused::Malformed));
    // The registers shared with the machine cannot be written out.
    let machine = d.lwp_regs.share();
    assert!(encode(&mut d, owner, 6, &mut buf).is_none());
    drop(machine);
}

#[test]
fn the_checksum_sees_one_bit() {
    let a = [7u8; 64];
    let mut b = a;
    b[33] ^= 0x10;
    assert_ne!(checksum(&a), checksum(&b));
}
