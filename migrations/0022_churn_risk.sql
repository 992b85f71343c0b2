-- The churn probability next to the score (cs_churn_risk): the model of the latest calibration that
-- proposed weights for a scorecard (cshealthd calibrate, the quarterly review), applied by every scoring
-- run to the companies that scorecard scores.
CREATE TABLE churn_models (
  scorecard      text PRIMARY KEY,
  calibration_id bigint NOT NULL REFERENCES calibrations (id) ON DELETE CASCADE,
  horizon_days   integer NOT NULL CHECK (horizon_days > 0),
  model          jsonb NOT NULL,  -- {intercept, coefficients: {component: β}, means: {component: x̄}}
  created_at     timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE health_scores ADD COLUMN churn_risk double precision;  -- null: no model for its scorecard
