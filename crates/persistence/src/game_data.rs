//! Static game data: JSON documents by kind and id, each kind with a version that moves on
//! every change (set by the database's triggers, see the migration), so a warm copy can be
//! compared with the source cheaply.

use sqlx::PgPool;

use crate::DbError;

/// One kind's documents at one version, read consistently.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub kind: String,
    pub version: i64,
    /// (id, JSON document text)
    pub documents: Vec<(String, String)>,
}

/// Every kind and its current version.
pub async fn versions(db: &PgPool) -> Result<Vec<(String, i64)>, DbError> {
    Ok(sqlx::query_as::<_, (String, i64)>(
        "SELECT kind, version FROM game_data_kinds ORDER BY kind",
    )
    .fetch_all(db)
    .await?)
}

/// One kind's documents and version, from one snapshot of the database.
pub async fn snapshot(db: &PgPool, kind: &str) -> Result<Snapshot, DbError> {
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let version: Option<i64> =
        sqlx::query_scalar("SELECT version FROM game_data_kinds WHERE kind = $1")
            .bind(kind)
            .fetch_optional(&mut *tx)
            .await?;
    let documents = sqlx::query_as::<_, (String, String)>(
        "SELECT id, document::text FROM game_data WHERE kind = $1 ORDER BY id",
    )
    .bind(kind)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Snapshot {
        kind: kind.to_owned(),
        version: version.unwrap_or(0),
        documents,
    })
}

/// Writes one document (creating or replacing it); returns the kind's new version.
pub async fn put(
    db: &PgPool,
    kind: &str,
    id: &str,
    document: &serde_json::Value,
) -> Result<i64, DbError> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO game_data (kind, id, document) VALUES ($1, $2, $3::jsonb)
         ON CONFLICT (kind, id) DO UPDATE SET document = EXCLUDED.document",
    )
    .bind(kind)
    .bind(id)
    .bind(document.to_string())
    .execute(&mut *tx)
    .await?;
    // The kind's row is locked by this transaction (its trigger): the version is ours.
    let version = sqlx::query_scalar("SELECT version FROM game_data_kinds WHERE kind = $1")
        .bind(kind)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(version)
}

/// Deletes one document; true if it existed.
pub async fn delete(db: &PgPool, kind: &str, id: &str) -> Result<bool, DbError> {
    let deleted = sqlx::query("DELETE FROM game_data WHERE kind = $1 AND id = $2")
        .bind(kind)
        .bind(id)
        .execute(db)
        .await?;
    Ok(deleted.rows_affected() > 0)
}
