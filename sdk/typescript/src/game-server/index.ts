/**
 * Rallypoint's game-server SDK for Node: the server pool's protocol (PROTOCOL.md section
 * 2) and the join-token check a game server makes when a player connects.
 *
 * ```ts
 * const server = new GameServer({
 *   pool: { urls: ["http://127.0.0.1:8090"], registrationToken: process.env.POOL_TOKEN! },
 *   server: { id: "gs-eu-1", region: "eu", address: "127.0.0.1:7777", capacity: 4 },
 *   onAssignment: (match) => startGame(match),
 * });
 * await server.start();
 * // when a player connects: verifyJoinToken(token, { match, player, server: "gs-eu-1" }, joinSecret)
 * // when a game ends:      await server.finish(match, { placements: [[winner], [loser]] })
 * ```
 */
export { GameServer } from "./server.js";
export type { GameServerOptions } from "./server.js";
export { PoolClient, PoolError, PoolUnreachableError } from "./pool.js";
export type { PoolClientOptions, Standing } from "./pool.js";
export { joinToken, verifyJoinToken } from "./join-token.js";
export type { JoinCheck, JoinClaim } from "./join-token.js";
export type {
  Assignment,
  AssignmentsReply,
  BackfillAccepted,
  BackfillRequest,
  Heartbeat,
  MatchResult,
  RegisterServer,
  Registered,
} from "../protocol.js";
