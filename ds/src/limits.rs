//! Per-client rate limits (token buckets), bounded in memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Most clients tracked at once by one limiter; beyond this, full (idle) buckets are dropped and,
/// if still full, the limiter refuses new clients until some refill (fail closed).
const MAX_TRACKED: usize = 100_000;

/// A token bucket per key: `per_min` requests a minute, bursts up to `burst`.
pub struct RateLimiter {
    per_min: u32,
    burst: u32,
    map: Mutex<HashMap<Vec<u8>, (f64, Instant)>>,
}

impl RateLimiter {
    /// `per_min` = 0 disables the limit.
    pub fn new(per_min: u32, burst: u32) -> Self {
        Self { per_min, burst: burst.max(1), map: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `key`; `Err(seconds to wait)` if none is left.
    pub fn check(&self, key: &[u8]) -> Result<(), u64> {
        if self.per_min == 0 {
            return Ok(());
        }
        let rate = f64::from(self.per_min) / 60.0;
        let burst = f64::from(self.burst);
        let now = Instant::now();
        let mut m = match self.map.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if m.len() >= MAX_TRACKED && !m.contains_key(key) {
            m.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * rate < burst);
            if m.len() >= MAX_TRACKED {
                return Err(60);
            }
        }
        let (tokens, at) = m.entry(key.to_vec()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_next_waits_and_other_keys_are_independent() {
        let l = RateLimiter::new(60, 3);
        for _ in 0..3 {
            assert!(l.check(b"a").is_ok());
        }
        let wait = l.check(b"a").unwrap_err();
        assert!((1..=2).contains(&wait), "{wait}");
        assert!(l.check(b"b").is_ok());
        assert!(RateLimiter::new(0, 1).check(b"a").is_ok());
    }
}
