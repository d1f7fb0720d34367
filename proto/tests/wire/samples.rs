//! One value of every message type, shared by the tests.

use std::collections::BTreeMap;

use proto::game_server::{
    Assignment, AssignmentsReply, Heartbeat, HttpError, MatchResult, RegisterServer, Registered,
};
use proto::{
    Body, ClientRequest, ErrorCode, Event, EventEnvelope, Id, QueueState, Rid, ServerEndpoint,
    ServerMessage, TeamMember, Teams,
};
use serde_json::json;

pub fn id(s: &str) -> Id {
    Id::parse(s).expect("sample ids are valid")
}

pub fn body() -> Body {
    Body::new(json!({"text": "gg", "n": [1, -2, 3.5], "nested": {"ok": true, "none": null}}))
        .expect("small body")
}

pub fn teams() -> Teams {
    vec![
        vec![TeamMember {
            player: id("p1"),
            rating: 1512.5,
        }],
        vec![TeamMember {
            player: id("p2"),
            rating: 1490.0,
        }],
    ]
}

pub fn requests() -> Vec<ClientRequest> {
    vec![
        ClientRequest::Ping,
        ClientRequest::QueueJoin {
            queue: id("duel"),
            region: id("eu"),
        },
        ClientRequest::QueueLeave,
        ClientRequest::QueueStatus,
        ClientRequest::RoomJoin {
            room: id("lobby"),
            since: None,
        },
        ClientRequest::RoomJoin {
            room: id("lobby:eu"),
            since: Some(1_796_517_274_768_001),
        },
        ClientRequest::RoomHistory {
            room: id("lobby:eu"),
            before: Some(1_796_517_274_768_050),
            limit: Some(20),
        },
        ClientRequest::RoomLeave { room: id("lobby") },
        ClientRequest::RoomMembers {
            room: id("lobby"),
            cursor: Some(id("p2")),
        },
        ClientRequest::PresenceGet {
            players: vec![id("p1"), id("p2")],
        },
        ClientRequest::Block { player: id("p2") },
        ClientRequest::Unblock { player: id("p2") },
        ClientRequest::RoomSend {
            room: id("lobby"),
            body: body(),
        },
        ClientRequest::Whisper {
            to: id("p2"),
            body: body(),
        },
        ClientRequest::ProfileGet,
        ClientRequest::DataGet {
            kind: id("items"),
            id: id("sword"),
        },
        ClientRequest::PartyCreate,
        ClientRequest::PartyInvite { to: id("p2") },
        ClientRequest::PartyAccept { party: id("pt-1") },
        ClientRequest::PartyDecline { party: id("pt-1") },
        ClientRequest::PartyLeave,
        ClientRequest::PartyKick { player: id("p2") },
        ClientRequest::PartyPromote { player: id("p2") },
        ClientRequest::PartyGet,
        ClientRequest::MatchAccept {
            match_id: id("m-1"),
        },
        ClientRequest::MatchDecline {
            match_id: id("m-1"),
        },
    ]
}

pub fn rids() -> Vec<Option<Rid>> {
    vec![
        None,
        Some(Rid::Int(7)),
        Some(Rid::Int(-1)),
        Some(Rid::Str("r-1".into())),
    ]
}

