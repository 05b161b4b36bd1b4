//! The fuzzer's randomness: SplitMix64, a small generator whose every output is a
//! function of its seed, so that a run's choices replay from the seed it printed.

/// A SplitMix64 generator (Steele, Lea, Flood: "Fast splittable pseudorandom number
/// generators", 2014).
#[derive(Debug, Clone)]
pub struct Rng(u64);

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

impl Rng {
    /// The generator of stream `stream` of seed `seed`: each LWP of a run draws from
    /// a stream of its own, so that its choices do not depend on the others'.
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(GOLDEN).rotate_left(17));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0), without the bias of a remainder.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True `num` times in `den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// One of `items` (not empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// One of `items` by weight: each is `(weight, item)`, weights not all zero.
    pub fn weighted<T: Copy>(&mut self, items: &[(u32, T)]) -> T {
        let total: u64 = items.iter().map(|&(w, _)| u64::from(w)).sum();
        let mut at = self.below(total);
        for &(w, item) in items {
            if at < u64::from(w) {
                return item;
            }
            at -= u64::from(w);
        }
        items[items.len() - 1].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_and_streams_differ() {
        let draw = |seed, stream| {
            let mut r = Rng::new(seed, stream);
            core::array::from_fn::<u64, 8, _>(|_| r.next_u64())
        };
        assert_eq!(draw(7, 0), draw(7, 0));
        assert_ne!(draw(7, 0), draw(7, 1));
        assert_ne!(draw(7, 0), draw(8, 0));
    }

    #[test]
    fn below_and_weighted_stay_in_range_and_reach_every_value() {
        let mut r = Rng::new(1, 0);
        let mut seen = [0u32; 5];
        for _ in 0..5000 {
            let v = r.below(5);
            assert!(v < 5);
            seen[v as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
        let mut hits = [0u32; 3];
        for _ in 0..4000 {
            hits[r.weighted(&[(1, 0usize), (0, 1), (3, 2)])] += 1;
        }
        assert_eq!(hits[1], 0, "a weight of 0 is never drawn");
        assert!(hits[2] > 2 * hits[0], "{hits:?}");
    }
}
