//! Resource usage and profiling (S5.4, `kern::rusage`): where a profiled `pc`
//! counts, the `struct rusage` words `getrusage` copies out, and the sums of
//! usage an exited LWP and a reaped child add to their process and parent.

use kern::lwp::{LwpRusage, LwpUsage};
use kern::rusage::{rusage_words, Prof};

fn prof(scale: u32) -> Prof {
    Prof { pr_base: 0x20_0000, pr_size: 0x1000, pr_off: 0x10_0000, pr_scale: scale }
}

#[test]
fn a_pc_counts_where_profil_says() {
    // 0x10000: one counter per 2 bytes of text, as profil(2) has it.
    let p = prof(0x10000);
    assert_eq!(p.slot(0x10_0000), Some(0x20_0000));
    assert_eq!(p.slot(0x10_0001), Some(0x20_0000));
    assert_eq!(p.slot(0x10_0002), Some(0x20_0002));
    assert_eq!(p.slot(0x10_0ffe), Some(0x20_0ffe));
    // Below the offset, or past the buffer's end: nowhere.
    assert_eq!(p.slot(0xf_fffe), None);
    assert_eq!(p.slot(0x10_1000), None);
    // 0x8000: a counter per 4 bytes (an instruction); 0x4000: per 8.
    assert_eq!(prof(0x8000).slot(0x10_0004), Some(0x20_0002));
    assert_eq!(prof(0x8000).slot(0x10_0006), Some(0x20_0002));
    assert_eq!(prof(0x4000).slot(0x10_0010), Some(0x20_0004));
    assert_eq!(prof(0x4000).slot(0x10_0017), Some(0x20_0004));
    // 2: every tick in the first counter, wherever it is.
    assert_eq!(prof(2).slot(0x10_0000), Some(0x20_0000));
    assert_eq!(prof(2).slot(0x7fff_0000), Some(0x20_0000));
    // 0 (and 1, which `profil` makes 0): not profiling.
    assert_eq!(prof(0).slot(0x10_0000), None);
    // A `pc` far above the offset does not overflow the product.
    let wide = Prof { pr_size: u64::MAX, ..prof(0xffff_ffff) };
    assert_eq!(
        wide.slot(0x10_0000 + (1 << 40)),
        Some(0x20_0000 + (((1u64 << 40) / 0x10000 * 0xffff_ffff) & !1))
    );
}

#[test]
fn rusage_words_are_timevals_then_counts() {
    let u = LwpUsage {
        utime: 250,
        stime: 7,
        sysc: 99,
        ru: LwpRusage {
            minflt: 1,
            majflt: 2,
            nswap: 3,
            inblock: 4,
            oublock: 5,
            msgsnd: 6,
            msgrcv: 7,
            nsignals: 8,
            nvcsw: 9,
            nivcsw: 10,
            ioch: 11,
        },
    };
    // 250 ticks at 100 Hz: 2.5 s; 7 ticks: 0.07 s.
    let w = rusage_words(&u, 100);
    assert_eq!(w, [2, 500_000, 0, 70_000, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert_eq!(rusage_words(&u, 1000)[..4], [0, 250_000, 0, 7000]);
}

#[test]
fn usage_adds_up() {
    let one = LwpUsage {
        utime: 1,
        stime: 2,
        sysc: 3,
        ru: LwpRusage { nvcsw: 4, nivcsw: 5, ioch: 6, nswap: 7, ..LwpRusage::default() },
    };
    let mut sum = LwpUsage::ZERO;
    sum.add(&one);
    sum.add(&one);
    assert_eq!(
        sum,
        LwpUsage {
            utime: 2,
            stime: 4,
            sysc: 6,
            ru: LwpRusage { nvcsw: 8, nivcsw: 10, ioch: 12, nswap: 14, ..LwpRusage::default() },
        }
    );
}