pub fn server_messages() -> Vec<ServerMessage> {
    let rid = Some(Rid::Int(3));
    vec![
        ServerMessage::Pong { rid: rid.clone() },
        ServerMessage::Profile {
            player: id("p1"),
            name: "Ann".into(),
            rating: 1516.5,
            games: 3,
            rid: rid.clone(),
        },
        ServerMessage::Data {
            kind: id("items"),
            id: id("sword"),
            version: 42,
            document: Some(serde_json::json!({"damage": 10, "tags": ["sharp"]})),
            rid: rid.clone(),
        },
        ServerMessage::Data {
            kind: id("items"),
            id: id("nothing"),
            version: 42,
            document: None,
            rid: rid.clone(),
        },
        ServerMessage::QueueJoined {
            ticket: id("t1"),
            queue: id("duel"),
            region: id("eu"),
            rid: Some(Rid::Str("x".into())),
        },
        ServerMessage::QueueLeft { rid: None },
        ServerMessage::QueueStatus {
            state: QueueState::Idle,
            queue: None,
            region: None,
            waited_ms: None,
            match_id: None,
            rid: rid.clone(),
        },
        ServerMessage::QueueStatus {
            state: QueueState::Searching,
            queue: Some(id("duel")),
            region: Some(id("eu")),
            waited_ms: Some(1200),
            match_id: None,
            rid: None,
        },
        ServerMessage::QueueStatus {
            state: QueueState::Matched,
            queue: Some(id("duel")),
            region: Some(id("eu")),
            waited_ms: Some(3000),
            match_id: Some(id("m1")),
            rid: None,
        },
        ServerMessage::RoomJoined {
            room: id("lobby"),
            members: 4,
            recovered: None,
            offset: None,
            rid: rid.clone(),
        },
        ServerMessage::RoomJoined {
            room: id("lobby:eu"),
            members: 4,
            recovered: None,
            offset: Some(1_796_517_274_768_000),
            rid: rid.clone(),
        },
        ServerMessage::RoomJoined {
            room: id("lobby:eu"),
            members: 4,
            recovered: Some(true),
            offset: None,
            rid: rid.clone(),
        },
        ServerMessage::RoomHistory {
            room: id("lobby:eu"),
            messages: vec![proto::HistoryMessage {
                from: id("p1"),
                body: body(),
                ts: 1_700_000_000_000,
                offset: 1_796_517_274_768_001,
            }],
            rid: rid.clone(),
        },
        ServerMessage::RoomLeft {
            room: id("lobby"),
            rid: rid.clone(),
        },
        ServerMessage::RoomSent {
            room: id("lobby"),
            rid: rid.clone(),
        },
        ServerMessage::RoomMembers {
            room: id("lobby"),
            members: vec![id("p1"), id("p2")],
            cursor: Some(id("p2")),
            rid: rid.clone(),
        },
        ServerMessage::Blocked {
            player: id("p2"),
            rid: rid.clone(),
        },
        ServerMessage::Unblocked {
            player: id("p2"),
            rid: rid.clone(),
        },
        ServerMessage::Presence {
            players: [
                (
                    id("p1"),
                    proto::PlayerPresence {
                        online: true,
                        last_seen_ms: Some(1_700_000_000_000),
                    },
                ),
                (
                    id("p2"),
                    proto::PlayerPresence {
                        online: false,
                        last_seen_ms: None,
                    },
                ),
            ]
            .into(),
            rid: rid.clone(),
        },
        ServerMessage::WhisperSent { rid: rid.clone() },
        ServerMessage::Party {
            party: id("pt-1"),
            leader: id("p1"),
            members: vec![id("p1"), id("p2")],
            max_size: 5,
            rid: rid.clone(),
        },
        ServerMessage::PartyInvited {
            party: id("pt-1"),
            to: id("p2"),
            rid: rid.clone(),
        },
        ServerMessage::PartyDeclined {
            party: id("pt-1"),
            rid: rid.clone(),
        },
        ServerMessage::PartyLeft {
            party: id("pt-1"),
            reason: proto::server::reason::LEFT.into(),
            rid: rid.clone(),
        },
        ServerMessage::PartyLeft {
            party: id("pt-1"),
            reason: proto::server::reason::KICKED.into(),
            rid: None,
        },
        ServerMessage::PartyInvite {
            party: id("pt-1"),
            from: id("p1"),
        },
        ServerMessage::MatchReadyUpdate {
            match_id: id("m-1"),
            accepted: 3,
            total: 4,
            rid: rid.clone(),
        },
        ServerMessage::PartyUpdated {
            party: id("pt-1"),
            leader: id("p2"),
            members: vec![id("p2")],
        },
        ServerMessage::Welcome {
            player: id("p1"),
            session: id("s-1"),
            gateway: id("gw-a"),
            heartbeat_ms: 15_000,
        },
        ServerMessage::MatchFound {
            match_id: id("m1"),
            queue: id("duel"),
            region: id("eu"),
            teams: teams(),
            server: ServerEndpoint {
                id: id("gs-1"),
                address: "10.0.0.5:7777".into(),
            },
            join_token: "aGVsbG8".into(),
        },
        ServerMessage::MatchCancelled {
            match_id: id("m1"),
            reason: proto::server::reason::NO_SERVER.into(),
            requeued: true,
        },
        ServerMessage::MatchReadyCheck {
            match_id: id("m1"),
            queue: id("squad"),
            region: id("eu"),
            teams: teams(),
            expires_ms: 1_767_225_600_000,
        },
        ServerMessage::QueueTimeout {
            queue: id("duel"),
            waited_ms: 60_000,
        },
        ServerMessage::RoomMessage {
            room: id("lobby"),
            from: id("p1"),
            body: body(),
            ts: 1,
            offset: None,
        },
        ServerMessage::RoomMessage {
            room: id("lobby:eu"),
            from: id("p1"),
            body: body(),
            ts: 1,
            offset: Some(1_796_517_274_768_002),
        },
        ServerMessage::RoomPresence {
            room: id("lobby:eu"),
            joined: vec![id("p2")],
            left: vec![id("p3")],
        },
        ServerMessage::Whisper {
            from: id("p1"),
            body: body(),
            ts: 1_700_000_000_000,
        },
        ServerMessage::Notice {
            body: body(),
            ts: 1_700_000_000_000,
        },
        ServerMessage::Kicked {
            reason: proto::server::reason::SESSION_REPLACED.into(),
        },
        ServerMessage::Reconnect {
            reason: "draining".into(),
            after_ms: 250,
        },
        ServerMessage::error(ErrorCode::NotOnline, "p2 is not online", rid),
        ServerMessage::error(ErrorCode::Internal, "boom", None),
    ]
}

