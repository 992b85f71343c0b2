#include "event_store.hpp"

#include "cshealthd/store/sql_params.hpp"

namespace cshealthd::onboarding {

void WebhookEventStore::lock_processing(pqxx::work& tx) {
  tx.exec("SELECT pg_advisory_xact_lock(hashtext('cshealthd.webhook.events'))");
}

std::size_t WebhookEventStore::insert(pqxx::work& tx, const std::vector<core::WebhookEvent>& events) {
  std::vector<std::string> keys, types, objects, names, values, raws, has_name, has_value;
  std::vector<std::int64_t> ids, at;
  for (const auto& e : events) {
    keys.push_back(e.dedup_key());
    types.push_back(e.subscription_type);
    objects.push_back(e.object_type);
    ids.push_back(e.object_id);
    names.push_back(e.property_name.value_or(""));
    has_name.push_back(e.property_name ? "t" : "f");
    values.push_back(e.property_value.value_or(""));
    has_value.push_back(e.property_value ? "t" : "f");
    at.push_back(e.occurred_at_ms);
    raws.push_back(e.raw);
  }
  const auto r = tx.exec_params(
      "WITH ins AS (INSERT INTO webhook_events (dedup_key, subscription_type, object_type, object_id, "
      "property_name, property_value, occurred_at_ms, event) "
      "SELECT k, st, ot, oid, CASE WHEN hn THEN pn END, CASE WHEN hv THEN pv END, oc, ev::jsonb FROM "
      "unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::boolean[], $7::text[], "
      "$8::boolean[], $9::bigint[], $10::text[]) AS u (k, st, ot, oid, pn, hn, pv, hv, oc, ev) "
      "ON CONFLICT (dedup_key) DO NOTHING RETURNING 1) SELECT count(*) FROM ins",
      store::text_array(keys), store::text_array(types), store::text_array(objects), store::bigint_array(ids),
      store::text_array(names), store::text_array(has_name), store::text_array(values),
      store::text_array(has_value), store::bigint_array(at), store::text_array(raws));
  return r[0][0].as<std::size_t>();
}

std::vector<WebhookEventStore::Stored> WebhookEventStore::unprocessed(pqxx::transaction_base& tx,
                                                                      std::size_t limit) {
  std::vector<Stored> out;
  for (const auto& row : tx.exec_params(
           "SELECT id, object_type, object_id, coalesce(property_name, ''), coalesce(property_value, ''), "
           "subscription_type, (extract(epoch FROM now()) * 1000)::bigint - occurred_at_ms FROM "
           "webhook_events "
           "WHERE processed_at IS NULL ORDER BY occurred_at_ms, id LIMIT $1",
           static_cast<std::int64_t>(limit))) {
    Stored e;
    e.id = row[0].as<std::int64_t>();
    e.object_type = row[1].as<std::string>();
    e.object_id = row[2].as<std::int64_t>();
    e.property_name = row[3].as<std::string>();
    e.property_value = row[4].as<std::string>();
    e.subscription_type = row[5].as<std::string>();
    e.age_ms = row[6].as<std::int64_t>();
    out.push_back(std::move(e));
  }
  return out;
}

void WebhookEventStore::mark_processed(pqxx::work& tx, const std::vector<std::int64_t>& ids,
                                       const std::vector<std::string>& outcomes) {
  tx.exec_params(
      "UPDATE webhook_events e SET processed_at = now(), outcome = u.o FROM unnest($1::bigint[], $2::text[]) "
      "AS u (id, o) WHERE e.id = u.id",
      store::bigint_array(ids), store::text_array(outcomes));
}

void WebhookEventStore::prune(pqxx::work& tx, std::int64_t days) {
  tx.exec_params("DELETE FROM webhook_events WHERE processed_at < now() - $1::bigint * interval '1 day'",
                 days);
}

}  // namespace cshealthd::onboarding
