//! The connections this gateway instance holds, by local number and by player.
//!
//! The heartbeat walks it to refresh sessions, the drain walks it to tell every client to
//! reconnect, and a second connection of the same player on this gateway finds the first
//! here to kick it. A std mutex: every use is a short, await-free critical section.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use proto::PlayerId;

use crate::chat::ChatBudget;
use crate::outbound::Outbound;

/// One local connection.
#[derive(Debug, Clone)]
pub struct LocalConn {
    pub local_id: u64,
    pub player: PlayerId,
    /// The connection id (also the session id) as stored in Redis.
    pub conn: String,
    pub outbound: Outbound,
    /// The player's chat budget, spent by the connection and saved by the heartbeat.
    pub chat: ChatBudget,
    /// Until when the studio's backend muted the player.
    pub mute: crate::chat::Mute,
    /// Who the player blocked: their whispers are not delivered.
    pub blocks: crate::blocks::BlockList,
    /// What the heartbeat's refresh of this connection may leave out.
    pub refresh: crate::session::RefreshHints,
}

#[derive(Debug, Default)]
struct Table {
    by_id: HashMap<u64, LocalConn>,
    by_player: HashMap<PlayerId, u64>,
}

/// The local connection table.
#[derive(Debug, Default)]
pub struct Hub {
    table: Mutex<Table>,
}

impl Hub {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a connection; returns the player's previous local connection, if any, which
    /// the caller kicks.
    pub fn register(&self, conn: LocalConn) -> Option<LocalConn> {
        let mut table = self.table();
        let previous = table
            .by_player
            .insert(conn.player.clone(), conn.local_id)
            .and_then(|old| table.by_id.get(&old).cloned());
        table.by_id.insert(conn.local_id, conn);
        metrics::gauge!("rallypoint_gateway_connections").set(table.by_id.len() as f64);
        previous
    }

    /// Removes a connection (and its player's entry, if it still points at it).
    pub fn deregister(&self, local_id: u64) {
        let mut table = self.table();
        if let Some(conn) = table.by_id.remove(&local_id)
            && table.by_player.get(&conn.player) == Some(&local_id)
        {
            table.by_player.remove(&conn.player);
        }
        metrics::gauge!("rallypoint_gateway_connections").set(table.by_id.len() as f64);
    }

    /// Every local connection, copied out so no lock is held while using them.
    pub fn snapshot(&self) -> Vec<LocalConn> {
        self.table().by_id.values().cloned().collect()
    }

    /// Whether connection `local_id` is still registered (not yet closed).
    pub fn is_open(&self, local_id: u64) -> bool {
        self.table().by_id.contains_key(&local_id)
    }

    /// The number of local connections.
    pub fn len(&self) -> usize {
        self.table().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
