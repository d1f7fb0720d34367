/**
 * Join tokens (PROTOCOL.md section 2, "Join tokens"): the proof a connecting player shows
 * a game server that it belongs to one of the server's matches. The server pool issues
 * one per player in `match.found`; the game server checks it with the join secret.
 *
 *   token   = "v2." expires_ms "." base64url_nopad(HMAC-SHA256(join_secret, message))
 *   message = "rallypoint-join-v2\n" match "\n" player "\n" server "\n" expires_ms
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** What a join token is for. */
export interface JoinClaim {
  match: string;
  player: string;
  /** The game server the match was given to (this server's id). */
  server: string;
}

/** Why a token was refused, or when it expires. */
export type JoinCheck =
  | { ok: true; expiresMs: number }
  | { ok: false; reason: "malformed" | "expired" | "bad_signature" };

function signature(secret: string | Uint8Array, claim: JoinClaim, expiresMs: number): Buffer {
  return createHmac("sha256", secret)
    .update(`rallypoint-join-v2\n${claim.match}\n${claim.player}\n${claim.server}\n${expiresMs}`)
    .digest();
}

/** The join token for `claim` until `expiresMs`, signed with `secret` (the pool makes these; tests too). */
export function joinToken(secret: string | Uint8Array, claim: JoinClaim, expiresMs: number): string {
  return `v2.${expiresMs}.${signature(secret, claim, expiresMs).toString("base64url")}`;
}

/**
 * Checks a player's join token: signed with one of `secrets` (the current join secret,
 * and during a rotation the previous one) for this match, player and server, and not
 * expired at `nowMs`. Compares in constant time.
 */
export function verifyJoinToken(
  token: string,
  claim: JoinClaim,
  secrets: string | Uint8Array | Array<string | Uint8Array>,
  nowMs: number = Date.now(),
): JoinCheck {
  const parts = token.split(".");
  // Digits only ("+5" or " 5" would parse but sign differently); base64url without padding.
  if (
    parts.length !== 3 ||
    parts[0] !== "v2" ||
    !/^[0-9]{1,15}$/.test(parts[1] ?? "") ||
    !/^[A-Za-z0-9_-]*$/.test(parts[2] ?? "")
  ) {
    return { ok: false, reason: "malformed" };
  }
  const expiresMs = Number(parts[1]);
  const given = Buffer.from(parts[2] ?? "", "base64url");
  const keys = Array.isArray(secrets) ? secrets : [secrets];
  const signed =
    given.length === 32 && keys.some((secret) => timingSafeEqual(given, signature(secret, claim, expiresMs)));
  if (!signed) return { ok: false, reason: "bad_signature" };
  if (nowMs >= expiresMs) return { ok: false, reason: "expired" };
  return { ok: true, expiresMs };
}
