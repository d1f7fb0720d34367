//! Players: profiles (display name, rating, games played) and their creation at the
//! default rating the first time a player is seen.

use sqlx::{PgExecutor, PgPool};

use crate::DbError;

/// A player's profile as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Profile {
    pub id: String,
    pub display_name: String,
    pub rating: f64,
    pub games_played: i32,
    /// Grows with every change; a cached copy is replaced only by a newer version.
    pub version: i64,
}

const SELECT: &str =
    "SELECT id, display_name, rating, games_played, version FROM players WHERE id = ANY($1)";

/// Creates the players of `ids` that do not exist yet (display name = id, rating
/// `default_rating`), leaving existing ones as they are.
pub async fn create_missing<'e>(
    db: impl PgExecutor<'e>,
    ids: &[String],
    default_rating: f64,
) -> Result<u64, DbError> {
    let created = sqlx::query(
        "INSERT INTO players (id, display_name, rating)
         SELECT id, id, $2 FROM unnest($1::text[]) AS new(id)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(ids)
    .bind(default_rating)
    .execute(db)
    .await?;
    Ok(created.rows_affected())
}

/// The profiles of `ids` that exist, in no particular order.
pub async fn get<'e>(db: impl PgExecutor<'e>, ids: &[String]) -> Result<Vec<Profile>, DbError> {
    Ok(sqlx::query_as::<_, Profile>(SELECT)
        .bind(ids)
        .fetch_all(db)
        .await?)
}

/// The profiles of `ids`, creating the missing ones at `default_rating` first: what the
/// cache-warmer loads for players who connect or queue.
pub async fn get_or_create(
    db: &PgPool,
    ids: &[String],
    default_rating: f64,
) -> Result<Vec<Profile>, DbError> {
    create_missing(db, ids, default_rating).await?;
    get(db, ids).await
}

/// Renames a player (a profile change that, like every change, bumps the version).
pub async fn rename(db: &PgPool, id: &str, display_name: &str) -> Result<Option<Profile>, DbError> {
    Ok(sqlx::query_as::<_, Profile>(
        "UPDATE players SET display_name = $2, version = version + 1, updated_at = now()
         WHERE id = $1
         RETURNING id, display_name, rating, games_played, version",
    )
    .bind(id)
    .bind(display_name)
    .fetch_optional(db)
    .await?)
}
