-- CS KPIs (DOMAIN.md §5): what the companies did per month and quarter, summed per segment and owner by
-- every nightly run (the current periods; the first run goes back kpis.history_months), so that any
-- selection of periods, segments and owners is a sum of a few small rows.
CREATE TABLE kpi_facts (
  granularity  text NOT NULL CHECK (granularity IN ('month', 'quarter')),
  period_start date NOT NULL,
  segment      text NOT NULL,  -- the company's scoring segment at the period's end ('' never scored)
  owner_id     text NOT NULL,  -- its HubSpot owner when computed ('' none)
  facts        jsonb NOT NULL, -- core::KpiFacts
  through      date NOT NULL,  -- the last day the facts cover (the period's last, or the run's day)
  computed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (granularity, period_start, segment, owner_id)
);

CREATE TABLE kpi_state (
  id       boolean PRIMARY KEY DEFAULT true CHECK (id),
  through  date NOT NULL,  -- the day the last computation covered
  computed_at timestamptz NOT NULL DEFAULT now()
);

-- When a company's CS stage became `churned`: its churn date property, else the night the KPI run first
-- saw it (on the first run, HubSpot's last modification). The row goes when the stage changes back.
CREATE TABLE company_churned_stage (
  company_id bigint PRIMARY KEY,
  churned_on date NOT NULL
);

-- Churns as the KPIs counted them: the churn analysis' cases.
CREATE TABLE churn_events (
  company_id bigint NOT NULL,
  churn_day  date NOT NULL,
  source     text NOT NULL CHECK (source IN ('stage', 'mrr')),
  mrr_lost   double precision NOT NULL DEFAULT 0,
  reason     text,
  owner_id   text,
  segment    text,
  returned_on date,  -- its stage left churned, or its MRR came back
  -- The churn analysis of the case (core::churn_facts), kept so a summary over a year of churns reads no
  -- history: the band 30/60/90 days before, the warning lead, the alert tasks and those completed in time.
  band_30     text,
  band_60     text,
  band_90     text,
  lead_days   integer,
  alerts      integer NOT NULL DEFAULT 0,
  alerts_acted integer NOT NULL DEFAULT 0,
  analyzed_on date,  -- null: not analysed yet
  PRIMARY KEY (company_id, churn_day)
);
CREATE INDEX churn_events_by_day ON churn_events (churn_day);

-- The day a task (alert, onboarding step) was first read back completed: acted-on alerts, onboarding days.
CREATE TABLE task_completions (
  task_key     text PRIMARY KEY,
  completed_on date NOT NULL
);

-- The dashboard's renewals and at-risk lists read companies by renewal date and by latest score.
CREATE INDEX crm_objects_company_renewal ON crm_objects (((fields->>'renewal_date')))
  WHERE object_type = 'companies';
CREATE INDEX health_scores_low ON health_scores (day, score) WHERE score < 60;
-- The churn analysis reads a churned company's alert tasks.
CREATE INDEX outbox_tasks_by_company ON outbox (company_id, id) WHERE kind = 'task';
