//! Maps keyed by small integers that no peer chooses (channel ids, listener ids, pids, poll
//! tokens): one multiply instead of SipHash, whose resistance to chosen keys buys nothing
//! here, and which showed up in the per-message profile.
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// 2^64 / φ: a multiply by it spreads consecutive ids over the high bits (hashbrown's tag)
/// and keeps the low bits (its bucket index) distinct.
const K: u64 = 0x9E37_79B9_7F4A_7C15;

#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(n.into());
    }

    fn write_i32(&mut self, n: i32) {
        self.write_u64(u64::from(n as u32));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(K);
    }
}

pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_ids_land_in_distinct_buckets() {
        let hash = |n: u32| {
            let mut h = IdHasher::default();
            h.write_u32(n);
            h.finish()
        };
        let mut low: Vec<u64> = (0..1024).map(|n| hash(n) & 1023).collect();
        low.sort_unstable();
        low.dedup();
        assert_eq!(low.len(), 1024);
        let map: IdMap<u32, u32> = (0..100).map(|n| (n, n * 2)).collect();
        assert!((0..100).all(|n| map[&n] == n * 2));
    }
}
