//! The per-player chat limit: N `room.send` + `whisper` per minute, a budget of N that
//! refills evenly over the minute (the generic cell rate algorithm: one number per player,
//! the time at which the budget is full again).
//!
//! **Held by the connection, saved in Redis.** A player has one live session, so the
//! gateway holding it decides alone: spending a message costs no Redis command (a room
//! message is then exactly one `SPUBLISH`, a whisper one `SPUBLISH`). The number is saved
//! in the player's slot (`{p:<player>}:chat`) by the session scripts that run anyway:
//! every heartbeat's touch and the close (both keep the later of the stored and the held
//! value), and read when a session opens, so the budget follows the player to any gateway
//! and through reconnects: a connection saves as it closes, before its socket is dropped,
//! so a player who reconnects after the previous connection closed finds the budget as
//! it was. A connection that replaces one still open (or still closing) opens with what
//! was saved before, and takes in what the replaced one saves as it closes a moment
//! later (one touch 250 ms after the open; the next heartbeat at the latest): in that
//! window the player can spend again what the old connection spent since its last save,
//! at most one burst per reconnect. A gateway that dies loses the spending since its
//! last heartbeat.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The chat limit's settings, shared by every connection of a gateway.
#[derive(Debug, Clone, Copy)]
pub struct ChatLimit {
    per_window: u32,
    window: Duration,
}

impl ChatLimit {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_window: per_minute.max(1),
            window: core_keys::ttl::CHAT_RATE_WINDOW,
        }
    }

    pub fn per_window(&self) -> u32 {
        self.per_window
    }

    /// How long one message takes to refill, in µs.
    fn interval_us(&self) -> u64 {
        (self.window.as_micros() / u128::from(self.per_window)).max(1) as u64
    }

    fn window_us(&self) -> u64 {
        self.window.as_micros() as u64
    }
}

/// One player's budget, held by their connection: when it is full again, in µs since the
/// Unix epoch (0: full). The connection's reader spends it; the heartbeat and the close
/// save it and merge what Redis holds. Cheap to clone (one pointer).
#[derive(Debug, Clone, Default)]
pub struct ChatBudget {
    full_at_us: Arc<AtomicU64>,
}

impl ChatBudget {
    /// A budget starting from what Redis held (`full_at_ms`, 0 if nothing).
    pub fn from_saved(full_at_ms: u64) -> Self {
        let budget = Self::default();
        budget.merge_saved(full_at_ms);
        budget
    }

    /// Spends one message at `now_us`: `None` if allowed, else how long until one may go.
    pub fn spend(&self, limit: ChatLimit, now_us: u64) -> Option<Duration> {
        let full_at = self.full_at_us.load(Ordering::Relaxed).max(now_us);
        let spent = full_at + limit.interval_us();
        let allowed_from = spent.saturating_sub(limit.window_us());
        if allowed_from > now_us {
            return Some(Duration::from_micros(allowed_from - now_us));
        }
        // Only the connection's reader spends; a concurrent merge keeps the later time.
        self.full_at_us.fetch_max(spent, Ordering::Relaxed);
        None
    }

    /// The value to save, in ms since the epoch (rounded up, so a save never gives a
    /// fraction of a message back).
    pub fn to_save_ms(&self) -> u64 {
        self.full_at_us.load(Ordering::Relaxed).div_ceil(1000)
    }

    /// Takes in what Redis holds (saved by another connection of the player), keeping
    /// the later time.
    pub fn merge_saved(&self, full_at_ms: u64) {
        self.full_at_us
            .fetch_max(full_at_ms.saturating_mul(1000), Ordering::Relaxed);
    }
}

/// Now, in µs since the Unix epoch.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_n_then_one_per_interval() {
        let limit = ChatLimit::new(6); // one message every 10 s
        let budget = ChatBudget::default();
        let t0 = 1_000_000_000_000;
        for n in 0..6 {
            assert_eq!(budget.spend(limit, t0), None, "message {n} of the burst");
        }
        let wait = budget.spend(limit, t0).expect("the seventh waits");
        assert_eq!(wait, Duration::from_secs(10));
        // A refused message spends nothing: the wait stays the same.
        assert_eq!(budget.spend(limit, t0), Some(Duration::from_secs(10)));
        assert_eq!(budget.spend(limit, t0 + 10_000_000), None);
        assert!(budget.spend(limit, t0 + 10_000_000).is_some());
        // A minute of silence refills it all.
        let later = t0 + 10_000_000 + 60_000_000;
        for _ in 0..6 {
            assert_eq!(budget.spend(limit, later), None);
        }
    }

    #[test]
    fn saving_and_merging_keep_the_later_time() {
        let limit = ChatLimit::new(6);
        let t0 = 1_000_000_000_000;
        let first = ChatBudget::default();
        for _ in 0..4 {
            assert_eq!(first.spend(limit, t0), None);
        }
        let saved = first.to_save_ms();
        assert_eq!(saved, (t0 + 40_000_000) / 1000);
        // A new connection starts from what was saved: two more, then a wait.
        let second = ChatBudget::from_saved(saved);
        assert_eq!(second.spend(limit, t0), None);
        assert_eq!(second.spend(limit, t0), None);
        assert!(second.spend(limit, t0).is_some());
        // An older saved value does not give anything back.
        second.merge_saved(saved);
        assert!(second.spend(limit, t0).is_some());
    }
}

/// Until when the studio's backend muted the player (server API), held by their
/// connection: read when the session opens (`{p:<player>}:mute`), changed by a `mute`
/// event on the player's inbox. Checking it costs no Redis command. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Mute {
    until_ms: Arc<AtomicU64>,
}

impl Mute {
    /// Muted until `until_ms` (ms since the epoch; 0 lifts it).
    pub fn set(&self, until_ms: u64) {
        self.until_ms.store(until_ms, Ordering::Relaxed);
    }

    /// Until when the player is muted, if they still are at `now_ms`.
    pub fn active(&self, now_ms: u64) -> Option<u64> {
        let until = self.until_ms.load(Ordering::Relaxed);
        (until > now_ms).then_some(until)
    }
}
