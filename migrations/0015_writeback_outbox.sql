-- Write-back to HubSpot through a transactional outbox: a run's plan stage decides what to write and
-- records it here, together with the state it was decided from, in one transaction; the deliver stage
-- drains it. Every row's key is unique for ever, so nothing is planned or sent twice.
CREATE TABLE outbox (
  id          bigserial PRIMARY KEY,
  key         text NOT NULL UNIQUE,  -- props:<company>:<run> | alert:<company>:<rule>:<n>[:escalation] | digest:... | close:<task key> | slack:<key>
  kind        text NOT NULL CHECK (kind IN ('properties', 'task', 'task_close', 'slack')),
  company_id  bigint,
  run_id      bigint REFERENCES runs (id),
  payload     jsonb NOT NULL,
  -- pending: to send; sending: sent, its answer not (yet) recorded (a create in doubt is reconciled by a
  -- search after the search lag); done; dead: failed for good (HubSpot's words in `error`).
  state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'done', 'dead')),
  attempts    integer NOT NULL DEFAULT 0,
  sent_at     timestamptz,
  hubspot_id  text,  -- the task's id, once known
  error       text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  done_at     timestamptz
);
CREATE INDEX outbox_open ON outbox (kind, id) WHERE state IN ('pending', 'sending');
CREATE INDEX outbox_properties_open ON outbox (company_id, id) WHERE kind = 'properties' AND state = 'pending';
CREATE INDEX outbox_by_state ON outbox (state, id DESC);

-- What is written on each company's output properties (as planned: the outbox carries it there).
CREATE TABLE writeback_companies (
  company_id bigint PRIMARY KEY,
  written    jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The latest alert episode of each rule at each company.
CREATE TABLE alert_episodes (
  company_id    bigint NOT NULL,
  rule          text NOT NULL,
  number        integer NOT NULL,
  active        boolean NOT NULL,
  task_key      text NOT NULL DEFAULT '',  -- '' = it went into a digest
  assignee      text NOT NULL DEFAULT '',
  opened_on     date NOT NULL,
  cleared_since date,
  task_open     boolean NOT NULL,
  escalated     boolean NOT NULL DEFAULT false,
  closed        boolean NOT NULL DEFAULT false,
  task_body     text NOT NULL DEFAULT '',
  task_checked_ms bigint NOT NULL DEFAULT 0,  -- when its task was last read from HubSpot by id
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (company_id, rule)
);
CREATE INDEX alert_episodes_open ON alert_episodes (task_key) WHERE task_open AND task_key <> '';

-- Tasks created per assignee and day: the daily cap counts these.
CREATE TABLE alert_task_days (
  assignee text NOT NULL,
  day      date NOT NULL,
  tasks    integer NOT NULL DEFAULT 0,
  digests  integer NOT NULL DEFAULT 0,
  PRIMARY KEY (assignee, day)
);

-- A CS lead silences one rule at one company until a date. Rows are never deleted: revoking one sets
-- revoked_at, so the table is its own audit trail.
CREATE TABLE alert_snoozes (
  id         bigserial PRIMARY KEY,
  company_id bigint NOT NULL,
  rule       text NOT NULL,
  until      date NOT NULL,  -- the last day it silences
  reason     text NOT NULL CHECK (reason <> ''),
  author     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  revoked_by text
);
CREATE UNIQUE INDEX alert_snoozes_live ON alert_snoozes (company_id, rule) WHERE revoked_at IS NULL;

-- The portal's set-up as last checked: the output properties exist with the right types, and whether
-- tasks can carry a unique key (upsert) or need a search to reconcile an unknown outcome.
CREATE TABLE writeback_setup (
  portal      text PRIMARY KEY,
  fingerprint text NOT NULL,  -- of the property names and types it was checked for
  task_mode   text NOT NULL CHECK (task_mode IN ('upsert', 'search')),
  checked_at  timestamptz NOT NULL DEFAULT now()
);

-- When the open alert tasks' status was last read from HubSpot: later reads search only for the tasks
-- changed since then (less an overlap), and read by id only the share of open tasks that keeps each one
-- read about daily (a search cannot see a task deleted in HubSpot).
CREATE TABLE writeback_task_checks (
  portal     text PRIMARY KEY,
  checked_ms bigint NOT NULL  -- the service's clock when the last complete read began
);
