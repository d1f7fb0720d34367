//! Against the private PostgreSQL that `make test` starts.

use std::time::Duration;

#[tokio::test]
async fn connects_and_round_trips_a_row() {
    let pool = persistence::connect(&testkit::database_url(), 2, Duration::from_secs(10))
        .await
        .expect("connected");
    let version = persistence::server_version(&pool).await.expect("version");
    assert!(version.starts_with("PostgreSQL"), "{version}");

    let mut tx = pool.begin().await.expect("transaction");
    sqlx::query(
        "CREATE TEMP TABLE probe (id text PRIMARY KEY, rating int NOT NULL) ON COMMIT DROP",
    )
    .execute(&mut *tx)
    .await
    .expect("create");
    sqlx::query("INSERT INTO probe (id, rating) VALUES ($1, $2)")
        .bind("alice")
        .bind(1500)
        .execute(&mut *tx)
        .await
        .expect("insert");
    let rating: i32 = sqlx::query_scalar("SELECT rating FROM probe WHERE id = $1")
        .bind("alice")
        .fetch_one(&mut *tx)
        .await
        .expect("select");
    assert_eq!(rating, 1500);
    tx.rollback().await.expect("rollback");
}

#[tokio::test]
async fn a_bad_url_is_a_clear_error() {
    let err = persistence::connect("mysql://nope", 1, Duration::from_secs(1))
        .await
        .expect_err("not postgres");
    assert!(err.to_string().contains("DATABASE_URL"), "{err}");
    let err = persistence::connect(
        "postgres://rallypoint@127.0.0.1:1/none",
        1,
        Duration::from_secs(2),
    )
    .await
    .expect_err("nothing listens");
    assert!(err.to_string().contains("cannot reach PostgreSQL"), "{err}");
}
