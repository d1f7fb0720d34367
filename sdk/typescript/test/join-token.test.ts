// The join-token check against PROTOCOL.md section 2's test vector, and its refusals.
import { test } from "node:test";
import assert from "node:assert/strict";

import { joinToken, verifyJoinToken } from "../src/game-server/index.js";

const SECRET = "rallypoint-dev-join-secret-0123456789";
const CLAIM = { match: "m-1", player: "alice", server: "gs-eu-1" };
const EXPIRES = 1767225600000;
const VECTOR = "v2.1767225600000.h6Wo3UlGFf_SwqQn73Oz6IHhLOFkaGR5D4a-7c47-WM";

test("signs PROTOCOL.md's test vector", () => {
  assert.equal(joinToken(SECRET, CLAIM, EXPIRES), VECTOR);
});

test("admits the test vector's player until it expires", () => {
  assert.deepEqual(verifyJoinToken(VECTOR, CLAIM, SECRET, EXPIRES - 1), { ok: true, expiresMs: EXPIRES });
  assert.deepEqual(verifyJoinToken(VECTOR, CLAIM, SECRET, EXPIRES), { ok: false, reason: "expired" });
});

test("refuses another player, match or server, and another secret", () => {
  const now = EXPIRES - 1;
  for (const other of [
    { ...CLAIM, player: "bob" },
    { ...CLAIM, match: "m-2" },
    { ...CLAIM, server: "gs-eu-2" },
  ]) {
    assert.deepEqual(verifyJoinToken(VECTOR, other, SECRET, now), { ok: false, reason: "bad_signature" });
  }
  assert.deepEqual(verifyJoinToken(VECTOR, CLAIM, "another-secret-0123456789abcdef", now), {
    ok: false,
    reason: "bad_signature",
  });
});

test("accepts the previous secret during a rotation", () => {
  const now = EXPIRES - 1;
  assert.equal(verifyJoinToken(VECTOR, CLAIM, ["the-new-secret-0123456789abcdef", SECRET], now).ok, true);
});

test("refuses what is not a token, whatever its shape", () => {
  const now = EXPIRES - 1;
  for (const token of [
    "",
    "v1.1767225600000.h6Wo3UlGFf_SwqQn73Oz6IHhLOFkaGR5D4a-7c47-WM",
    "v2.+1767225600000.h6Wo3UlGFf_SwqQn73Oz6IHhLOFkaGR5D4a-7c47-WM",
    "v2.1767225600000",
    "v2.1767225600000.h6Wo3UlGFf_SwqQn73Oz6IHhLOFkaGR5D4a-7c47-WM.extra",
    "v2.1767225600000.not base64!",
  ]) {
    assert.deepEqual(verifyJoinToken(token, CLAIM, SECRET, now), { ok: false, reason: "malformed" }, token);
  }
  // Well formed but cut short: not signed so.
  assert.deepEqual(verifyJoinToken("v2.1767225600000.h6Wo3UlG", CLAIM, SECRET, now), {
    ok: false,
    reason: "bad_signature",
  });
});