pub fn events() -> Vec<Event> {
    vec![
        Event::Deliver {
            player: id("p1"),
            conn: Some(id("c-9")),
            message: ServerMessage::Kicked { reason: "x".into() },
        },
        Event::Deliver {
            player: id("p1"),
            conn: None,
            message: server_messages()
                .into_iter()
                .find(|m| m.type_name() == "match.found")
                .expect("match.found sample"),
        },
        Event::SessionReplaced {
            player: id("p1"),
            new_conn: id("c-10"),
            new_gateway: id("gw-b"),
        },
        Event::RoomMessage {
            room: id("lobby"),
            from: id("p1"),
            body: body(),
            ts: 9,
        },
        Event::MatchFormed {
            match_id: id("m1"),
            queue: id("duel"),
            region: id("eu"),
        },
        Event::AssignmentReady {
            server: id("gs-1"),
            match_id: id("m1"),
        },
        Event::MatchBackfilled {
            match_id: id("m1"),
            region: id("eu"),
        },
        Event::Blocks {
            player: id("p1"),
            blocked: vec![id("p2")],
        },
        Event::RoomPresence {
            room: id("lobby:eu"),
            joined: vec![id("p2")],
            left: vec![],
        },
        Event::Broadcast {
            message: ServerMessage::Notice {
                body: body(),
                ts: 1_700_000_000_000,
            },
        },
        Event::Disconnect {
            player: id("p1"),
            reason: "cheating".into(),
        },
        Event::Mute {
            player: id("p1"),
            until_ms: 1_700_000_060_000,
        },
        Event::CacheInvalidate {
            dataset: Some("profiles".into()),
            players: vec![id("p1")],
        },
        Event::CacheInvalidate {
            dataset: None,
            players: vec![],
        },
        Event::WarmProfiles {
            players: vec![id("p1"), id("p2")],
        },
    ]
}

pub fn envelopes() -> Vec<EventEnvelope> {
    let trace = BTreeMap::from([(
        "traceparent".to_owned(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
    )]);
    events()
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            let env = EventEnvelope::new(event, 1_700_000_000_000 + i as u64);
            if i % 2 == 0 {
                env.with_trace(trace.clone())
            } else {
                env
            }
        })
        .collect()
}

pub fn register() -> RegisterServer {
    RegisterServer {
        id: id("gs-1"),
        region: id("eu"),
        address: "gs1.example.com:7777".into(),
        capacity: 8,
        labels: BTreeMap::from([("map_pool".to_owned(), "ranked".to_owned())]),
    }
}

pub fn registered() -> Registered {
    Registered {
        id: id("gs-1"),
        heartbeat_interval_ms: 5000,
        server_token: "gs1.c2VjcmV0.gs-1".into(),
        incarnation: 1_767_225_600_000,
    }
}

pub fn heartbeats() -> Vec<Heartbeat> {
    vec![
        Heartbeat::default(),
        Heartbeat {
            active_games: Some(3),
            players: Some(6),
            games: Some(vec![id("m1"), id("m2")]),
        },
    ]
}

pub fn assignment() -> Assignment {
    Assignment {
        match_id: id("m1"),
        queue: id("duel"),
        region: id("eu"),
        teams: teams(),
        secret_hint: Some("k2".into()),
        backfilled: vec![id("p2")],
    }
}

pub fn assignments() -> AssignmentsReply {
    AssignmentsReply {
        assignments: vec![assignment()],
        draining: false,
    }
}

pub fn match_result() -> MatchResult {
    MatchResult {
        placements: vec![vec![id("p1")], vec![id("p2"), id("p3")]],
        stats: Some(json!({"kills": {"p1": 3}})),
    }
}

pub fn http_error() -> HttpError {
    HttpError::unauthorized("missing bearer token")
}
