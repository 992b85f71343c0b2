-- Backtests: how well a scorecard ranked the customers who churned (cshealthd backtest). A report per
-- run, and the observations it was computed from (one per company and observation date), so that its
-- figures can be checked, drilled into, or recomputed.
CREATE TABLE backtests (
  id           bigserial PRIMARY KEY,
  created_at   timestamptz NOT NULL DEFAULT now(),
  from_day     date NOT NULL,
  to_day       date NOT NULL,
  every_days   integer NOT NULL CHECK (every_days > 0),
  horizon_days integer NOT NULL CHECK (horizon_days > 0),
  scorecard    text NOT NULL,  -- "deployed", or the candidate file evaluated
  fingerprint  text NOT NULL,  -- of the scoring texts evaluated
  trigger      text NOT NULL DEFAULT 'cli',
  seconds      double precision NOT NULL DEFAULT 0,
  report       jsonb NOT NULL
);

CREATE TABLE backtest_observations (
  backtest_id bigint NOT NULL REFERENCES backtests (id) ON DELETE CASCADE,
  day         date NOT NULL,
  company_id  bigint NOT NULL,
  score       double precision NOT NULL,
  status      text NOT NULL,
  segment     text NOT NULL,
  churned     boolean NOT NULL,
  churn_day   date,
  components  jsonb NOT NULL,  -- points per component name (null: no data)
  PRIMARY KEY (backtest_id, day, company_id)
);
