-- One value per company, day and metric: HubSpot keeps only current values, and trends (month over
-- month drops, seat growth) need history. The sync records every synced company's metrics each day;
-- the first full sync back-fills past days from HubSpot's property history.
CREATE TABLE company_metric_snapshots (
  company_id bigint NOT NULL,
  day        date NOT NULL,
  metric     text NOT NULL,
  value      double precision NOT NULL,
  source     text NOT NULL CHECK (source IN ('sync', 'backfill')),
  PRIMARY KEY (company_id, metric, day)
);
