/**
 * Pauses between reconnect attempts: exponential with full jitter, so that the players of
 * a gateway that went away do not all come back in the same instant.
 */

/** How reconnecting is paced. */
export interface ReconnectOptions {
  /** The cap of the first attempt's pause, in ms (200). */
  initialMs?: number;
  /** The longest pause, in ms (5,000). */
  maxMs?: number;
  /** Give up after this many failed attempts in a row (never: `undefined`). */
  attempts?: number;
}

/**
 * The pause before attempt `failures + 1`: a random time up to `initialMs * 2^failures`,
 * capped at `maxMs`. `random` is injectable for tests.
 */
export function backoffDelay(
  failures: number,
  options: Required<Pick<ReconnectOptions, "initialMs" | "maxMs">>,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(failures, 30));
  return Math.floor(random() * ceiling);
}
