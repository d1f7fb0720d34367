// Reading a client's events in tests.
import assert from "node:assert/strict";

import type { ClientEvent } from "../src/index.js";

/** The next event of `kind` from an iterator (others are passed over). */
export async function next<K extends ClientEvent["kind"]>(
  events: AsyncIterator<ClientEvent>,
  kind: K,
): Promise<Extract<ClientEvent, { kind: K }>> {
  for (;;) {
    const { value, done } = await events.next();
    assert.ok(!done, `the events ended before a ${kind}`);
    if (value.kind === kind) return value as Extract<ClientEvent, { kind: K }>;
  }
}
