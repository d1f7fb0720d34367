//! Joins a queue and prints the match: the smallest useful game client.
//!
//! ```sh
//! make up    # the local stack: gateways on 127.0.0.1:8080 and :8081, guests allowed
//! cargo run -p rallypoint-client --example queue -- --guest alice --queue duel --region eu
//! # in another terminal, a second player so the duel can form:
//! cargo run -p rallypoint-client --example queue -- --guest bob --queue duel --region eu \
//!   --url ws://127.0.0.1:8081/ws --msgpack
//! ```

use clap::Parser;
use rallypoint_client::proto::ServerMessage;
use rallypoint_client::{Auth, Client, ClientConfig, Event};

#[derive(Parser)]
struct Args {
    /// Gateway WebSocket URL(s), tried in turn.
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    url: Vec<String>,
    /// Play as guest `<name>`, player `guest:<name>` (needs guest access on the gateway).
    #[arg(long, conflicts_with = "token")]
    guest: Option<String>,
    /// A player token (JWT) instead of a guest id.
    #[arg(long)]
    token: Option<String>,
    #[arg(long, default_value = "duel")]
    queue: String,
    #[arg(long, default_value = "eu")]
    region: String,
    /// Speak MessagePack instead of JSON.
    #[arg(long)]
    msgpack: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let auth = match (args.guest, args.token) {
        (_, Some(token)) => Auth::Token(token),
        (Some(guest), None) => Auth::Guest(guest),
        (None, None) => Auth::Guest(format!("guest-{}", std::process::id())),
    };
    let mut config = ClientConfig::new(args.url, auth);
    if args.msgpack {
        config = config.msgpack();
    }
    let (client, mut events) = Client::connect(config).await?;
    println!("connected as {}", client.player().unwrap_or("?"));
    if let Ok(ServerMessage::Profile { rating, games, .. }) = client.profile().await {
        println!("rating {rating:.1} after {games} games");
    }
    let ticket = client.join_queue(&args.queue, &args.region).await?;
    println!(
        "queued in {}/{} (ticket {ticket}); waiting for a match...",
        args.queue, args.region
    );
    while let Some(event) = events.recv().await {
        match event {
            Event::Push(ServerMessage::MatchFound {
                match_id,
                teams,
                server,
                join_token,
                ..
            }) => {
                println!(
                    "match {match_id} on {} ({}), join token {join_token}",
                    server.id, server.address
                );
                for (i, team) in teams.iter().enumerate() {
                    let members: Vec<String> = team
                        .iter()
                        .map(|m| format!("{} ({:.0})", m.player, m.rating))
                        .collect();
                    println!("  team {i}: {}", members.join(", "));
                }
                break;
            }
            // Where the queue has a ready check (the local stack's squad does): accept it.
            Event::Push(ServerMessage::MatchReadyCheck {
                match_id,
                expires_ms,
                ..
            }) => {
                println!(
                    "match {match_id} formed: accepting its ready check (open until {expires_ms})"
                );
                client.accept_match(match_id.as_str()).await?;
            }
            Event::Push(ServerMessage::MatchReadyUpdate {
                accepted, total, ..
            }) => println!("ready: {accepted} of {total} accepted"),
            Event::Push(ServerMessage::MatchCancelled {
                reason, requeued, ..
            }) => {
                println!("match cancelled ({reason}); requeued: {requeued}");
            }
            Event::Push(ServerMessage::QueueTimeout { waited_ms, .. }) => {
                println!("no match after {waited_ms} ms; giving up");
                break;
            }
            Event::Disconnected { reason } => println!("disconnected ({reason}); reconnecting..."),
            Event::Reconnected { status, .. } => println!("reconnected; queue status: {status:?}"),
            Event::Closed { reason } => {
                println!("closed: {reason}");
                break;
            }
            Event::Push(other) => println!("push: {}", other.type_name()),
        }
    }
    client.close().await;
    Ok(())
}
