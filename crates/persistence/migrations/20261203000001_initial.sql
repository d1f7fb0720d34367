-- Rallypoint's system of record: players and their ratings, match history, static game data.

-- A player as the platform knows them. `version` grows with every change, so a cached copy
-- (the profile hash in Redis) can refuse to be overwritten by an older read.
CREATE TABLE players (
    id            text PRIMARY KEY,
    display_name  text NOT NULL,
    rating        double precision NOT NULL,
    games_played  integer NOT NULL DEFAULT 0,
    version       bigint NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- A finished match. The primary key makes storing a result idempotent: a result delivered
-- twice is stored once.
CREATE TABLE matches (
    id           text PRIMARY KEY,
    queue        text NOT NULL,
    region       text NOT NULL,
    server       text NOT NULL,
    formed_at    timestamptz,
    started_at   timestamptz,
    ended_at     timestamptz NOT NULL,
    -- {"placements": [[player ids]] best first, "stats": game-defined, as posted}
    outcome      jsonb NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX matches_ended_at ON matches (ended_at);

-- Who played a match, in which team, where they placed (1 = best), and how their rating moved.
CREATE TABLE match_participants (
    match_id       text NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
    player_id      text NOT NULL REFERENCES players (id),
    team           integer NOT NULL,
    placement      integer NOT NULL,
    rating_before  double precision NOT NULL,
    rating_after   double precision NOT NULL,
    PRIMARY KEY (match_id, player_id)
);
CREATE INDEX match_participants_player ON match_participants (player_id);

-- Static game data (items, maps, modes...): JSON documents by kind and id. Every change,
-- however it is made (the store's functions or plain SQL by an operator), takes a new
-- version from one sequence, and the kind's version moves with it, so a reader can tell a
-- stale copy from a fresh one.
CREATE SEQUENCE game_data_version;

CREATE TABLE game_data (
    kind        text NOT NULL,
    id          text NOT NULL,
    document    jsonb NOT NULL,
    version     bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, id)
);

CREATE TABLE game_data_kinds (
    kind     text PRIMARY KEY,
    version  bigint NOT NULL
);

CREATE FUNCTION game_data_stamp() RETURNS trigger AS $$
BEGIN
    NEW.version := nextval('game_data_version');
    NEW.updated_at := now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER game_data_stamp BEFORE INSERT OR UPDATE ON game_data
    FOR EACH ROW EXECUTE FUNCTION game_data_stamp();

CREATE FUNCTION game_data_kind_bump() RETURNS trigger AS $$
BEGIN
    -- A deleted row, or a row moved to another kind, changes the kind it left.
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.kind <> NEW.kind) THEN
        INSERT INTO game_data_kinds (kind, version) VALUES (OLD.kind, nextval('game_data_version'))
            ON CONFLICT (kind) DO UPDATE SET version = EXCLUDED.version;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO game_data_kinds (kind, version) VALUES (NEW.kind, NEW.version)
            ON CONFLICT (kind) DO UPDATE SET version = GREATEST(game_data_kinds.version, EXCLUDED.version);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER game_data_kind_bump AFTER INSERT OR UPDATE OR DELETE ON game_data
    FOR EACH ROW EXECUTE FUNCTION game_data_kind_bump();
