//! A CPU's dispatch queue (Solaris' `disp_t`): one FIFO list of runnable threads
//! per global priority and a bitmap of the non-empty lists, so that the best
//! runnable thread is found in a scan of three words whatever the number of
//! threads. The dispatcher (`disp`) owns the queues, one per CPU (`Cpu::cpu_disp`),
//! and changes them only under the CPU's dispatcher lock; this module only keeps a
//! queue's lists, bitmap and counts consistent (S6: resident).

use core::sync::atomic::Ordering;

use crate::class::NPRI;
use crate::thread::{KThread, ThreadState};

/// A CPU's dispatch queue. Public so that it can be measured and tested on its own
/// (the benchmarks and the unit tests fill one with thread structures that never
/// run); the dispatcher's queues are the CPUs' (`Cpu::cpu_disp`).
pub struct DispQ {
    /// Bit `p` set: the list of priority `p` is not empty.
    bitmap: [u64; NPRI.div_ceil(64)],
    head: [Option<&'static KThread>; NPRI],
    tail: [Option<&'static KThread>; NPRI],
    nrun: usize,
    /// The highest priority with a thread queued, -1 if none (Solaris'
    /// `disp_maxrunpri`): kept as threads come and go, the bitmap scanned only when
    /// the highest list empties.
    max: i16,
}

impl DispQ {
    /// An empty queue.
    pub const fn new() -> DispQ {
        DispQ {
            bitmap: [0; NPRI.div_ceil(64)],
            head: [None; NPRI],
            tail: [None; NPRI],
            nrun: 0,
            max: -1,
        }
    }

    /// The highest priority with a thread queued.
    #[inline(always)]
    pub fn maxpri(&self) -> Option<u8> {
        u8::try_from(self.max).ok()
    }

    /// The highest priority with a thread queued, if it is `floor` (at least 0) or
    /// higher: one comparison (an empty queue's `max`, -1, is below every floor).
    #[inline(always)]
    pub fn maxpri_from(&self, floor: i16) -> Option<u8> {
        debug_assert!(floor >= 0, "a floor below every priority");
        (self.max >= floor).then_some(self.max as u8)
    }

    /// The highest priority with a thread queued, from the whole bitmap: what `check`
    /// holds the kept one against.
    fn scan_maxpri(&self) -> i16 {
        self.bitmap
            .iter()
            .enumerate()
            .rev()
            .find(|(_, w)| **w != 0)
            .map_or(-1, |(i, &w)| (i * 64 + highest_bit(w)) as i16)
    }

    /// Queues `t` at its priority: at the back of that priority's list, or at the
    /// front if `front` (a preempted thread). Panics if `t` is on a queue already.
    /// Inlined: a call costs a register window on the dispatcher's paths.
    #[inline(always)]
    pub fn push(&mut self, t: &'static KThread, front: bool) {
        let pri = t.pri() as usize;
        // Queues change only under their locks, which order these flags too.
        let link = t.link();
        assert!(!link.mark_queued(), "{t:?} is already on a queue");
        t.disp_state().set_qpri(pri as u8);
        match (front, self.head[pri]) {
            (_, None) => {
                link.set_next_locked(None);
                self.head[pri] = Some(t);
                self.tail[pri] = Some(t);
            }
            (true, Some(h)) => {
                link.set_next_locked(Some(h));
                self.head[pri] = Some(t);
            }
            (false, Some(_)) => {
                link.set_next_locked(None);
                self.tail[pri].expect("tail of a non-empty list").link().set_next_locked(Some(t));
                self.tail[pri] = Some(t);
            }
        }
        self.bitmap[pri / 64] |= 1 << (pri % 64);
        self.max = self.max.max(pri as i16);
        self.nrun += 1;
    }

    /// Unlinks `t`, which follows `prev` (or heads the list) at priority `pri`.
    /// Inlined: a pick (`take_first`) is this with `prev` = `None`.
    #[inline(always)]
    fn unlink(&mut self, pri: usize, prev: Option<&'static KThread>, t: &'static KThread) {
        let next = t.link().next_locked();
        match prev {
            None => self.head[pri] = next,
            Some(p) => p.link().set_next_locked(next),
        }
        if next.is_none() {
            self.tail[pri] = prev;
        }
        self.nrun -= 1;
        if self.head[pri].is_none() {
            if self.nrun == 0 {
                // The queue is empty (the common case of one runnable thread): its
                // one set bit is this list's, and there is no highest priority.
                self.bitmap[pri / 64] = 0;
                self.max = -1;
            } else {
                self.bitmap[pri / 64] &= !(1 << (pri % 64));
                if pri as i16 == self.max {
                    self.max = self.scan_below(pri);
                }
            }
        }
        t.link().set_next_locked(None);
        t.link().set_queued(false, Ordering::Relaxed);
    }

    /// The highest priority with a thread queued once the list of `pri`, the
    /// highest, has emptied and others have not: most often in `pri`'s own bitmap
    /// word, so that the pick costs about the same whatever the number queued.
    #[inline(always)]
    fn scan_below(&self, pri: usize) -> i16 {
        let word = pri / 64;
        let below = self.bitmap[word] & ((1 << (pri % 64)) - 1);
        if below != 0 {
            return (word * 64 + highest_bit(below)) as i16;
        }
        self.scan_words_below(word)
    }

    /// The highest priority with a thread queued in the bitmap's words below `word`.
    #[inline(never)]
    fn scan_words_below(&self, word: usize) -> i16 {
        self.bitmap[..word]
            .iter()
            .rposition(|&w| w != 0)
            .map_or(-1, |i| (i * 64 + highest_bit(self.bitmap[i])) as i16)
    }

    /// Puts `t` at the back of the list of priority `pri`, its own, which holds
    /// other threads, and takes that list's first thread: a yield's requeue and
    /// pick in one step, as a [`DispQ::push`] then a [`DispQ::take_first`] would
    /// make them. The bitmap, the highest priority and the count stay as they are.
    #[inline]
    pub(crate) fn rotate(&mut self, t: &'static KThread, pri: u8) -> &'static KThread {
        debug_assert_eq!(t.pri(), pri, "{t:?} rotated into a list not its own");
        let pri = usize::from(pri);
        let first = self.head[pri].expect("rotate into an empty list");
        let link = t.link();
        // The thread that yields runs: it is on no queue (`check` finds any that is).
        debug_assert!(!link.is_queued(Ordering::Relaxed), "{t:?} is already on a queue");
        link.set_queued(true, Ordering::Relaxed);
        link.set_next_locked(None);
        t.disp_state().set_qpri(pri as u8);
        let out = first.link();
        match out.next_locked() {
            // `first` was alone: `t` is now.
            None => self.head[pri] = Some(t),
            Some(second) => {
                self.head[pri] = Some(second);
                self.tail[pri].expect("tail of a non-empty list").link().set_next_locked(Some(t));
            }
        }
        self.tail[pri] = Some(t);
        out.set_next_locked(None);
        out.set_queued(false, Ordering::Relaxed);
        first
    }

    /// Takes the first thread, from the highest priority down, that `want` accepts.
    pub fn take(&mut self, want: impl Fn(&KThread) -> bool) -> Option<&'static KThread> {
        for pri in (0..NPRI).rev() {
            if self.bitmap[pri / 64] & (1 << (pri % 64)) == 0 {
                continue;
            }
            let (mut prev, mut cur) = (None, self.head[pri]);
            while let Some(t) = cur {
                if want(t) {
                    self.unlink(pri, prev, t);
                    return Some(t);
                }
                prev = Some(t);
                cur = t.link().next_locked();
            }
        }
        None
    }

    /// Takes the first thread of the highest priority.
    pub fn take_best(&mut self) -> Option<&'static KThread> {
        self.maxpri().map(|p| self.take_first(p))
    }

    /// Takes the first thread of priority `pri`, which `maxpri` found non-empty.
    #[inline]
    pub(crate) fn take_first(&mut self, pri: u8) -> &'static KThread {
        let pri = usize::from(pri);
        let t = self.head[pri].expect("bitmap says non-empty");
        self.unlink(pri, None, t);
        t
    }

