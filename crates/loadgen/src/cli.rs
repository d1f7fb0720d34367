//! The flags: what every scenario shares ([`Common`]) and each scenario's own.

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "rallypoint-loadgen",
    about = "Load generator for Rallypoint: simulated players and game servers, with latency, loss and memory figures"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Gateway WebSocket URLs; players are spread over them in turn.
    #[arg(
        long = "url",
        global = true,
        value_delimiter = ',',
        default_value = "ws://127.0.0.1:8080/ws,ws://127.0.0.1:8081/ws"
    )]
    pub urls: Vec<String>,
    /// Sign player tokens with this JWT secret (HS256) instead of connecting as guests.
    #[arg(long, global = true, env = "LOADGEN_JWT_SECRET")]
    pub jwt_secret: Option<String>,
    /// Speak MessagePack (binary frames) instead of JSON.
    #[arg(long, global = true)]
    pub msgpack: bool,
    /// Spread sockets over this many loopback source addresses (127.0.0.1, .2, ...) so
    /// that ports do not run out; only used for loopback gateways.
    #[arg(long, global = true, default_value_t = 8)]
    pub source_ips: u8,
    /// Connections being opened at once.
    #[arg(long, global = true, default_value_t = 128)]
    pub connect_concurrency: usize,
    /// Pids of local gateway processes whose memory and CPU to report.
    #[arg(long = "gateway-pid", global = true, value_delimiter = ',')]
    pub gateway_pids: Vec<u32>,
    /// A prefix for player ids, so runs do not collide (default: one per run).
    #[arg(long, global = true)]
    pub run_id: Option<String>,
    /// Print the report as JSON (progress still goes to stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// The protocol the players speak: Rallypoint's, or Socket.IO's for the peer
    /// `make bench-peer` compares with (`connections` and `fanout` only).
    #[arg(long, global = true, value_enum, default_value_t = Protocol::Rallypoint)]
    pub protocol: Protocol,
    /// Runtime threads of the load generator: 0 one per core; 1 a single thread (the
    /// cheapest per message: `make bench-peer` uses it, so the machine's cores go to the
    /// servers under test).
    #[arg(long, global = true, default_value_t = 0)]
    pub threads: usize,
    /// Pids of the Redis servers behind the platform under test: their CPU per operation
    /// is reported.
    #[arg(long = "redis-pid", global = true, value_delimiter = ',')]
    pub redis_pids: Vec<u32>,
    /// With `--redis-pid`: seconds the servers' and Redis's idle CPU is measured before a
    /// delivery scenario sends. Make it cover a whole gateway heartbeat (`make bench-peer`
    /// gives 10 s, the gateways' `heartbeat_ms`): a shorter window can fall between two
    /// beats' session refreshes and make the idle look cheaper than it is.
    #[arg(long = "idle-window", global = true, default_value_t = 3)]
    pub idle_window_secs: u64,
}

/// The wire protocol of the players.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// Rallypoint's gateway (the client SDK).
    Rallypoint,
    /// Socket.IO v5 over Engine.IO v4 WebSocket (`bench/peer/server.js`).
    #[value(name = "socketio")]
    SocketIo,
}

