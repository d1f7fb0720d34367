//! Cluster slots: which of the 16384 hash slots a key lands on, and which shard owns it.
//!
//! The slot function is Redis's own CRC16 rule (hash tags honoured), as implemented by
//! `redis-protocol` and re-exported by fred; the shard arithmetic mirrors how
//! `redis-cli --cluster create` splits the slots between masters, so tests can check that
//! keys spread evenly over a freshly created cluster.

use std::ops::RangeInclusive;

/// Number of hash slots in a Redis Cluster.
pub const SLOT_COUNT: u16 = 16384;

/// The hash slot of `key` (honours `{hash tags}`).
pub fn slot_of(key: &str) -> u16 {
    fred::util::redis_keyslot(key.as_bytes())
}

/// The slot ranges `redis-cli --cluster create` gives `masters` masters, in order.
/// For 3 masters: `0..=5460`, `5461..=10922`, `10923..=16383`.
pub fn even_slot_ranges(masters: u16) -> Vec<RangeInclusive<u16>> {
    let masters = masters.max(1);
    let per_master = f64::from(SLOT_COUNT) / f64::from(masters);
    let mut ranges = Vec::with_capacity(usize::from(masters));
    let mut first: u16 = 0;
    let mut cursor = 0.0_f64;
    for i in 0..masters {
        let mut last = (cursor + per_master - 1.0).round();
        if last > f64::from(SLOT_COUNT - 1) || i == masters - 1 {
            last = f64::from(SLOT_COUNT - 1);
        }
        // `last` is within 0..=16383 here, so the conversion cannot truncate.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let last = last as u16;
        ranges.push(first..=last);
        first = last.saturating_add(1);
        cursor += per_master;
    }
    ranges
}

/// Which of `masters` evenly split shards owns `slot` (index into [`even_slot_ranges`]).
pub fn shard_of(slot: u16, masters: u16) -> usize {
    even_slot_ranges(masters)
        .iter()
        .position(|range| range.contains(&slot))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_slots_match_redis() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.0.
        assert_eq!(slot_of("foo"), 12182);
        assert_eq!(
            slot_of("{user1000}.following"),
            slot_of("{user1000}.followers")
        );
        assert_eq!(slot_of("{user1000}.following"), slot_of("user1000"));
        // An empty tag hashes the whole key.
        assert_eq!(slot_of("foo{}{bar}"), 8363);
    }

    #[test]
    fn three_master_ranges_match_redis_cli() {
        assert_eq!(
            even_slot_ranges(3),
            vec![0..=5460, 5461..=10922, 10923..=16383]
        );
        assert_eq!(shard_of(0, 3), 0);
        assert_eq!(shard_of(5461, 3), 1);
        assert_eq!(shard_of(16383, 3), 2);
    }
}
