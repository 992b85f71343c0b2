-- The contract term (mapping.company.contract_term: monthly or annual) next to the other company inputs:
-- a monthly contract's renewal is no event, so the renewal component scores its tenure and the renewal
-- signals stay quiet. Columns are only ever added at the end of the view.
CREATE OR REPLACE VIEW companies AS
SELECT id, fields->>'name' AS name, fields->>'domain' AS domain, fields->>'owner_id' AS owner_id,
       fields->>'plan' AS plan, (fields->>'contract_start_date')::timestamptz AS contract_start_date,
       (fields->>'renewal_date')::timestamptz AS renewal_date, (fields->>'mrr')::float8 AS mrr,
       (fields->>'licensed_seats')::float8 AS licensed_seats,
       (fields->>'active_users_30d')::float8 AS active_users_30d,
       (fields->>'logins_30d')::float8 AS logins_30d, (fields->>'features_used')::float8 AS features_used,
       fields->>'goal_status' AS goal_status, fields->>'cs_stage' AS cs_stage,
       (fields->>'last_contacted')::timestamptz AS last_contacted, created_at, updated_at, archived,
       fields->>'churn_reason' AS churn_reason, (fields->>'churn_date')::timestamptz AS churn_date,
       fields->>'contract_term' AS contract_term
FROM crm_objects WHERE object_type = 'companies';
