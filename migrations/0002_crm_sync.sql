-- CRM records as HubSpot holds them, for every object type in one table (object types differ only in
-- names): the raw properties as JSONB, plus what the sync needs to stay correct.
CREATE TABLE crm_objects (
  object_type text NOT NULL,
  id          bigint NOT NULL,
  properties  jsonb NOT NULL,
  created_at  timestamptz,
  updated_at  timestamptz,
  archived    boolean NOT NULL DEFAULT false,
  archived_at timestamptz,
  synced_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (object_type, id)
);

CREATE TABLE crm_associations (
  from_type text NOT NULL,
  from_id   bigint NOT NULL,
  to_type   text NOT NULL,
  to_id     bigint NOT NULL,
  PRIMARY KEY (from_type, from_id, to_type, to_id)
);
CREATE INDEX crm_associations_reverse ON crm_associations (to_type, to_id, from_type);

-- Per object type: where the last sync got to. Written in the same transaction as the rows it covers,
-- so a sync killed at any point resumes with at most the page in flight read again.
CREATE TABLE sync_state (
  object_type        text PRIMARY KEY,
  watermark          timestamptz,  -- changes from here on (less an overlap) are read next time
  full_cursor        text,         -- a full sync in progress: the next page's `after`
  full_started_at    timestamptz,
  incr_last_id       bigint,       -- an incremental sync in progress: the last hs_object_id written
  incr_started_at    timestamptz,
  updated_at         timestamptz NOT NULL DEFAULT now()
);
