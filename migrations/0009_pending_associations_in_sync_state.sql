-- Ids whose associations are still to be read move into their type's sync_state row. Each page already
-- rewrites that row (its cursor), so the ids ride along: a page no longer inserts a row per record into
-- a queue table that an association batch then deletes again (association work as a whole was about a
-- fifth of a first full sync's time).
ALTER TABLE sync_state ADD COLUMN pending_associations bigint[] NOT NULL DEFAULT '{}';

INSERT INTO sync_state (object_type)
SELECT DISTINCT object_type FROM sync_pending_associations ON CONFLICT (object_type) DO NOTHING;
UPDATE sync_state s SET pending_associations = p.ids
FROM (SELECT object_type, array_agg(id ORDER BY id) AS ids FROM sync_pending_associations GROUP BY object_type) p
WHERE p.object_type = s.object_type;

DROP TABLE sync_pending_associations;