    /// How many threads are queued.
    #[inline]
    pub fn len(&self) -> usize {
        self.nrun
    }

    /// Whether no thread is queued.
    pub fn is_empty(&self) -> bool {
        self.nrun == 0
    }

    /// The queued threads, highest priority first, in the order they will run.
    pub fn iter(&self) -> impl Iterator<Item = &'static KThread> + '_ {
        (0..NPRI)
            .rev()
            .flat_map(|p| core::iter::successors(self.head[p], |t| t.link().next_locked()))
    }

    /// Removes `t` if it is queued here.
    pub fn remove(&mut self, t: &'static KThread) -> bool {
        let pri = usize::from(t.disp_state().qpri());
        let (mut prev, mut cur) = (None, self.head[pri]);
        while let Some(c) = cur {
            if core::ptr::eq(c, t) {
                self.unlink(pri, prev, t);
                return true;
            }
            prev = Some(c);
            cur = c.link().next_locked();
        }
        false
    }

    /// Checks the queue against itself: every thread queued at the priority it
    /// was queued with, `Run`, marked queued, and on its bound CPU's queue if
    /// bound (to `cpu_id`); the bitmap, the highest priority and the count agree
    /// with the lists. For tests (`disp::check_invariants`).
    pub(crate) fn check(&self, cpu_id: usize) -> Result<(), alloc::string::String> {
        let mut n = 0;
        for pri in 0..NPRI {
            let mut cur = self.head[pri];
            while let Some(t) = cur {
                n += 1;
                if usize::from(t.disp_state().qpri()) != pri
                    || t.state() != ThreadState::Run
                    || !t.link().is_queued(Ordering::Relaxed)
                {
                    return Err(alloc::format!("{t:?} at priority {pri} is queued wrongly"));
                }
                if let Some(b) = t.bound_cpu().filter(|&b| b != cpu_id) {
                    return Err(alloc::format!("{t:?} bound to cpu {b} waits here"));
                }
                cur = t.link().next_locked();
            }
            if (self.bitmap[pri / 64] >> (pri % 64)) & 1 != u64::from(self.head[pri].is_some()) {
                return Err(alloc::format!("bitmap wrong at priority {pri}"));
            }
        }
        if self.max != self.scan_maxpri() {
            return Err(alloc::format!(
                "highest priority {} recorded, {} queued",
                self.max,
                self.scan_maxpri()
            ));
        }
        if n != self.nrun {
            return Err(alloc::format!("{n} threads queued, count says {}", self.nrun));
        }
        Ok(())
    }
}

impl Default for DispQ {
    fn default() -> Self {
        Self::new()
    }
}

/// The number of the highest bit set in `w`, which is not 0: the byte by a binary
/// search in three steps, the bit in it from a table. SPARC V9 has no
/// count-leading-zeros instruction, and `leading_zeros` would be a call to a
/// library routine on every switch.
#[inline(always)]
fn highest_bit(mut w: u64) -> usize {
    let mut n = 0;
    for shift in [32, 16, 8] {
        if w >> shift != 0 {
            w >>= shift;
            n += shift;
        }
    }
    // (The mask changes nothing, `w` < 256 now: it spares the index check.)
    n + usize::from(HIGHEST_BIT_OF_BYTE[(w & 0xff) as usize])
}

/// `HIGHEST_BIT_OF_BYTE[b]`: the number of the highest bit set in `b` (0 for 0).
const HIGHEST_BIT_OF_BYTE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 2;
    while b < 256 {
        t[b] = t[b / 2] + 1;
        b += 1;
    }
    t
};
