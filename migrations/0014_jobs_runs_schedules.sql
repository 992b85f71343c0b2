-- The service's own work, coordinated through PostgreSQL alone: several replicas share these tables.

-- A pipeline run (nightly, a refresh between nights, or one an operator started): its stages in order,
-- each with its state and progress, and the summary it ended with.
CREATE TABLE runs (
  id          bigserial PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('nightly', 'refresh', 'manual')),
  trigger     text NOT NULL,  -- schedule | catch-up | api | cli
  scheduled_for timestamptz,  -- the occurrence a scheduled run stands for
  state       text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
  stages      jsonb NOT NULL DEFAULT '[]',  -- [{name, state, started_at, finished_at, progress:{...}}]
  summary     jsonb,
  error       text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  started_at  timestamptz,
  finished_at timestamptz
);
CREATE INDEX runs_recent ON runs (id DESC);

-- Jobs: claimed with FOR UPDATE SKIP LOCKED, held by a lease its worker renews. A job whose lease ran
-- out (its worker died) is queued again by whoever notices. `attempt` fences every write a job makes:
-- a worker that lost its lease can no longer change the job or its checkpoint.
CREATE TABLE jobs (
  id           bigserial PRIMARY KEY,
  kind         text NOT NULL,
  unique_key   text UNIQUE,  -- e.g. nightly:2026-12-02: at most one such job, ever
  run_id       bigint REFERENCES runs (id),
  payload      jsonb NOT NULL DEFAULT '{}',
  state        text NOT NULL DEFAULT 'queued'
               CHECK (state IN ('queued', 'running', 'failed', 'succeeded', 'dead')),
  attempt      integer NOT NULL DEFAULT 0,  -- claims so far (a takeover is a claim)
  max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
  run_after    timestamptz NOT NULL DEFAULT now(),
  lease_owner  text,
  lease_until  timestamptz,
  takeovers    integer NOT NULL DEFAULT 0,  -- leases that ran out under a dead or stalled worker
  checkpoint   jsonb,  -- where a resumable job got to, written with the work it covers
  result       jsonb,
  error        text,   -- the last attempt's error
  created_at   timestamptz NOT NULL DEFAULT now(),
  started_at   timestamptz,
  finished_at  timestamptz,
  updated_at   timestamptz NOT NULL DEFAULT now()
);
-- 'failed' is a failed attempt waiting for its retry; 'dead' failed for good.
CREATE INDEX jobs_ready ON jobs (run_after, id) WHERE state IN ('queued', 'failed');
CREATE INDEX jobs_leases ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_by_state ON jobs (state, id DESC);
CREATE INDEX jobs_by_run ON jobs (run_id);

-- What the scheduler has done per schedule: when a replica first saw it (runs before that were never
-- missed) and the last occurrence it enqueued.
CREATE TABLE schedules (
  name          text PRIMARY KEY,
  first_seen_at timestamptz NOT NULL,
  last_occurrence timestamptz,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The app's HubSpot request budgets, shared by every replica: one row per request granted, kept for
-- one window. A dead replica's grants simply age out; nothing is held.
CREATE UNLOGGED TABLE rate_grants (
  budget     text NOT NULL,
  granted_at timestamptz NOT NULL,
  owner      text NOT NULL
);
CREATE INDEX rate_grants_window ON rate_grants (budget, granted_at);

-- A diagnostic job kind: each run of a `probe` job leaves one row, so the queue's exactly-once claim can
-- be checked on a live deployment (and is, by the tests).
CREATE TABLE job_probes (
  job_id   bigint NOT NULL,
  attempt  integer NOT NULL,
  worker   text NOT NULL,
  ran_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The day a run scores, fixed when it is created: a run taken over after midnight still scores its day.
ALTER TABLE runs ADD COLUMN as_of date NOT NULL DEFAULT current_date;
-- A refresh rescores only the companies whose inputs a sync changed since it began.
CREATE INDEX crm_objects_synced ON crm_objects (synced_at);
