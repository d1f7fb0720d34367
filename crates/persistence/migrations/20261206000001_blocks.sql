-- Who blocked whom: whispers from a blocked player are not delivered to the player who
-- blocked them. The gateway changes the list in Redis and leaves each change in an outbox
-- the cache-warmer applies here; this table is what a player's list is loaded from when
-- Redis does not have it.
CREATE TABLE blocks (
    player     TEXT NOT NULL,
    blocked    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (player, blocked)
);
