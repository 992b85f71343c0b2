-- Records HubSpot no longer has: hard-deleted (gone from the list and the archive alike) or merged into
-- another record. The sync's id sweep finds them and archives them here, so nothing scores or counts
-- them, saying why; their rows and history stay. A record HubSpot lists again clears both.
ALTER TABLE crm_objects ADD COLUMN deleted_at timestamptz, ADD COLUMN merged_into bigint;

-- Each object type's id sweep: ids up to last_id are checked while one is in progress (an interrupted
-- sweep resumes there); finished_at says when the last one completed.
CREATE TABLE sync_sweeps (
  object_type text PRIMARY KEY,
  last_id     bigint,
  started_at  timestamptz,
  finished_at timestamptz
);
