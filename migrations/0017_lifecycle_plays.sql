-- Lifecycle plays (renewal, expansion, QBR, win-back): the churn reason and date next to the other
-- company inputs, the steps each play has done per (company, play, cycle, step), and the episodes of
-- the plays started by a signal, a band or a stage.
CREATE OR REPLACE VIEW companies AS
SELECT id, fields->>'name' AS name, fields->>'domain' AS domain, fields->>'owner_id' AS owner_id,
       fields->>'plan' AS plan, (fields->>'contract_start_date')::timestamptz AS contract_start_date,
       (fields->>'renewal_date')::timestamptz AS renewal_date, (fields->>'mrr')::float8 AS mrr,
       (fields->>'licensed_seats')::float8 AS licensed_seats,
       (fields->>'active_users_30d')::float8 AS active_users_30d,
       (fields->>'logins_30d')::float8 AS logins_30d, (fields->>'features_used')::float8 AS features_used,
       fields->>'goal_status' AS goal_status, fields->>'cs_stage' AS cs_stage,
       (fields->>'last_contacted')::timestamptz AS last_contacted, created_at, updated_at, archived,
       fields->>'churn_reason' AS churn_reason, (fields->>'churn_date')::timestamptz AS churn_date
FROM crm_objects WHERE object_type = 'companies';

-- Feedback reaches a company directly or through its contacts (HubSpot associates answers to contacts).
CREATE VIEW company_feedback AS
SELECT a.to_id AS company_id, a.from_id AS feedback_id FROM crm_associations a
WHERE a.to_type = 'companies' AND a.from_type = 'feedback_submissions'
UNION
SELECT cc.to_id, fc.from_id FROM crm_associations cc
JOIN crm_associations fc ON fc.to_type = 'contacts' AND fc.to_id = cc.from_id AND fc.from_type = 'feedback_submissions'
WHERE cc.to_type = 'companies' AND cc.from_type = 'contacts';

-- A step done: its outbox item was planned in the same transaction. The primary key is the play's
-- idempotency key: a cycle's step is never planned twice.
CREATE TABLE play_steps (
  company_id bigint NOT NULL,
  play       text NOT NULL,
  cycle      text NOT NULL,  -- the renewal date, the quarter (2026-Q4), the day an episode began
  step       text NOT NULL,
  cycle_date date NOT NULL,
  day        date NOT NULL,  -- the night it fired
  action     text NOT NULL,
  outbox_key text NOT NULL,
  owner_id   text,
  why        text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (company_id, play, cycle, step)
);
CREATE INDEX play_steps_by_cycle_date ON play_steps (cycle_date);
CREATE INDEX play_steps_by_day ON play_steps (day, play);

-- The latest episode of a signal, band or stage play at a company.
CREATE TABLE play_episodes (
  company_id bigint NOT NULL,
  play       text NOT NULL,
  started    date NOT NULL,
  last_seen  date NOT NULL,
  active     boolean NOT NULL,
  PRIMARY KEY (company_id, play)
);

-- The deals an expansion play creates (when configured) go through the outbox too.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
  CHECK (kind IN ('properties', 'task', 'task_close', 'slack', 'record', 'deal'));
