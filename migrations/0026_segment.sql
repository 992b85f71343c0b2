-- The Segment-compatible usage source. Raw events are not kept: each one leaves only what the daily
-- figures need, and that only for as long as they need it (usage.segment.max_age_days).

-- A messageId seen, so that a batch Segment retries adds nothing the second time. Kept for the same age.
CREATE TABLE segment_messages (
  message_id  text PRIMARY KEY,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX segment_messages_received ON segment_messages (received_at);

-- Which company (Segment's group) a user belongs to: a group call, or a groupId in an event's context.
-- A user is a 64-bit hash of the userId (or anonymousId), never the id. group_key is the company key as
-- usage.segment.group_key reads it (a HubSpot id, a normalised domain, an external id).
CREATE TABLE segment_members (
  user_key   bigint NOT NULL,
  group_key  text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_key, group_key)
);
CREATE INDEX segment_members_group ON segment_members (group_key);

-- A user's day: active (any track, page or screen call), logins, the key features used.
CREATE TABLE segment_activity (
  user_key bigint NOT NULL,
  day      date NOT NULL,
  logins   bigint NOT NULL DEFAULT 0,
  features text[] NOT NULL DEFAULT '{}',
  PRIMARY KEY (user_key, day)
);
CREATE INDEX segment_activity_day ON segment_activity (day);

-- A company and day whose activity changed since its figures were last computed: the figures of that day
-- and of the 29 after it (each a 30-day window) are computed again, off the request path. Appended to,
-- never updated (a batch never waits for the settling that takes marks away), so a company day may be
-- marked more than once until it is settled.
CREATE TABLE segment_dirty (
  id        bigserial PRIMARY KEY,
  group_key text NOT NULL,
  day       date NOT NULL
);
CREATE INDEX segment_dirty_key ON segment_dirty (group_key, day);

-- The last day one of a company's users was active, as the Segment source saw it: written to HubSpot with
-- the usage summary (the daily figures are 30-day windows and cannot tell it).
CREATE TABLE usage_last_active (
  company_id bigint PRIMARY KEY,
  day        date NOT NULL
);
