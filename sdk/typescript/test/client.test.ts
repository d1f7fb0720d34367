// The client's own behaviour against scripted gateways (test/fake-gateway.ts): replies by
// rid, errors and timeouts, pushes as events, pings, reconnection and resume.
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";

import {
  Client,
  ClosedError,
  ConnectError,
  DisconnectedError,
  RequestError,
  TimeoutError,
  type ClientOptions,
  type WebSocketConstructor,
} from "../src/index.js";
import { next } from "./events.js";
import { FakeGateway } from "./fake-gateway.js";

const running: Array<FakeGateway | Client> = [];
afterEach(async () => {
  for (const thing of running.splice(0)) {
    if (thing instanceof Client) thing.close();
    else await thing.stop();
  }
});

async function gateway(name: string, heartbeatMs?: number): Promise<FakeGateway> {
  const g = await FakeGateway.start(name, heartbeatMs);
  running.push(g);
  return g;
}

async function connect(urls: string[], options: Partial<ClientOptions> = {}): Promise<Client> {
  const client = await Client.connect({
    urls,
    auth: { guest: "alice" },
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    reconnect: { initialMs: 20, maxMs: 100 },
    ...options,
  });
  running.push(client);
  return client;
}


test("connects as a guest in JSON and settles each request with the reply of the same rid", async () => {
  const g = await gateway("gw-a");
  const client = await connect([g.url]);
  assert.equal(client.player, "guest:alice");
  assert.equal(client.welcome.gateway, "gw-a");
  assert.equal(g.queries[0]?.get("guest"), "alice");
  assert.equal(g.protocols[0], "rallypoint.v1.json");
  // Answered out of order: each promise gets its own reply.
  g.answer = (frame, socket) => {
    if (frame.type === "profile.get") {
      setTimeout(() => socket.send(JSON.stringify({ type: "profile", player: "guest:alice", name: "alice", rating: 1500, games: 0, rid: frame.rid })), 20);
      return {};
    }
    return undefined;
  };
  const [profile, status] = await Promise.all([client.profile(), client.queueStatus()]);
  assert.equal(profile.type, "profile");
  assert.equal(profile.rating, 1500);
  assert.equal(status.state, "searching");
  const rids = g.received.filter((f) => f.type !== "ping").map((f) => f.rid);
  assert.equal(new Set(rids).size, rids.length, "every request has its own rid");
});

test("a token is sent as ?token= (what browsers can send), URL-encoded", async () => {
  const g = await gateway("gw-a");
  await connect([`${g.url}?region=eu`], { auth: { token: "a.b+c/d=" } });
  assert.equal(g.queries[0]?.get("token"), "a.b+c/d=");
  assert.equal(g.queries[0]?.get("region"), "eu", "the URL's own query is kept");
  assert.equal(g.queries[0]?.get("guest"), null);
});

test("an error reply rejects with its protocol code; no reply rejects with a timeout", async () => {
  const g = await gateway("gw-a");
  const client = await connect([g.url], { requestTimeoutMs: 150 });
  await assert.rejects(client.whisper("nobody", "hi"), (error: unknown) => {
    assert.ok(error instanceof RequestError);
    assert.equal(error.code, "not_online");
    return true;
  });
  g.answer = (frame) => (frame.type === "party.get" ? {} : undefined);
  await assert.rejects(client.party(), TimeoutError);
});

test("a body over 4 KiB is refused before it is sent", async () => {
  const g = await gateway("gw-a");
  const client = await connect([g.url]);
  await assert.rejects(client.sendToRoom("r", "x".repeat(5000)), /4096/);
  assert.ok(!g.received.some((f) => f.type === "room.send"));
});

test("pushes reach their typed listeners, the catch-all and every iterator, in order", async () => {
  const g = await gateway("gw-a");
  const client = await connect([g.url]);
  const events = client.events();
  const typed: string[] = [];
  const all: string[] = [];
  client.on("whisper", (w) => typed.push(String(w.body)));
  client.on("push", (m) => all.push(m.type));
  g.push({ type: "whisper", from: "guest:bob", body: "one", ts: 1 });
  g.push({ type: "notice", body: "two", ts: 2 });
  g.push({ type: "whisper", from: "guest:bob", body: "three", ts: 3 });
  const seen = [];
  for (let i = 0; i < 3; i++) seen.push((await next(events, "push")).message.type);
  assert.deepEqual(seen, ["whisper", "notice", "whisper"]);
  assert.deepEqual(typed, ["one", "three"]);
  assert.deepEqual(all, ["whisper", "notice", "whisper"]);
  const found = client.nextPush("match.found", (m) => m.match === "m-2");
  g.push({ type: "match.found", match: "m-1", queue: "duel", region: "eu", teams: [], server: { id: "s", address: "a:1" }, join_token: "t" });
  g.push({ type: "match.found", match: "m-2", queue: "duel", region: "eu", teams: [], server: { id: "s", address: "a:1" }, join_token: "t" });
  assert.equal((await found).match, "m-2");
});

