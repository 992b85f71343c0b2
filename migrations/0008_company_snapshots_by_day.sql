-- One row per company and day instead of one per company, day and metric. A usage integration sets a
-- company's metrics together, so a day's values share one row: the first full sync back-fills about a
-- quarter of the rows it used to, and the daily snapshot of a company is one row, not five.
-- `synced` holds the values the sync saw that day, `backfilled` those read from HubSpot's property
-- history; a synced value wins over a back-filled one of the same metric and day.
CREATE TABLE company_snapshots (
  company_id bigint NOT NULL,
  day        date NOT NULL,
  synced     jsonb NOT NULL DEFAULT '{}',
  backfilled jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (company_id, day)
);

INSERT INTO company_snapshots (company_id, day, synced, backfilled)
SELECT company_id, day,
       coalesce(jsonb_object_agg(metric, value) FILTER (WHERE source = 'sync'), '{}'),
       coalesce(jsonb_object_agg(metric, value) FILTER (WHERE source = 'backfill'), '{}')
FROM company_metric_snapshots GROUP BY company_id, day;

DROP TABLE company_metric_snapshots;

-- The one-value-per-row shape the scoring reads and people query.
CREATE VIEW company_metric_snapshots AS
SELECT s.company_id, s.day, m.metric, m.value::float8 AS value,
       CASE WHEN s.synced ? m.metric THEN 'sync' ELSE 'backfill' END AS source
FROM company_snapshots s, jsonb_each(s.backfilled || s.synced) AS m(metric, value);

-- Running merge of a company's days: over (PARTITION BY company_id ORDER BY day) it yields, at each day,
-- every metric's latest value up to then, whichever days recorded it. The scoring reads a company's
-- metrics as of any past day this way, one row per probe day.
CREATE AGGREGATE jsonb_merge_agg(jsonb) (SFUNC = jsonb_concat, STYPE = jsonb, INITCOND = '{}');
