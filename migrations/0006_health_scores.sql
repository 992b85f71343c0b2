-- Scoring runs and their results: one row per company per day (a rerun of the day replaces it), with
-- everything needed to explain it, so history and explanations never need the inputs again.
CREATE TABLE score_runs (
  id                 bigserial PRIMARY KEY,
  as_of              date NOT NULL,
  trigger            text NOT NULL,  -- cli | schedule | api | backfill
  config_fingerprint text NOT NULL,  -- which scorecards/segments/signals texts scored it
  started_at         timestamptz NOT NULL DEFAULT now(),
  finished_at        timestamptz,
  companies          integer NOT NULL DEFAULT 0,
  error              text
);

CREATE TABLE health_scores (
  company_id     bigint NOT NULL,
  day            date NOT NULL,
  run_id         bigint NOT NULL REFERENCES score_runs (id),
  score          double precision NOT NULL,  -- after a whole-score override
  computed_score double precision NOT NULL,  -- what the scorecard gave
  status         text NOT NULL CHECK (status IN ('green', 'yellow', 'orange', 'red', 'unknown')),
  coverage       double precision NOT NULL,
  scorecard      text NOT NULL,
  segment        text NOT NULL,
  previous_score double precision,
  delta          double precision,
  components     jsonb NOT NULL,  -- [{name, label, has_data, raw, points, max_points, weight, ...}]
  signals        jsonb NOT NULL,  -- [{name, kind, priority, facts}]
  reasons        jsonb NOT NULL,  -- ["usage: ... -12 points", ...] worst first
  score_override jsonb,           -- {value, reason, author, expires_on} when a person set the score
  computed_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (company_id, day)
);
CREATE INDEX health_scores_by_day ON health_scores (day, status, segment, company_id);

-- Manual overrides by CS leads: never deleted; replacing or revoking one sets revoked_at.
CREATE TABLE score_overrides (
  id         bigserial PRIMARY KEY,
  company_id bigint NOT NULL,
  component  text NOT NULL DEFAULT '',  -- '' = the whole score
  value      double precision NOT NULL,
  reason     text NOT NULL CHECK (reason <> ''),
  author     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_on date NOT NULL,             -- the last day it applies
  revoked_at timestamptz,
  revoked_by text
);
CREATE UNIQUE INDEX score_overrides_live ON score_overrides (company_id, component) WHERE revoked_at IS NULL;

CREATE TABLE score_override_audit (
  id          bigserial PRIMARY KEY,
  override_id bigint NOT NULL REFERENCES score_overrides (id),
  company_id  bigint NOT NULL,
  action      text NOT NULL CHECK (action IN ('set', 'revoke')),
  actor       text NOT NULL,
  at          timestamptz NOT NULL DEFAULT now(),
  detail      jsonb NOT NULL
);
