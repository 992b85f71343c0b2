-- The expansion likelihood next to the churn risk (cs_expansion_likelihood): the probability that a
-- customer expands (its MRR rises, or an upsell deal is won) within the horizon, from a second model
-- the same calibration fits on the same component points. A calibration that proposes weights stores
-- both; the expansion model is null when too few expansions followed its training dates.
ALTER TABLE churn_models ADD COLUMN expansion_model jsonb;
ALTER TABLE health_scores ADD COLUMN expansion_likelihood double precision;  -- null: no expansion model

-- What a backtest observation was labelled and predicted with, so both probabilities can be checked.
ALTER TABLE backtest_observations
  ADD COLUMN expanded boolean NOT NULL DEFAULT false,
  ADD COLUMN churn_risk double precision,
  ADD COLUMN expansion_likelihood double precision;
