/**
 * A dedicated game server in Node on `@rallypoint/sdk/game-server`: it registers with the
 * server pool, takes the matches the pool gives it, lets in only players whose join token
 * is theirs for that match on this server, "plays" each match once everyone is in, and
 * posts the result (the first team wins), which moves the players' ratings.
 *
 * Players join with `POST /v1/join` {match, player, token}: `200` when admitted, `403`
 * when the token is not that player's for that match on this server, `404` for a match
 * this server does not run (the same contract as the simulated game server's).
 *
 *   POOL_URLS=http://127.0.0.1:8090 POOL_TOKEN=rallypoint-dev-pool \
 *   JOIN_SECRET=rallypoint-dev-join-secret-0123456789 SERVER_ID=node-eu-1 REGION=eu \
 *   LISTEN=127.0.0.1:7801 node dist/examples/game-server/server.js
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

import { GameServer, verifyJoinToken, type Assignment } from "@rallypoint/sdk/game-server";

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set (see the top of examples/game-server/server.ts)`);
    process.exit(2);
  }
  return value;
}

const serverId = required("SERVER_ID");
const joinSecrets = [required("JOIN_SECRET"), ...(process.env.PREVIOUS_JOIN_SECRET ? [process.env.PREVIOUS_JOIN_SECRET] : [])];
const [host, port] = required("LISTEN").split(":");
/** How long a game lasts once everyone joined, and how long the server waits for them. */
const GAME_MS = Number(process.env.GAME_MS ?? 200);
const JOIN_TIMEOUT_MS = Number(process.env.JOIN_TIMEOUT_MS ?? 15_000);
/**
 * How long a join for a match not assigned yet waits: the player may beat the long poll,
 * by several seconds while Redis fails over (PROTOCOL.md, "Join tokens").
 */
const EARLY_JOIN_WAIT_MS = 10_000;

interface Game {
  assignment: Assignment;
  joined: Set<string>;
  started: boolean;
}
const games = new Map<string, Game>();
const assignedWaiters = new Set<() => void>();

const server = new GameServer({
  pool: { urls: required("POOL_URLS").split(","), registrationToken: required("POOL_TOKEN") },
  server: { id: serverId, region: process.env.REGION ?? "eu", address: `${host}:${port}`, capacity: 4 },
  onAssignment(assignment) {
    const players = assignment.teams.flat().length;
    console.log(`match ${assignment.match}: ${players} players expected`);
    const game: Game = { assignment, joined: new Set(), started: false };
    games.set(assignment.match, game);
    for (const wake of assignedWaiters) wake();
    setTimeout(() => void play(game), JOIN_TIMEOUT_MS);
  },
  onUpdate(assignment) {
    const game = games.get(assignment.match);
    if (game) game.assignment = assignment;
  },
  onStanding(standing) {
    console.log(`the pool says: ${standing}`);
  },
  onWarning(message, error) {
    console.warn(`${message}: ${error instanceof Error ? error.message : String(error)}`);
  },
});

async function play(game: Game): Promise<void> {
  if (game.started) return;
  game.started = true;
  await new Promise((resolve) => setTimeout(resolve, GAME_MS));
  const placements = game.assignment.teams.map((team) => team.map((member) => member.player));
  const outcome = await server.finish(game.assignment.match, { placements, stats: { joined: game.joined.size } });
  games.delete(game.assignment.match);
  console.log(`match ${game.assignment.match}: result ${outcome}`);
}

/** The game a join names, waiting briefly for an assignment the pool has not brought yet. */
async function gameFor(match: string): Promise<Game | undefined> {
  const deadline = Date.now() + EARLY_JOIN_WAIT_MS;
  while (!games.has(match) && Date.now() < deadline) {
    await new Promise<void>((resolve) => {
      const wake = (): void => {
        assignedWaiters.delete(wake);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(wake, deadline - Date.now());
      assignedWaiters.add(wake);
    });
  }
  return games.get(match);
}

function answer(response: ServerResponse, status: number, body: object): void {
  response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

async function readJson(request: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  let text = "";
  for await (const chunk of request) {
    text += chunk;
    if (text.length > 4096) return undefined;
  }
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const http = createServer(async (request, response) => {
  if (request.method !== "POST" || request.url !== "/v1/join") {
    answer(response, 404, { error: "not_found", message: "POST /v1/join" });
    return;
  }
  const join = await readJson(request);
  const { match, player, token } = join ?? {};
  if (typeof match !== "string" || typeof player !== "string" || typeof token !== "string") {
    answer(response, 400, { error: "bad_request", message: "give match, player and token (strings)" });
    return;
  }
  const game = await gameFor(match);
  if (!game) {
    answer(response, 404, { error: "not_found", message: "no such match on this server" });
    return;
  }
  const check = verifyJoinToken(token, { match, player, server: serverId }, joinSecrets);
  if (!check.ok) {
    answer(response, 403, { error: "forbidden", message: `join token refused: ${check.reason}` });
    return;
  }
  const expected = game.assignment.teams.flat().map((member) => member.player);
  if (!expected.includes(player)) {
    answer(response, 403, { error: "forbidden", message: "this player is not in this match" });
    return;
  }
  game.joined.add(player);
  answer(response, 200, { joined: game.joined.size, of: expected.length });
  if (game.joined.size === expected.length) void play(game);
});

http.listen(Number(port), host, async () => {
  const registered = await server.start();
  console.log(`game server ${serverId} registered (incarnation ${registered.incarnation}); players join on http://${host}:${port}/v1/join`);
});

// Drained by an operator: the pool let the games in play end; nothing more comes.
void server.drained.then(() => {
  console.log("drained: this server has left the pool; stopping");
  http.close();
  process.exit(0);
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    console.log("leaving the pool");
    void server.stop().then(() => {
      http.close();
      process.exit(0);
    });
  });
}
