//! `GET /v1/players/{id}` for operators (`rallyctl player`): what Redis holds about one
//! player right now: their session (which gateway and connection), their ticket (queue,
//! region, ticket id), their live match with its state and server, their cached profile,
//! the ready check of their match (answers so far), and their party (leader, members)
//! and the invites waiting for them. Read-only, and
//! behind the admin token like every operator route.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use fred::prelude::{HashesInterface, KeysInterface};
use serde_json::{Value, json};

use crate::state::Shared;

/// `GET /v1/players/{id}`.
pub fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/players/{id}", get(inspect))
        .with_state(shared)
}

async fn inspect(State(shared): State<Arc<Shared>>, Path(player): Path<String>) -> Response {
    if let Err(err) = proto::Id::parse(&player) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{player:?} is not a player id: {err}"),
        );
    }
    match read(&shared, &player).await {
        Ok(view) => Json(view).into_response(),
        Err(err) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("Redis did not answer ({err}); retry"),
        ),
    }
}

async fn read(shared: &Shared, player: &str) -> Result<Value, String> {
    let mut view = read_player(shared, player)
        .await
        .map_err(|e| e.to_string())?;
    view["party"] = parties::membership::inspect(&shared.ctx.redis, &shared.ctx.keys, player)
        .await
        .map_err(|e| e.to_string())?;
    Ok(view)
}

async fn read_player(shared: &Shared, player: &str) -> Result<Value, fred::error::Error> {
    let keys = shared.ctx.keys.player(player);
    let session: HashMap<String, String> = shared.ctx.redis.hgetall(keys.session()).await?;
    let ticket: Option<String> = shared.ctx.redis.get(keys.ticket()).await?;
    let live_match: Option<String> = shared.ctx.redis.get(keys.current_match()).await?;
    let profile: HashMap<String, String> = shared.ctx.redis.hgetall(keys.profile()).await?;
    let match_view = match &live_match {
        Some(id) => {
            let record = shared.handover.matches.describe(id).await?;
            // Its ready check, where the queue has one: state, deadline, every answer.
            let mut ready: HashMap<String, String> = shared
                .ctx
                .redis
                .hgetall(shared.ctx.keys.match_(id).ready())
                .await?;
            ready.remove("record");
            let ready_view = if ready.is_empty() {
                Value::Null
            } else {
                json!(ready)
            };
            json!({"id": id, "record": record, "ready_check": ready_view})
        }
        None => Value::Null,
    };
    let or_null = |map: HashMap<String, String>| {
        if map.is_empty() {
            Value::Null
        } else {
            json!(map)
        }
    };
    Ok(json!({
        "player": player,
        "online": !session.is_empty(),
        "session": or_null(session),
        "ticket": ticket,
        "match": match_view,
        "profile": or_null(profile),
    }))
}

fn refuse(status: StatusCode, error: &str, message: String) -> Response {
    (status, Json(json!({"error": error, "message": message}))).into_response()
}