impl Common {
    /// This run's id prefix.
    pub fn run_id(&self) -> String {
        self.run_id.clone().unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            format!("lg{}", now.as_millis() % 100_000_000)
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// Open N idle sessions spread over the gateways and hold them; report gateway memory
    /// per connection and CPU.
    Connections(ConnectionsArgs),
    /// (internal) one worker process of `connections`.
    #[command(hide = true)]
    ConnectionsWorker(WorkerArgs),
    /// Rooms of M members spread over the gateways, messages sent at a fixed rate; report
    /// delivered messages per second, delivery latency, loss and duplicates.
    Fanout(FanoutArgs),
    /// `fanout` in rooms that keep history (`lobby:` in the local stack) while members
    /// reconnect at random to the other gateway: each resumes with `since`, and every
    /// member must still get every message once (the same figures, and the reconnects).
    Recovery(RecoveryArgs),
    /// Player-to-player messages across gateways at a fixed rate; the same figures.
    Whisper(WhisperArgs),
    /// N players connected, then server-API broadcasts one after the other; report the
    /// time from the call until the last player has it, and that each got it once.
    Broadcast(BroadcastArgs),
    /// Players arriving at a fixed rate into `duel` and `squad`, simulated game servers
    /// playing and posting results; report tickets matched per second, join-to-match
    /// latency, queue depth, allocations, and any invariant broken.
    Matchmaking(MatchmakingArgs),
    /// Players form parties of 1 to --max-party, the leaders queue them into a team queue
    /// (5v5) at a fixed rate, every player answers the ready check (a share declining);
    /// report matches per second, party join-to-match latency, how the checks ended, and
    /// any party split or team not full.
    Parties(PartiesArgs),
    /// Honest players whisper and chat at a fixed rate, first alone, then while others
    /// attack the first gateway (garbage, oversized and unknown frames, connect storms,
    /// half-open handshakes); report the honest players' latency in both, and their losses.
    Abuse(AbuseArgs),
}

#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct ConnectionsArgs {
    /// Idle sessions to open.
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
    /// How long to hold them once all are open, in seconds.
    #[arg(long, default_value_t = 10)]
    pub hold: u64,
    /// Sockets per load generator process (a process may hold at most 20,000 file
    /// descriptors here); more are spread over several worker processes.
    #[arg(long, default_value_t = 8000)]
    pub per_process: usize,
}

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    #[arg(long)]
    pub count: usize,
    /// The index of this worker's first player.
    #[arg(long)]
    pub first: usize,
}

/// How fast and how long a scenario sends (messages, whispers, or arriving tickets).
#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct Timing {
    /// Sends (messages, whispers, queue joins) per second in total.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Seconds at the start whose latencies are not counted (connections and caches
    /// warming up); part of --duration.
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
}

impl Timing {
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.rate > 0 && self.duration > 0,
            "--rate and --duration must be at least 1"
        );
        anyhow::ensure!(
            self.warmup < self.duration,
            "--warmup must be shorter than --duration"
        );
        Ok(())
    }

    /// Sends in the whole run.
    pub fn total(&self) -> u64 {
        self.rate * self.duration
    }

    pub fn duration(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.duration)
    }
}

#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct FanoutArgs {
    /// Rooms.
    #[arg(long, default_value_t = 20)]
    pub rooms: usize,
    /// Members per room (each on the next gateway in turn).
    #[arg(long, default_value_t = 50)]
    pub members: usize,
    /// The start of every room's name: a prefix the gateways configure with history
    /// (`lobby:` in the local stack) measures rooms that keep it.
    #[arg(long, default_value = "")]
    pub room_prefix: String,
    #[command(flatten)]
    #[serde(flatten)]
    pub timing: Timing,
}

#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct RecoveryArgs {
    /// Rooms.
    #[arg(long, default_value_t = 20)]
    pub rooms: usize,
    /// Members per room (each on the next gateway in turn).
    #[arg(long, default_value_t = 20)]
    pub members: usize,
    /// The start of every room's name: a prefix configured with history.
    #[arg(long, default_value = "lobby:")]
    pub room_prefix: String,
    /// Members made to reconnect (to the next gateway) per second, picked at random.
    #[arg(long, default_value_t = 20.0)]
    pub reconnects_per_second: f64,
    #[command(flatten)]
    #[serde(flatten)]
    pub timing: Timing,
}

#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct BroadcastArgs {
    /// Players connected (spread over the gateways).
    #[arg(long, default_value_t = 15_000)]
    pub players: usize,
    /// Broadcasts sent, one after the other.
    #[arg(long, default_value_t = 5)]
    pub broadcasts: usize,
    /// A gateway's server API (PROTOCOL.md section 4).
    #[arg(long, default_value = "http://127.0.0.1:8180")]
    pub api: String,
    /// Its token (the local stack's by default).
    #[arg(
        long,
        env = "RALLYPOINT_GATEWAY__API_TOKEN",
        default_value = "rallypoint-dev-api",
        hide_env_values = true
    )]
    #[serde(skip)]
    pub api_token: String,
}

