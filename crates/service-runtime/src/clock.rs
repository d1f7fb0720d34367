//! The one wall clock every service reads: milliseconds since the Unix epoch, the unit
//! every time in Redis (scores, deadlines, `*_ms` fields) is written in.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 on a clock set before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
