/** Waiting, and calls retried with a doubling pause: the one way the SDKs wait and retry. */

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `attempt` until it resolves, pausing 200 ms, then twice as long each time up to
 * 5 s, after each failure `retryable` accepts; any other failure, or the last of
 * `attempts` (default: no limit), is thrown.
 */
export async function retrying<T>(
  attempt: () => Promise<T>,
  retryable: (error: unknown) => boolean,
  attempts?: number,
): Promise<T> {
  let pause = 200;
  for (let tried = 1; ; tried++) {
    try {
      return await attempt();
    } catch (error) {
      if (!retryable(error) || (attempts !== undefined && tried >= attempts)) throw error;
    }
    await sleep(pause);
    pause = Math.min(pause * 2, 5_000);
  }
}
