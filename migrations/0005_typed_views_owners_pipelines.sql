-- Typed, canonical values next to the raw properties: the sync parses each mapped property once
-- (numbers as numbers, dates as ISO 8601, booleans as booleans, malformed values left out), so the
-- views below can cast without ever failing, whatever the portal's property names are.
ALTER TABLE crm_objects ADD COLUMN fields jsonb NOT NULL DEFAULT '{}';

-- One relation per object type with the typed columns scoring, workflows and KPIs read.
CREATE VIEW companies AS
SELECT id, fields->>'name' AS name, fields->>'domain' AS domain, fields->>'owner_id' AS owner_id,
       fields->>'plan' AS plan, (fields->>'contract_start_date')::timestamptz AS contract_start_date,
       (fields->>'renewal_date')::timestamptz AS renewal_date, (fields->>'mrr')::float8 AS mrr,
       (fields->>'licensed_seats')::float8 AS licensed_seats,
       (fields->>'active_users_30d')::float8 AS active_users_30d,
       (fields->>'logins_30d')::float8 AS logins_30d, (fields->>'features_used')::float8 AS features_used,
       fields->>'goal_status' AS goal_status, fields->>'cs_stage' AS cs_stage,
       (fields->>'last_contacted')::timestamptz AS last_contacted, created_at, updated_at, archived
FROM crm_objects WHERE object_type = 'companies';

CREATE VIEW contacts AS
SELECT id, fields->>'email' AS email, (fields->>'key_person')::boolean AS key_person,
       (fields->>'departed')::boolean AS departed, created_at, updated_at, archived
FROM crm_objects WHERE object_type = 'contacts';

CREATE VIEW deals AS
SELECT id, fields->>'name' AS name, fields->>'stage' AS stage, fields->>'pipeline' AS pipeline,
       (fields->>'amount')::float8 AS amount, (fields->>'close_date')::timestamptz AS close_date,
       fields->>'owner_id' AS owner_id, created_at, updated_at, archived
FROM crm_objects WHERE object_type = 'deals';

CREATE VIEW tickets AS
SELECT id, fields->>'pipeline' AS pipeline, fields->>'stage' AS stage, fields->>'priority' AS priority,
       fields->>'category' AS category, (fields->>'closed_at')::timestamptz AS closed_at,
       (fields->>'time_to_close_ms')::float8 AS time_to_close_ms, created_at, updated_at, archived
FROM crm_objects WHERE object_type = 'tickets';

CREATE VIEW meetings AS
SELECT id, (fields->>'start_time')::timestamptz AS start_time, fields->>'outcome' AS outcome,
       fields->>'owner_id' AS owner_id, created_at, updated_at, archived
FROM crm_objects WHERE object_type = 'meetings';

CREATE VIEW feedback_submissions AS
SELECT id, fields->>'survey_type' AS survey_type, (fields->>'value')::float8 AS value,
       fields->>'response_group' AS response_group, (fields->>'submitted_at')::timestamptz AS submitted_at,
       created_at, updated_at, archived
FROM crm_objects WHERE object_type = 'feedback_submissions';

-- Snapshots are keyed by canonical metric, not by the portal's property name.
UPDATE company_metric_snapshots SET metric = CASE metric
  WHEN 'cs_active_users_30d' THEN 'active_users_30d' WHEN 'cs_logins_30d' THEN 'logins_30d'
  WHEN 'cs_licensed_seats' THEN 'licensed_seats' WHEN 'cs_features_used' THEN 'features_used'
  WHEN 'cs_mrr' THEN 'mrr' ELSE metric END;

-- Owners (CSMs) and pipelines: small, read whole on every sync.
CREATE TABLE crm_owners (
  id         bigint PRIMARY KEY,
  email      text,
  first_name text,
  last_name  text,
  user_id    bigint,
  teams      jsonb NOT NULL DEFAULT '[]',
  archived   boolean NOT NULL DEFAULT false,
  synced_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crm_pipelines (
  object_type  text NOT NULL,
  pipeline_id  text NOT NULL,
  label        text NOT NULL,
  display_order int NOT NULL DEFAULT 0,
  stages       jsonb NOT NULL,  -- [{id, label, displayOrder, metadata}]
  archived     boolean NOT NULL DEFAULT false,
  synced_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (object_type, pipeline_id)
);
