-- Company snapshots hold the dates (epoch milliseconds) and texts the score reads besides the metrics
-- (renewal date, contract start, last contact, plan, goal status, CS stage), and null for a date or text
-- cleared in HubSpot: a past day is scored on what was known that day. The one-value-per-row view stays
-- what its name says: the metrics, numbers only.
CREATE OR REPLACE VIEW company_metric_snapshots AS
SELECT s.company_id, s.day, m.metric,
       CASE WHEN jsonb_typeof(m.value) = 'number' THEN m.value::float8 END AS value,
       CASE WHEN s.synced ? m.metric THEN 'sync' ELSE 'backfill' END AS source
FROM company_snapshots s, jsonb_each(s.backfilled || s.synced) AS m(metric, value)
WHERE jsonb_typeof(m.value) = 'number' AND m.metric IN ('mrr', 'licensed_seats', 'active_users_30d',
                                                       'logins_30d', 'features_used');
