-- Product usage sent to cshealthd (the push API; later the CSV import and the Segment source): one figure
-- per company, metric (a canonical metric name) and day, replaced (never added to) when sent again. Dated
-- by the day it describes, like a backfilled snapshot, so a year imported today back-scores that year.
CREATE TABLE usage_daily (
  company_id  bigint NOT NULL,
  metric      text NOT NULL,
  day         date NOT NULL,
  value       double precision NOT NULL,
  source      text NOT NULL CHECK (source IN ('push', 'csv', 'segment')),
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (company_id, metric, day)
);

-- Figures naming a company no synced company matches (by HubSpot id, normalised domain or external id):
-- kept with the reason, replaced like usage_daily, and moved there when a later sync brings the company.
CREATE TABLE usage_quarantine (
  key_kind    text NOT NULL CHECK (key_kind IN ('id', 'domain', 'external_id')),
  key         text NOT NULL,
  metric      text NOT NULL,
  day         date NOT NULL,
  value       double precision NOT NULL,
  source      text NOT NULL CHECK (source IN ('push', 'csv', 'segment')),
  reason      text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (key_kind, key, metric, day)
);

-- A domain as usage names a company by it: blanks trimmed, lower case, no scheme, no path, no leading
-- "www.", no trailing dot (core::normalise_domain is the same rule for what arrives).
CREATE FUNCTION usage_domain_key(d text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
$$ SELECT rtrim(regexp_replace(regexp_replace(regexp_replace(lower(btrim(d, E' \t\r\n')), '^https?://', ''),
                                              '[/?#].*$', ''), '^www\.', ''), '.') $$;

-- Companies found by their domain or their external id (mapping.company.external_id).
CREATE INDEX crm_objects_company_domain ON crm_objects (usage_domain_key(fields->>'domain'))
  WHERE object_type = 'companies' AND NOT archived;
CREATE INDEX crm_objects_company_external_id ON crm_objects ((fields->>'external_id'))
  WHERE object_type = 'companies' AND NOT archived;
