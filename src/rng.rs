//! One small random number generator (splitmix64) for the whole crate.
//!
//! Why one and why this one: the chaos workload must make the same choices for the same seed (a
//! recorded failing run can be replayed), the WAL's simulated disk must cut and tear the same
//! bytes for the same seed, the load generator's key choice must be repeatable, and the client's
//! retry jitter only needs numbers that differ between processes. None of them needs
//! cryptographic quality, and splitmix64 is a few lines, fast, passes BigCrush, and has no
//! dependency; four hand-copied versions of it had drifted apart in small ways (one `below`
//! guarded against 0, one did not), so they live here once.
//!
//! A sequence depends only on the seed: [`Rng::new`] with the same seed gives the same numbers
//! on every platform and in every release, which the chaos workload's replays rely on. Changing
//! the algorithm changes every recorded seed's meaning; don't.

use std::hash::{BuildHasher, Hasher};

/// A splitmix64 generator: deterministic for a seed, not for secrets.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose sequence is fixed by `seed`.
    pub const fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A generator seeded differently in every process and thread (the standard library's random
    /// hasher keys mixed with the time), for jitter that must not line up across clients.
    pub fn from_entropy() -> Rng {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        Rng(h.finish())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; 0 when `n` is 0. (The modulo's bias is below 2^-40 for the small `n`
    /// used here.)
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A number in `[0, 1)`, from the top 53 bits (every value is an exact `f64`).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published splitmix64 sequence for seed 0 (Vigna's reference implementation), so a
    /// change to the algorithm, which would change every recorded chaos seed's meaning, fails here.
    #[test]
    fn the_sequence_is_splitmix64() {
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(r.next_u64(), 0x06c4_5d18_8009_454f);
    }

    #[test]
    fn a_seed_fixes_the_sequence() {
        let (mut a, mut b, mut c) = (Rng::new(42), Rng::new(42), Rng::new(43));
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..100).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn ranges_hold_and_are_covered() {
        let mut r = Rng::new(7);
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            let n = r.below(10);
            assert!(n < 10);
            seen[n as usize] += 1;
        }
        // Each of the ten values comes up near 1,000 times.
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
        assert_eq!(r.below(0), 0);
        assert_eq!(r.below(1), 0);
        let units: Vec<f64> = (0..10_000).map(|_| r.unit()).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        let mean = units.iter().sum::<f64>() / units.len() as f64;
        assert!((0.45..0.55).contains(&mean), "{mean}");
        let hits = (0..10_000).filter(|_| r.chance(30)).count();
        assert!((2_700..3_300).contains(&hits), "{hits}");
        assert!(!(0..1000).any(|_| r.chance(0)));
        assert!((0..1000).all(|_| r.chance(100)));
    }

    #[test]
    fn entropy_seeds_differ() {
        // Two generators made one after the other get different random hasher keys.
        assert_ne!(Rng::from_entropy().next_u64(), Rng::from_entropy().next_u64());
    }
}
