// The SDK against real gateways (run by tests/tests/typescript_sdk.rs, which starts the
// platform and passes its addresses): a player's gateway is SIGKILLed mid-session; the
// SDK reconnects to the other gateway by itself, and its queue ticket and its room are
// still there.
//
//   RALLYPOINT_E2E_URLS      the gateways' WebSocket URLs, comma-separated
//   RALLYPOINT_E2E_KILL_PID  the pid of the first gateway (the one to kill)
//   RALLYPOINT_E2E_NS        a unique suffix for player and room names
import { test } from "node:test";
import assert from "node:assert/strict";

import { Client } from "../../src/index.js";
import { next } from "../events.js";

const urls = (process.env.RALLYPOINT_E2E_URLS ?? "").split(",").filter(Boolean);
const killPid = Number(process.env.RALLYPOINT_E2E_KILL_PID);
const ns = process.env.RALLYPOINT_E2E_NS ?? "local";

test("a killed gateway: the SDK reconnects to the other, its ticket and room still there", { timeout: 60_000 }, async () => {
  assert.ok(urls.length >= 2 && killPid > 0, "give RALLYPOINT_E2E_URLS (two gateways) and RALLYPOINT_E2E_KILL_PID");
  const room = `e2e-room-${ns}`;
  const player = await Client.connect({ urls, auth: { guest: `ts-player-${ns}` }, reconnect: { initialMs: 100, maxMs: 1_000 } });
  const friend = await Client.connect({ urls: [urls[1]!], auth: { guest: `ts-friend-${ns}` } });
  try {
    const home = player.welcome.gateway;
    assert.notEqual(home, friend.welcome.gateway, "the player is on the first gateway, the friend on the second");
    const events = player.events();
    await player.joinRoom(room);
    await friend.joinRoom(room);
    const joined = await player.joinQueue("duel", "eu");
    assert.equal(joined.queue, "duel");
    const before = await player.queueStatus();
    assert.equal(before.state, "searching");

    process.kill(killPid, "SIGKILL");
    const lost = await next(events, "disconnected");
    assert.match(lost.reason, /closed|dropped/);
    const back = await next(events, "reconnected");
    assert.notEqual(back.welcome.gateway, home);
    assert.equal(back.welcome.gateway, friend.welcome.gateway, "moved to the gateway still standing");
    assert.equal(player.welcome.gateway, back.welcome.gateway);
    // The ticket survived the gateway: still searching, in the same queue, its wait kept.
    assert.equal(back.status?.state, "searching", JSON.stringify(back.status));
    assert.equal(back.status?.queue, "duel");
    assert.ok((back.status?.waited_ms ?? 0) >= (before.waited_ms ?? 0));
    // And the room: a message sent there now reaches the player on its new gateway.
    const heard = player.nextPush("room.message", (m) => m.room === room, 10_000);
    await friend.sendToRoom(room, { after: "the crash" });
    const message = await heard;
    assert.equal(message.from, `guest:ts-friend-${ns}`);
    assert.deepEqual(message.body, { after: "the crash" });
    await player.leaveQueue();
  } finally {
    player.close();
    friend.close();
  }
});
