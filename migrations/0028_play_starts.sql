-- The night each play was first planned. A play's first night (a new installation, or a play added or
-- switched on later) starts from tonight: the steps whose windows are already open are recorded as seen
-- (`play_steps.skipped`) without a task, unless the play says `catch_up: true` or the run was asked to
-- catch up. Plays that ran before this table existed have started: their first step or episode dates them.
CREATE TABLE play_starts (
  play       text PRIMARY KEY,
  started_on date NOT NULL,
  caught_up  boolean NOT NULL DEFAULT false  -- its first night created what was under way
);

INSERT INTO play_starts (play, started_on)
SELECT play, min(day) FROM (SELECT play, day FROM play_steps UNION ALL SELECT play, started FROM play_episodes) s
GROUP BY play;

-- A step already under way on its play's first night: recorded so that it does not fire later in the same
-- cycle, with the outbox key it would have had, but nothing was sent.
ALTER TABLE play_steps ADD COLUMN skipped boolean NOT NULL DEFAULT false;
