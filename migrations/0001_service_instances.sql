-- Replicas of cshealthd that share this database: each registers itself at start and removes
-- itself on a clean stop, so operators (and later the job scheduler) can see who is running.
CREATE TABLE service_instances (
  instance_id  text PRIMARY KEY,
  hostname     text NOT NULL,
  pid          integer NOT NULL,
  version      text NOT NULL,
  started_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now()
);