test("pings on the welcome's heartbeat without a rid", async () => {
  const g = await gateway("gw-a", 40);
  await connect([g.url]);
  await g.frame((f) => f.type === "ping");
  const second = await g.frame((f) => f.type === "ping");
  assert.equal(second.rid, undefined);
});

test("speaks MessagePack in binary frames when asked", async () => {
  const g = await gateway("gw-a");
  const client = await connect([g.url], { encoding: "msgpack" });
  assert.equal(g.protocols[0], "rallypoint.v1.msgpack");
  const sent = await client.sendToRoom("lobby:x", { n: 1 });
  assert.equal(sent.room, "lobby:x");
  assert.deepEqual(g.received.find((f) => f.type === "room.send")?.body, { n: 1 });
});

test("connect moves on to the next URL when one does not answer", async () => {
  const g = await gateway("gw-b");
  const client = await connect(["ws://127.0.0.1:1/ws", g.url]);
  assert.equal(client.welcome.gateway, "gw-b");
  await assert.rejects(connect(["ws://127.0.0.1:1/ws"]), ConnectError);
});

test("a dropped connection moves to the next gateway, rejoins its rooms with since and asks queue.status", async () => {
  const a = await gateway("gw-a");
  const b = await gateway("gw-b");
  const client = await connect([a.url, b.url]);
  const events = client.events();
  await client.joinRoom("lobby:x");
  await client.joinRoom("plain");
  await client.leaveRoom("plain").catch(() => undefined);
  a.push({ type: "room.message", room: "lobby:x", from: "guest:bob", body: "m41", ts: 1, offset: 41 });
  a.push({ type: "room.message", room: "lobby:x", from: "guest:bob", body: "m42", ts: 2, offset: 42 });
  await next(events, "push");
  await next(events, "push");
  const rejoin = b.frame((f) => f.type === "room.join");
  a.sockets[0]?.terminate();
  const disconnected = await next(events, "disconnected");
  assert.match(disconnected.reason, /closed by the gateway/);
  // Meanwhile, a request fails at once rather than waiting.
  await assert.rejects(client.ping(), DisconnectedError);
  const reconnected = await next(events, "reconnected");
  assert.equal(reconnected.welcome.gateway, "gw-b");
  assert.equal(reconnected.status?.state, "searching");
  assert.deepEqual(await rejoin, { type: "room.join", room: "lobby:x", since: 42 });
  assert.ok(!b.received.some((f) => f.type === "room.join" && f.room === "plain"), "a room left is not rejoined");
  assert.equal((await client.ping()).type, "pong");
});

test("a reconnect push is honoured: the client waits after_ms, then moves", async () => {
  const a = await gateway("gw-a");
  const b = await gateway("gw-b");
  const client = await connect([a.url, b.url]);
  const events = client.events();
  const asked = Date.now();
  a.push({ type: "reconnect", reason: "draining", after_ms: 300 });
  assert.equal((await next(events, "push")).message.type, "reconnect");
  await next(events, "reconnected");
  assert.ok(Date.now() - asked >= 300, "not before after_ms");
  assert.equal(b.sockets.length, 1);
});

test("after close code 4001 the client never reconnects and every call is refused", async () => {
  const a = await gateway("gw-a");
  const b = await gateway("gw-b");
  const client = await connect([a.url, b.url]);
  const events = client.events();
  const pending = client.party();
  a.answer = () => ({});
  a.sockets[0]?.close(4001, "session replaced");
  const closed = await next(events, "closed");
  assert.equal(closed.code, 4001);
  await assert.rejects(pending, ClosedError);
  await assert.rejects(client.ping(), ClosedError);
  assert.equal(client.connected, false);
  const { done } = await events.next();
  assert.ok(done, "the events end with the client");
  assert.equal(b.sockets.length, 0, "nothing reconnected");
});

test("gives up after the configured attempts and says so", async () => {
  const a = await gateway("gw-a");
  const client = await connect([a.url, "ws://127.0.0.1:1/ws"], { reconnect: { initialMs: 5, maxMs: 10, attempts: 3 } });
  const events = client.events();
  await a.stop();
  const closed = await next(events, "closed");
  assert.match(closed.reason, /gave up reconnecting/);
});
