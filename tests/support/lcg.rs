//! A tiny deterministic generator for the resume tests' random reconnect points, so a failure can
//! be replayed from its seed.

pub struct Lcg(pub u64);

impl Lcg {
    /// The next value in `0..n`.
    pub fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}
