-- Webhook events, stored durably before HubSpot gets its 2xx (a 5xx when they could not be, so it
-- retries), de-duplicated on HubSpot's identity of an event; processed later, in occurredAt order.
CREATE TABLE webhook_events (
  id                bigserial PRIMARY KEY,
  dedup_key         text NOT NULL UNIQUE,  -- eventId|objectId|propertyName|propertyValue|occurredAt
  subscription_type text NOT NULL,
  object_type       text NOT NULL,  -- companies | deals | contacts | ... ('' when HubSpot named none we know)
  object_id         bigint NOT NULL,
  property_name     text,
  property_value    text,
  occurred_at_ms    bigint NOT NULL,
  event             jsonb NOT NULL,  -- as HubSpot sent it
  received_at       timestamptz NOT NULL DEFAULT now(),
  processed_at      timestamptz,
  outcome           text  -- onboarding | refresh | ignored | ...
);
CREATE INDEX webhook_events_pending ON webhook_events (occurred_at_ms, id) WHERE processed_at IS NULL;

-- The sync's safety net for Closed Won: every deal stage the sync writes that differs from the one it
-- held (and every deal it sees for the first time) is noted here by trigger, in the sync's own
-- transaction, so no stage change is missed whichever code path wrote the row; the pipeline turns the
-- won ones into onboarding jobs after each sync and deletes the notes.
CREATE TABLE deal_stage_changes (
  id         bigserial PRIMARY KEY,
  deal_id    bigint NOT NULL,
  stage      text NOT NULL,
  pipeline   text,
  first_seen boolean NOT NULL,  -- the deal was new to the service
  won_after  timestamptz,       -- for a first sight: its close date, else its creation
  noted_at   timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION note_deal_stage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT coalesce((SELECT enabled FROM onboarding_state), false) THEN
    RETURN NEW;  -- onboarding is off: nothing would ever read the note
  END IF;
  INSERT INTO deal_stage_changes (deal_id, stage, pipeline, first_seen, won_after)
  VALUES (NEW.id, NEW.fields->>'stage', NEW.fields->>'pipeline', TG_OP = 'INSERT',
          coalesce((NEW.fields->>'close_date')::timestamptz, NEW.created_at));
  RETURN NEW;
END $$;

CREATE TRIGGER deal_stage_inserted AFTER INSERT ON crm_objects FOR EACH ROW
  WHEN (NEW.object_type = 'deals' AND NEW.fields->>'stage' IS NOT NULL AND NOT NEW.archived)
  EXECUTE FUNCTION note_deal_stage();
CREATE TRIGGER deal_stage_updated AFTER UPDATE ON crm_objects FOR EACH ROW
  WHEN (NEW.object_type = 'deals' AND NEW.fields->>'stage' IS NOT NULL AND NOT NEW.archived
        AND OLD.fields->>'stage' IS DISTINCT FROM NEW.fields->>'stage')
  EXECUTE FUNCTION note_deal_stage();

-- When onboarding began to be run by the service: deals first seen by the sync count as newly won only
-- when they closed after it (the first full sync must not onboard every customer ever won).
CREATE TABLE onboarding_state (
  id      boolean PRIMARY KEY DEFAULT true CHECK (id),
  enabled boolean NOT NULL DEFAULT true,  -- set by the service at start (onboarding.enabled)
  since   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO onboarding_state DEFAULT VALUES;

-- One onboarding per won deal (the job's unique key `onboarding:<deal>` is the idempotency key both
-- paths share), and at most one under way per company.
CREATE TABLE onboardings (
  deal_id        bigint PRIMARY KEY,
  company_id     bigint NOT NULL,
  source         text NOT NULL CHECK (source IN ('webhook', 'sync', 'api')),
  state          text NOT NULL CHECK (state IN ('onboarding', 'handed_over')),
  segment        text NOT NULL CHECK (segment IN ('high_touch', 'tech_touch')),
  owner_id       text NOT NULL,
  csm_id         text,
  started_on     date NOT NULL,
  completed_on   date,
  deal           jsonb NOT NULL,  -- plan, MRR, seats, contract start, goals and KPIs, as read from the deal
  started_at     timestamptz NOT NULL DEFAULT now(),
  handed_over_at timestamptz
);
CREATE UNIQUE INDEX onboardings_company_active ON onboardings (company_id) WHERE state = 'onboarding';
CREATE INDEX onboardings_owner_load ON onboardings (owner_id, segment) WHERE state = 'onboarding';
CREATE INDEX onboardings_csm ON onboardings (csm_id, segment) WHERE csm_id IS NOT NULL;

-- The checklist: one task per step, due in business days; completion read back from HubSpot with the
-- alert tasks. An open step past its due day raises one overdue alert, then one to the manager.
CREATE TABLE onboarding_steps (
  deal_id      bigint NOT NULL REFERENCES onboardings (deal_id),
  step         text NOT NULL,
  position     integer NOT NULL,
  task_key     text NOT NULL UNIQUE,
  due_day      date NOT NULL,
  completed    boolean NOT NULL DEFAULT false,
  overdue_on   date,     -- the overdue alert's day
  escalated    boolean NOT NULL DEFAULT false,
  checked_ms   bigint NOT NULL DEFAULT 0,  -- when its task was last read from HubSpot by id
  PRIMARY KEY (deal_id, step)
);
CREATE INDEX onboarding_steps_open ON onboarding_steps (task_key) WHERE NOT completed;

-- Round-robin among owners with equal remaining capacity: who got the last one, per pool and segment.
CREATE TABLE assignment_cursors (
  pool       text PRIMARY KEY,  -- onboarding:<segment> | csm:<segment>
  last_owner text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Records other than tasks (the Services object) go through the outbox too.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
  CHECK (kind IN ('properties', 'task', 'task_close', 'slack', 'record'));

-- A webhook said an input of a company changed: the scheduler's leader starts a refresh run for the
-- requests not yet covered by one, as soon as no run is under way.
CREATE TABLE refresh_requests (
  id           bigserial PRIMARY KEY,
  company_id   bigint NOT NULL,
  requested_at timestamptz NOT NULL DEFAULT now(),
  run_id       bigint REFERENCES runs (id)
);
CREATE INDEX refresh_requests_open ON refresh_requests (id) WHERE run_id IS NULL;

-- Whether the portal has the Services object (records of it are skipped where it does not).
ALTER TABLE writeback_setup ADD COLUMN services boolean NOT NULL DEFAULT false;
