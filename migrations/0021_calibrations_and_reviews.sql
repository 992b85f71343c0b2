-- Calibrations (cshealthd calibrate, and the quarterly review): weights proposed from history by a
-- churn model trained on earlier observation dates and checked on later ones. Never deployed by the
-- service: the candidate scorecard's text is kept here for whoever deploys it.
CREATE TABLE calibrations (
  id           bigserial PRIMARY KEY,
  created_at   timestamptz NOT NULL DEFAULT now(),
  scorecard    text NOT NULL,                 -- the deployed scorecard calibrated
  fingerprint  text NOT NULL,                 -- of the scoring texts it was calibrated against
  trigger      text NOT NULL DEFAULT 'cli',   -- cli | quarterly_review
  from_day     date NOT NULL,
  to_day       date NOT NULL,
  horizon_days integer NOT NULL CHECK (horizon_days > 0),
  status       text NOT NULL CHECK (status IN ('proposed', 'refused')),
  reason       text,                          -- why nothing was proposed
  seconds      double precision NOT NULL DEFAULT 0,
  report       jsonb NOT NULL,                -- the figures, the model, the weights and why
  candidate    text                           -- the candidate scorecard YAML (proposed only)
);

-- The quarterly score review: one per closed quarter, recorded with the plan that sends its message
-- (so a takeover or a second replica never tells the CS lead twice).
CREATE TABLE quarterly_reviews (
  quarter        text PRIMARY KEY,               -- "2026-Q3": the quarter reviewed
  day            date NOT NULL,                  -- the night it ran
  backtest_id    bigint REFERENCES backtests (id) ON DELETE SET NULL,
  calibration_id bigint REFERENCES calibrations (id) ON DELETE SET NULL,
  outcome        text NOT NULL,                  -- what the message said, in one line
  created_at     timestamptz NOT NULL DEFAULT now()
);
