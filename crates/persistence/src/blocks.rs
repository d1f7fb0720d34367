//! Blocks: who each player blocked (their whispers are not delivered to the player).
//!
//! The gateway changes a player's list in Redis at once and leaves the change in an
//! outbox; the cache-warmer applies the changes here in outbox order ([`apply`],
//! idempotent, so a batch applied twice after a crash changes nothing more), and loads a
//! player's list back into Redis from here ([`of`]) when Redis does not have it.

use sqlx::{PgExecutor, PgPool};

use crate::DbError;

/// One change of a player's block list: the player, the other player, blocked (true) or
/// unblocked.
pub type BlockChange<'a> = (&'a str, &'a str, bool);

/// Applies `changes` in order, in one transaction.
pub async fn apply(db: &PgPool, changes: &[BlockChange<'_>]) -> Result<(), DbError> {
    let mut tx = db.begin().await?;
    for &(player, other, block) in changes {
        let sql = if block {
            "INSERT INTO blocks (player, blocked) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM blocks WHERE player = $1 AND blocked = $2"
        };
        sqlx::query(sql)
            .bind(player)
            .bind(other)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The (player, blocked) pairs of `players`' lists.
pub async fn of<'e>(
    db: impl PgExecutor<'e>,
    players: &[String],
) -> Result<Vec<(String, String)>, DbError> {
    Ok(sqlx::query_as::<_, (String, String)>(
        "SELECT player, blocked FROM blocks WHERE player = ANY($1) ORDER BY player, blocked",
    )
    .bind(players)
    .fetch_all(db)
    .await?)
}