#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct WhisperArgs {
    /// Sender/receiver pairs, each pair on two different gateways.
    #[arg(long, default_value_t = 500)]
    pub pairs: usize,
    #[command(flatten)]
    #[serde(flatten)]
    pub timing: Timing,
}

#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct AbuseArgs {
    /// Honest sender/receiver pairs (senders on the attacked gateway, receivers on each
    /// gateway in turn); each pair shares a room.
    #[arg(long, default_value_t = 50)]
    pub pairs: usize,
    /// Connections sending garbage (each reconnects as the same player when closed).
    #[arg(long, default_value_t = 20)]
    pub abusers: usize,
    /// Frames per second each garbage connection sends.
    #[arg(long, default_value_t = 50)]
    pub garbage_rate: u64,
    /// Connect-and-close storms: new connections per second, each as a new player.
    #[arg(long, default_value_t = 100)]
    pub storm_rate: u64,
    /// Sockets that start an upgrade request and never finish it (reopened when closed).
    #[arg(long, default_value_t = 2000)]
    pub half_open: usize,
    /// Honest players connecting (then pinging and leaving) per second, in both phases.
    #[arg(long, default_value_t = 10)]
    pub probe_rate: u64,
    /// Each phase (without, then with the flood) sends at this rate for this long.
    #[command(flatten)]
    #[serde(flatten)]
    pub timing: Timing,
}

/// The simulated game servers a matchmaking scenario starts in this process.
#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct FleetArgs {
    /// Server pool URLs for the simulated game servers.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8090,http://127.0.0.1:8091"
    )]
    pub pool: Vec<String>,
    /// The fleet's registration token (`pool.token`).
    #[arg(
        long,
        env = "LOADGEN_POOL_TOKEN",
        default_value = "rallypoint-dev-pool"
    )]
    #[serde(skip)]
    pub pool_token: String,
    /// The key join tokens are checked with (`pool.join_secret`).
    #[arg(
        long,
        env = "LOADGEN_JOIN_SECRET",
        default_value = "rallypoint-dev-join-secret-0123456789"
    )]
    #[serde(skip)]
    pub join_secret: String,
    /// Simulated game servers started per region (0: use the servers already there).
    #[arg(long, default_value_t = 2)]
    pub servers_per_region: usize,
    /// Games at once per simulated server (the pool takes at most 1024).
    #[arg(long, default_value_t = 1000)]
    pub capacity: u32,
    /// How long a game lasts, in ms.
    #[arg(long, default_value_t = 1000)]
    pub game_ms: u64,
}

#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct PartiesArgs {
    /// Connected players, formed into parties.
    #[arg(long, default_value_t = 1000)]
    pub players: usize,
    /// Parties are 1 to this many players (evenly drawn).
    #[arg(long, default_value_t = 5)]
    pub max_party: usize,
    /// The queue (its teams must be of --team-size; the load stack defines `team`, 5v5
    /// with a ready check).
    #[arg(long, default_value = "team")]
    pub queue: String,
    /// Players per team in the queue.
    #[arg(long, default_value_t = 5)]
    pub team_size: usize,
    #[arg(long, default_value = "eu")]
    pub region: String,
    /// Parties queued per second.
    #[arg(long, default_value_t = 50)]
    pub rate: u64,
    /// The share of ready checks a player declines.
    #[arg(long, default_value_t = 0.05)]
    pub decline_share: f64,
    /// How long the queue's ready check lasts (waited for before giving up at the end).
    #[arg(long, default_value_t = 10_000)]
    pub ready_wait_ms: u64,
    #[command(flatten)]
    #[serde(flatten)]
    pub fleet: FleetArgs,
}

#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct MatchmakingArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub timing: Timing,
    /// Connected players to draw arrivals from (a player queues again after its game).
    #[arg(long, default_value_t = 4000)]
    pub players: usize,
    /// The share of arrivals that go to `squad` (2v2); the rest go to `duel`.
    #[arg(long, default_value_t = 0.2)]
    pub squad_share: f64,
    /// Regions, used in turn.
    #[arg(long, value_delimiter = ',', default_value = "eu,us")]
    pub regions: Vec<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub fleet: FleetArgs,
    /// Players join their game server with their join token, as real clients do.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub join_game: bool,
}
