#pragma once
// Closed Won → onboarding (DOMAIN.md §4.1), by webhook and by sync: HubSpot's webhook events stored
// durably and processed in occurredAt order; one onboarding per won deal (the job key onboarding:<deal>
// is the idempotency key both paths share); an owner by remaining capacity; the dated checklist, the CS
// stage, the Services record and the Slack note through the write-back outbox; overdue steps and the
// hand-over to a CSM planned with every run.
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/base/clock.hpp"
#include "cshealthd/base/metrics.hpp"
#include "cshealthd/config/config.hpp"
#include "cshealthd/core/onboarding.hpp"
#include "cshealthd/hubspot/client_factory.hpp"
#include "cshealthd/outbox/deliverer.hpp"
#include "cshealthd/outbox/settings.hpp"
#include "cshealthd/store/database.hpp"
#include "cshealthd/store/job_queue.hpp"
#include "cshealthd/workflow/context.hpp"
#include "cshealthd/workflow/participant.hpp"

namespace cshealthd::onboarding {

inline constexpr const char* kOnboardingJob = "onboarding";
inline constexpr const char* kEventsJob = "webhook_events";

struct Template {
  std::string subject, body;
};

// The onboarding section with its checklist file read and checked (ConfigError names the key).
struct Settings {
  bool enabled = true;
  std::vector<core::ChecklistStep> steps;
  Template overdue, escalation, handover;
  std::string slack_started, slack_handover;
  std::vector<std::string> pool, csm_pool;  // owner ids and team:<id>
  int high_touch_capacity = 25, tech_touch_capacity = 150;
  int csm_high_touch_capacity = 25, csm_tech_touch_capacity = 150;
  double high_touch_min_mrr = 100'000;
  std::set<std::string> high_touch_plans, won_stages;
  int escalate_after_days = 3;
  std::string owner_property;  // on the company: who onboards it
  bool services = true;        // a Services record per onboarding (when the portal has the object)
  std::string plan_property, mrr_property, seats_property, contract_start_property, goals_property,
      kpis_property;                                        // on deals
  std::string company_plan_property, company_mrr_property;  // on companies (the mapping)
  std::set<std::string> company_inputs;    // company properties the scores read: a change means a refresh
  bool refresh_on_change = true;           // webhook.refresh_on_change
  std::int64_t event_retention_days = 14;  // webhook.retention_days
};

// `locale`: writeback.locale.
Settings load_settings(const config::Config& config);

// The properties of the Services record onboarding creates (besides its key), and the company property
// naming the onboarding owner: for the portal's set-up.
inline constexpr const char* kServicePlan = "cs_plan";
inline constexpr const char* kServiceMrr = "cs_mrr";
inline constexpr const char* kServiceSeats = "cs_licensed_seats";
inline constexpr const char* kServiceContractStart = "cs_contract_start_date";
inline constexpr const char* kServiceOnboardingStart = "cs_onboarding_start_date";
inline constexpr const char* kServiceOnboardingTarget = "cs_onboarding_target_date";
std::vector<outbox::PropertySpec> service_properties();
std::vector<outbox::PropertySpec> company_properties(const config::Config& config);
// A checklist file into `s` with the templates of `locale`; ConfigError names `where`.
void parse_checklist(const std::string& text, const std::string& where, const std::string& locale,
                     Settings& s);

struct Stored {
  std::size_t accepted = 0, duplicates = 0;
};

// Stores a batch of webhook events in one transaction, de-duplicated on HubSpot's identity of an event,
// and queues their processing (unless a processing job is already waiting). Throws store::StoreError when
// it could not: the caller answers 5xx so that HubSpot retries.
Stored store_events(store::Database& db, const std::vector<core::WebhookEvent>& events);

// Records whether onboarding runs in this deployment (the sync's stage-change notes are kept only when
// it does); turning it on starts the safety net from now.
void set_enabled(store::Database& db, bool enabled);

struct Won;  // a won deal and its company, as read from HubSpot

class Onboarding : public workflow::Participant {
 public:
  // `wake`: the job workers, when onboarding jobs were queued.
  // `deliverer`: sends the new onboarding's items right away (its first task should not wait for a run).
  Onboarding(store::Database& db, const Settings& settings, const workflow::Context& workflow,
             outbox::Deliverer& deliverer, hubspot::ClientFactory clients, metrics::Registry& metrics,
             Clock& clock, std::function<void()> wake);

  // The handler of webhook_events jobs: every stored event not yet processed, in occurredAt order (one
  // processor at a time): a deal now in a won stage queues its onboarding; a change of a company input a
  // refresh request.
  nlohmann::json process_events(store::JobContext& ctx);
  // The handler of onboarding jobs (payload deal_id, source): reads the deal and its company, assigns
  // the owner and records the onboarding with its outbox items in one transaction, then delivers them.
  nlohmann::json onboard(store::JobContext& ctx);
  // After a sync: the deals the sync saw enter a won stage (deal_stage_changes) get their onboarding job.
  nlohmann::json from_sync();
  const char* name() const override { return "onboarding"; }
  nlohmann::json after_sync() override { return from_sync(); }
  // {"onboarding": plan_progress}
  nlohmann::json plan(pqxx::work& tx, const workflow::PlanDay& day) override;
  // In the plan stage's transaction: overdue steps' alerts and escalations, and hand-overs of the
  // onboardings whose every step is completed.
  nlohmann::json plan_progress(pqxx::work& tx, std::int32_t day);

 private:
  std::int32_t today() const;
  std::string handover_csm(pqxx::work& tx, const std::string& segment, std::int64_t company,
                           const std::string& owner) const;
  nlohmann::json record(const Won& won, const std::string& source);

  store::Database& db_;
  const Settings& s_;
  const workflow::Context& wb_;
  outbox::Deliverer& deliverer_;
  hubspot::ClientFactory clients_;
  metrics::Registry& metrics_;
  Clock& clock_;
  std::function<void()> wake_;
};

}  // namespace cshealthd::onboarding
