// HubSpot's webhook events: stored durably, then processed in occurredAt order into onboardings and
// refresh requests.
#include <algorithm>
#include <charconv>
#include <map>
#include <sstream>

#include <spdlog/spdlog.h>

#include "cshealthd/core/schedule.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/store/crm_repository.hpp"
#include "cshealthd/store/job_queue.hpp"
#include "cshealthd/store/sql_params.hpp"
#include "internal.hpp"

namespace cshealthd::onboarding {
using namespace detail;

namespace {

constexpr std::size_t kEventsPerTransaction = 500;

}  // namespace

Stored store_events(store::Database& db, const std::vector<core::WebhookEvent>& events) {
  Stored out;
  if (events.empty()) return out;
  std::vector<std::string> keys, types, objects, names, values, raws;
  std::vector<std::int64_t> ids, at;
  std::vector<std::string> has_name, has_value;
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
  // Two tries at most: HubSpot waits 5 s for the answer, and retries a 5xx itself.
  db.with_retry(
      "webhook_store",
      [&](pqxx::connection& c) {
        pqxx::work tx(c, "webhook_store");
        const auto r = tx.exec_params(
            "WITH ins AS (INSERT INTO webhook_events (dedup_key, subscription_type, object_type, object_id, "
            "property_name, property_value, occurred_at_ms, event) "
            "SELECT k, st, ot, oid, CASE WHEN hn THEN pn END, CASE WHEN hv THEN pv END, oc, ev::jsonb FROM "
            "unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::boolean[], $7::text[], "
            "$8::boolean[], $9::bigint[], $10::text[]) AS u (k, st, ot, oid, pn, hn, pv, hv, oc, ev) "
            "ON CONFLICT (dedup_key) DO NOTHING RETURNING 1) SELECT count(*) FROM ins",
            store::text_array(keys), store::text_array(types), store::text_array(objects),
            store::bigint_array(ids), store::text_array(names), store::text_array(has_name),
            store::text_array(values), store::text_array(has_value), store::bigint_array(at),
            store::text_array(raws));
        out.accepted = r[0][0].as<std::size_t>();
        out.duplicates = events.size() - out.accepted;
        if (out.accepted > 0) {
          // One waiting processor is enough: it takes every event stored before it runs.
          const auto waiting =
              tx.exec_params("SELECT 1 FROM jobs WHERE kind = $1 AND state IN ('queued', 'failed') LIMIT 1",
                             std::string(kEventsJob));
          if (waiting.empty()) {
            store::JobSpec spec;
            spec.kind = kEventsJob;
            spec.max_attempts = 10;
            store::JobQueue::enqueue(tx, spec);
          }
        }
        tx.commit();
      },
      2);
  return out;
}

void set_enabled(store::Database& db, bool enabled) {
  db.with_retry("onboarding_state", [&](pqxx::connection& c) {
    pqxx::work tx(c, "onboarding_state");
    // Turning onboarding on (again) starts the sync's safety net from now: deals won while it was off
    // are not onboarded after the fact. Off, the sync notes no stage changes (nothing would read them).
    tx.exec_params(
        "UPDATE onboarding_state SET since = CASE WHEN enabled THEN since ELSE now() END, enabled = $1",
        enabled);
    if (!enabled) tx.exec("DELETE FROM deal_stage_changes");
    tx.commit();
  });
}

json Onboarding::process_events(store::JobContext& ctx) {
  std::size_t processed = 0, onboardings = 0, refreshes = 0, ignored = 0;
  for (;;) {
    if (ctx.stop.stop_requested()) throw store::JobInterrupted("stopping: events left for the next worker");
    std::vector<double> lags;
    const auto n = db_.with_retry("webhook_process", [&](pqxx::connection& c) {
      pqxx::work tx(c, "webhook_process");
      lags.clear();
      // One processor at a time: events of one object are handled in occurredAt order.
      tx.exec("SELECT pg_advisory_xact_lock(hashtext('cshealthd.webhook.events'))");
      const auto rows = tx.exec_params(
          "SELECT id, object_type, object_id, coalesce(property_name, ''), coalesce(property_value, ''), "
          "subscription_type, (extract(epoch FROM now()) * 1000)::bigint - occurred_at_ms FROM "
          "webhook_events "
          "WHERE processed_at IS NULL ORDER BY occurred_at_ms, id LIMIT $1",
          static_cast<std::int64_t>(kEventsPerTransaction));
      if (rows.empty()) return std::size_t{0};
      const auto won = store::CrmRepository::won_stages(tx, s_.won_stages);
      std::vector<std::int64_t> ids, refresh;
      std::vector<std::string> outcomes;
      std::size_t o = 0, r = 0, g = 0;
      for (const auto& row : rows) {
        const auto id = row[0].as<std::int64_t>();
        const auto type = row[1].as<std::string>();
        const auto object = row[2].as<std::int64_t>();
        const auto name = row[3].as<std::string>();
        const auto value = row[4].as<std::string>();
        const bool change = core::is_property_change(row[5].as<std::string>());
        std::string outcome = "ignored";
        if (s_.enabled && type == "deals" && change && name == "dealstage" && won.count(value)) {
          const auto job = store::JobQueue::enqueue(tx, onboarding_job(object, "webhook"));
          outcome = job ? "onboarding" : "onboarding_exists";
          if (job) ++o;
        } else if (type == "companies" && change && s_.company_inputs.count(name) && s_.refresh_on_change) {
          refresh.push_back(object);
          outcome = "refresh";
          ++r;
        } else {
          ++g;
        }
        ids.push_back(id);
        outcomes.push_back(outcome);
        lags.push_back(static_cast<double>(std::max<std::int64_t>(0, row[6].as<std::int64_t>())) / 1000.0);
      }
      tx.exec_params(
          "UPDATE webhook_events e SET processed_at = now(), outcome = u.o FROM unnest($1::bigint[], "
          "$2::text[]) "
          "AS u (id, o) WHERE e.id = u.id",
          store::bigint_array(ids), store::text_array(outcomes));
      if (!refresh.empty()) {
        std::sort(refresh.begin(), refresh.end());
        refresh.erase(std::unique(refresh.begin(), refresh.end()), refresh.end());
        tx.exec_params("INSERT INTO refresh_requests (company_id) SELECT unnest($1::bigint[])",
                       store::bigint_array(refresh));
      }
      tx.commit();
      onboardings += o;
      refreshes += r;
      ignored += g;
      return rows.size();
    });
    for (const double lag : lags)
      metrics_
          .histogram("cshealthd_webhook_event_lag_seconds",
                     "From an event's occurredAt to its processing (HubSpot's delay included)")
          .observe(lag);
    if (n == 0) break;
    processed += n;
  }
  if (onboardings > 0 && wake_) wake_();  // the onboarding jobs just queued
  db_.with_retry("webhook_prune", [&](pqxx::connection& c) {
    pqxx::work tx(c, "webhook_prune");
    tx.exec_params("DELETE FROM webhook_events WHERE processed_at < now() - $1::bigint * interval '1 day'",
                   static_cast<std::int64_t>(s_.event_retention_days));
    tx.commit();
  });
  if (processed)
    spdlog::info("webhooks: processed {} events: {} onboardings queued, {} refresh requests, {} ignored",
                 processed, onboardings, refreshes, ignored);
  return {{"processed", processed},
          {"onboardings", onboardings},
          {"refresh_requests", refreshes},
          {"ignored", ignored}};
}

}  // namespace cshealthd::onboarding
