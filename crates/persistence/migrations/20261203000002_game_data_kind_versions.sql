-- A kind's version is now drawn while its row is locked, so versions of one kind are
-- handed out in commit order (a snapshot at version N has every change up to N, and every
-- later change gets a higher number), and a delete can no longer move it backwards.
-- TRUNCATE, which fires no row triggers, moves every kind's version.

CREATE OR REPLACE FUNCTION game_data_kind_bump() RETURNS trigger AS $$
BEGIN
    -- DO UPDATE runs with the kind's row locked: a concurrent change of the kind waits for
    -- this transaction and then draws a higher number.
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.kind <> NEW.kind) THEN
        INSERT INTO game_data_kinds (kind, version) VALUES (OLD.kind, nextval('game_data_version'))
            ON CONFLICT (kind) DO UPDATE SET version = nextval('game_data_version');
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO game_data_kinds (kind, version) VALUES (NEW.kind, nextval('game_data_version'))
            ON CONFLICT (kind) DO UPDATE SET version = nextval('game_data_version');
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION game_data_truncated() RETURNS trigger AS $$
BEGIN
    UPDATE game_data_kinds SET version = nextval('game_data_version');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER game_data_truncated AFTER TRUNCATE ON game_data
    FOR EACH STATEMENT EXECUTE FUNCTION game_data_truncated();
