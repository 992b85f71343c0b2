// HubSpot's webhook events: stored durably, then processed in occurredAt order into onboardings and
// refresh requests.
#include <algorithm>
#include <map>

#include <spdlog/spdlog.h>

#include "cshealthd/core/schedule.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/store/crm_repository.hpp"
#include "cshealthd/store/job_queue.hpp"
#include "cshealthd/store/refresh_requests.hpp"
#include "event_store.hpp"
#include "internal.hpp"
#include "onboarding_store.hpp"

namespace cshealthd::onboarding {
using namespace detail;

namespace {

constexpr std::size_t kEventsPerTransaction = 500;

}  // namespace

Stored store_events(store::Database& db, const std::vector<core::WebhookEvent>& events) {
  Stored out;
  if (events.empty()) return out;
  // Two tries at most: HubSpot waits 5 s for the answer, and retries a 5xx itself.
  db.with_retry(
      "webhook_store",
      [&](pqxx::connection& c) {
        pqxx::work tx(c, "webhook_store");
        out.accepted = WebhookEventStore::insert(tx, events);
        out.duplicates = events.size() - out.accepted;
        if (out.accepted > 0) {
          // One waiting processor is enough: it takes every event stored before it runs.
          if (!store::JobQueue::waiting(tx, kEventsJob)) {
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
    OnboardingStore::set_enabled(tx, enabled);
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
      WebhookEventStore::lock_processing(tx);
      const auto rows = WebhookEventStore::unprocessed(tx, kEventsPerTransaction);
      if (rows.empty()) return std::size_t{0};
      const auto won = store::CrmRepository::won_stages(tx, s_.won_stages);
      std::vector<std::int64_t> ids, refresh;
      std::vector<std::string> outcomes;
      std::size_t o = 0, r = 0, g = 0;
      for (const auto& row : rows) {
        const auto& type = row.object_type;
        const auto object = row.object_id;
        const auto& name = row.property_name;
        const auto& value = row.property_value;
        const bool change = core::is_property_change(row.subscription_type);
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
        ids.push_back(row.id);
        outcomes.push_back(outcome);
        lags.push_back(static_cast<double>(std::max<std::int64_t>(0, row.age_ms)) / 1000.0);
      }
      WebhookEventStore::mark_processed(tx, ids, outcomes);
      std::sort(refresh.begin(), refresh.end());
      refresh.erase(std::unique(refresh.begin(), refresh.end()), refresh.end());
      store::RefreshRequests::add(tx, refresh);
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
    WebhookEventStore::prune(tx, s_.event_retention_days);
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
