//! `rallypoint-cache-warmer migrate`: the operator's way to bring a database's schema up to
//! date as a deploy step, without starting the service.

mod common;

use std::process::Stdio;

async fn migrate(database_url: &str) -> (Option<i32>, String) {
    let binary = testkit::binary_beside_test("cache-warmer").expect("the binary is built");
    let output = tokio::process::Command::new(binary)
        .arg("migrate")
        .env_clear()
        .env("RALLYPOINT_DATABASE__URL", database_url)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

#[tokio::test]
async fn migrate_creates_the_schema_in_an_empty_database_and_names_a_bad_url() {
    let admin = common::db().await;
    let name = testkit::unique_namespace("migcmd").replace(['-', '.'], "_");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create database");
    let base = testkit::database_url();
    let url = format!(
        "{}/{name}",
        base.rsplit_once('/').expect("a database in the url").0
    );

    let (code, text) = migrate(&url).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("schema is up to date"), "{text}");
    let fresh = persistence::connect(&url, 1, std::time::Duration::from_secs(10))
        .await
        .expect("connected");
    let players: i64 = sqlx::query_scalar("SELECT count(*) FROM players")
        .fetch_one(&fresh)
        .await
        .expect("the players table exists");
    assert_eq!(players, 0);
    fresh.close().await;
    // Again: nothing to do, still success.
    assert_eq!(migrate(&url).await.0, Some(0));

    let (code, text) = migrate("mysql://nope").await;
    assert_eq!(code, Some(64), "{text}");
    assert!(text.contains("database.url"), "{text}");

    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("drop database");
}
