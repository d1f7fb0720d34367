// The Node game-server SDK's own behaviour against a scripted pool (node:http): which token
// each call carries, acknowledgements before the next poll, backfill updates, 404 and 410
// on heartbeats, results retried through a 503. The SDK against the real pool is tested
// end to end in tests/tests/typescript_sdk.rs.
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { GameServer, PoolClient, PoolError, type Assignment } from "../src/game-server/index.js";

interface Call {
  method: string;
  path: string;
  token: string;
  body: unknown;
}

/** A scripted pool: records every call; `answer` decides the status and body. */
class FakePool {
  readonly calls: Call[] = [];
  answer: (call: Call) => [number, unknown] = () => [404, { error: "not_found", message: "unscripted" }];
  private readonly server: Server;
  private waiters: Array<{ accept: (c: Call) => boolean; resolve: (c: Call) => void }> = [];

  constructor() {
    this.server = createServer(async (request: IncomingMessage, response) => {
      let text = "";
      for await (const chunk of request) text += chunk;
      const call: Call = {
        method: request.method ?? "",
        path: request.url ?? "",
        token: (request.headers.authorization ?? "").replace(/^Bearer /, ""),
        body: text ? JSON.parse(text) : undefined,
      };
      this.calls.push(call);
      const [status, body] = this.answer(call);
      response.writeHead(status, { "content-type": "application/json" }).end(body === undefined ? "" : JSON.stringify(body));
      this.waiters = this.waiters.filter((w) => {
        if (!w.accept(call)) return true;
        w.resolve(call);
        return false;
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  call(accept: (c: Call) => boolean): Promise<Call> {
    const done = this.calls.find(accept);
    if (done) return Promise.resolve(done);
    return new Promise((resolve) => this.waiters.push({ accept, resolve }));
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const pools: FakePool[] = [];
const servers: GameServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  for (const p of pools.splice(0)) await p.stop();
});

async function pool(): Promise<[FakePool, string]> {
  const p = new FakePool();
  pools.push(p);
  return [p, await p.start()];
}

const SERVER = { id: "gs-1", region: "eu", address: "127.0.0.1:7777", capacity: 2 };
const REGISTERED = { id: "gs-1", heartbeat_interval_ms: 50, server_token: "own-token", incarnation: 7 };
const ASSIGNMENT: Assignment = {
  match: "m-1",
  queue: "duel",
  region: "eu",
  teams: [[{ player: "alice", rating: 1500 }], [{ player: "bob", rating: 1500 }]],
};

test("registers with the fleet token, then every call carries the server's own token", async () => {
  const [fake, url] = await pool();
  let polls = 0;
  fake.answer = (call) => {
    if (call.path === "/v1/servers") return [201, REGISTERED];
    if (call.path.startsWith("/v1/servers/gs-1/assignments")) {
      polls++;
      return [200, { assignments: polls === 1 ? [ASSIGNMENT] : [] }];
    }
    if (call.path === "/v1/matches/m-1/ack") return [204, undefined];
    if (call.path === "/v1/servers/gs-1/heartbeat") return [200, { assignments: [] }];
    if (call.path === "/v1/servers/gs-1") return [204, undefined];
    return [404, { error: "not_found", message: call.path }];
  };
  const started: Assignment[] = [];
  const server = new GameServer({
    pool: { urls: [url], registrationToken: "fleet-token" },
    server: SERVER,
    longPollMs: 50,
    onAssignment: (a) => void started.push(a),
  });
  servers.push(server);
  const registered = await server.start();
  assert.equal(registered.incarnation, 7);
  const beat = await fake.call((c) => c.path.endsWith("/heartbeat") && (c.body as { games: string[] }).games.length === 1);
  assert.deepEqual(beat.body, { active_games: 1, games: ["m-1"] }, "the heartbeat lists the game in play");
  assert.equal(started[0]?.match, "m-1");
  // The acknowledgement came before the next poll.
  const ackAt = fake.calls.findIndex((c) => c.path.endsWith("/ack"));
  const pollsBeforeAck = fake.calls.slice(0, ackAt).filter((c) => c.path.includes("/assignments")).length;
  assert.equal(pollsBeforeAck, 1);
  assert.equal(fake.calls[0]?.token, "fleet-token");
  assert.ok(fake.calls.slice(1).every((c) => c.token === "own-token"), "nothing else carries the fleet token");
});

test("an assignment of a running match is a backfill update, acknowledged again", async () => {
  const [fake, url] = await pool();
  const backfilled: Assignment = {
    ...ASSIGNMENT,
    teams: [[{ player: "alice", rating: 1500 }], [{ player: "carol", rating: 1490 }]],
    backfilled: ["carol"],
  };
  let polls = 0;
  fake.answer = (call) => {
    if (call.path === "/v1/servers") return [201, REGISTERED];
    if (call.path.includes("/assignments")) {
      polls++;
      return [200, { assignments: polls === 1 ? [ASSIGNMENT] : polls === 2 ? [backfilled] : [] }];
    }
    return [call.path.endsWith("/heartbeat") ? 200 : 204, call.path.endsWith("/heartbeat") ? { assignments: [] } : undefined];
  };
  const updates: Assignment[] = [];
  let gotUpdate: () => void = () => undefined;
  const updated = new Promise<void>((resolve) => (gotUpdate = resolve));
  const server = new GameServer({
    pool: { urls: [url], registrationToken: "fleet-token" },
    server: SERVER,
    longPollMs: 50,
    onAssignment: () => undefined,
    onUpdate: (a) => {
      updates.push(a);
      gotUpdate();
    },
  });
  servers.push(server);
  await server.start();
  await updated;
  assert.deepEqual(updates[0]?.backfilled, ["carol"]);
  assert.deepEqual(server.games.get("m-1")?.teams[1]?.[0]?.player, "carol");
  // The game had the update before the pool was told it was taken.
  const acks = (): number => fake.calls.filter((c) => c.path === "/v1/matches/m-1/ack").length;
  assert.equal(acks(), 1, "the update is acknowledged only after the game has it");
  await fake.call((c) => c.path === "/v1/matches/m-1/ack" && acks() === 2);
});

test("a heartbeat answered 404 registers again; 410 means drained, and the server stops", async () => {
  const [fake, url] = await pool();
  let beats = 0;
  fake.answer = (call) => {
    if (call.path === "/v1/servers") return [201, REGISTERED];
    if (call.path.includes("/assignments")) return [200, { assignments: [] }];
    if (call.path.endsWith("/heartbeat")) {
      beats++;
      if (beats === 1) return [404, { error: "not_found", message: "reaped" }];
      if (beats === 2) return [200, { assignments: [], draining: true }];
      return [410, { error: "drained", message: "gone" }];
    }
    return [204, undefined];
  };
  const standings: string[] = [];
  const server = new GameServer({
    pool: { urls: [url], registrationToken: "fleet-token" },
    server: SERVER,
    longPollMs: 50,
    onAssignment: () => undefined,
    onStanding: (s) => standings.push(s),
  });
  servers.push(server);
  await server.start();
  await server.drained;
  assert.equal(fake.calls.filter((c) => c.path === "/v1/servers").length, 2, "registered again after the 404");
  assert.deepEqual(standings, ["draining", "drained"]);
  assert.equal(server.poolStanding, "drained");
});

test("a result is posted again through a 503 until recorded; another refusal is a PoolError", async () => {
  const [fake, url] = await pool();
  let posts = 0;
  fake.answer = (call) => {
    if (call.path === "/v1/servers") return [201, REGISTERED];
    if (call.path === "/v1/matches/m-1/result") {
      posts++;
      return posts < 3 ? [503, { error: "unavailable", message: "no replica yet" }] : [202, { recorded: true }];
    }
    if (call.path === "/v1/matches/m-2/result") return [409, { error: "conflict", message: "a different result" }];
    return [404, { error: "not_found", message: call.path }];
  };
  const client = new PoolClient({ urls: [url], registrationToken: "fleet-token" });
  await client.register(SERVER);
  assert.equal(await client.result("m-1", { placements: [["alice"], ["bob"]] }), "recorded");
  assert.equal(posts, 3);
  await assert.rejects(client.result("m-2", { placements: [["alice"]] }), (error: unknown) => {
    assert.ok(error instanceof PoolError);
    assert.equal(error.status, 409);
    assert.equal(error.error, "conflict");
    return true;
  });
});

test("registration waits out id_in_use and gives up on a wrong token", async () => {
  const [fake, url] = await pool();
  let attempts = 0;
  fake.answer = (call) => {
    if (call.token !== "fleet-token") return [401, { error: "unauthorized", message: "wrong token" }];
    attempts++;
    return attempts < 2 ? [409, { error: "id_in_use", message: "alive" }] : [201, REGISTERED];
  };
  const client = new PoolClient({ urls: [url], registrationToken: "fleet-token" });
  assert.equal((await client.register(SERVER)).server_token, "own-token");
  const wrong = new PoolClient({ urls: [url], registrationToken: "not-the-token" });
  await assert.rejects(wrong.register(SERVER), (error: unknown) => error instanceof PoolError && error.status === 401);
});
