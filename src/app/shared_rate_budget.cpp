#include "cshealthd/app/shared_rate_budget.hpp"

#include <algorithm>
#include <optional>

#include <spdlog/spdlog.h>

#include "cshealthd/store/errors.hpp"
#include "cshealthd/store/session_lock.hpp"

namespace cshealthd::app {
namespace {

using hubspot::Budget;

const char* name_of(Budget b) {
  return b == Budget::kBurst ? "burst" : "search";
}

}  // namespace

SharedRateBudget::SharedRateBudget(std::string conninfo, hubspot::BudgetOptions options, Clock& clock,
                                   std::string owner, std::chrono::milliseconds margin)
    : conninfo_(std::move(conninfo)), o_(options), clock_(clock), owner_(std::move(owner)), margin_(margin) {}

SharedRateBudget::~SharedRateBudget() = default;

// The budget's own connection, with deadlines: a stalled database makes acquire wait and ask again, never
// hang.
void SharedRateBudget::connect() {
  if (conn_) return;
  conn_ = std::make_unique<pqxx::connection>(store::with_connect_timeout(conninfo_, 10));
  pqxx::nontransaction tx(*conn_);
  tx.exec("SET statement_timeout = 10000");
}

int SharedRateBudget::allowed() const {
  return std::max(1, static_cast<int>(o_.burst * o_.safety));
}

std::chrono::milliseconds SharedRateBudget::try_grant(Budget b) {
  std::lock_guard lock(mutex_);  // observe() may learn a lower tier or a longer window meanwhile
  const auto window = (b == Budget::kBurst ? o_.interval : std::chrono::milliseconds(1000)) + margin_;
  const int limit = b == Budget::kBurst ? allowed() : o_.search_per_second;
  try {
    connect();
    pqxx::work tx(*conn_, "rate_grant");
    // One grant decision at a time per budget, across every replica.
    tx.exec_params("SELECT pg_advisory_xact_lock($1)",
                   store::SessionLock::key(std::string("cshealthd.budget.") + name_of(b)));
    const auto ms = static_cast<long long>(window.count());
    tx.exec_params(
        "DELETE FROM rate_grants WHERE budget = $1 AND granted_at < clock_timestamp() - $2 * interval '1 "
        "millisecond'",
        name_of(b), ms);
    const auto r = tx.exec_params1(
        "SELECT count(*), coalesce(ceil(extract(epoch from (min(granted_at) + $2 * interval '1 millisecond' "
        "- "
        "clock_timestamp())) * 1000), 0)::bigint FROM rate_grants WHERE budget = $1",
        name_of(b), ms);
    const auto used = r[0].as<long long>();
    if (b == Budget::kBurst) last_used_ = used + 1;
    if (used < limit) {
      tx.exec_params("INSERT INTO rate_grants (budget, granted_at, owner) VALUES ($1, clock_timestamp(), $2)",
                     name_of(b), owner_);
      tx.commit();
      return std::chrono::milliseconds(0);
    }
    tx.commit();
    return std::chrono::milliseconds(std::clamp<long long>(r[1].as<long long>(), 1, ms));
  } catch (const std::exception& e) {
    conn_.reset();
    // The budget cannot be consulted: wait and ask again, never send unaccounted requests.
    spdlog::warn("rate budget: {}; retrying",
                 store::StoreError(store::StoreError::Kind::kTransient, e.what()).what());
    return std::chrono::milliseconds(1000);
  }
}

void SharedRateBudget::acquire(Budget b) {
  while (true) {
    std::chrono::milliseconds paused{0};
    {
      std::lock_guard lock(mutex_);
      const auto until = b == Budget::kBurst ? burst_paused_until_ : search_paused_until_;
      const auto now = clock_.steady_now();
      if (until > now) paused = std::chrono::duration_cast<std::chrono::milliseconds>(until - now);
    }
    if (paused.count() > 0) {
      clock_.sleep_for(paused);
      continue;
    }
    const auto wait = try_grant(b);
    if (wait.count() == 0) return;
    clock_.sleep_for(wait);
  }
}

// Others on the app (another integration) use the budget too: when HubSpot says more was used in its
// window than we granted, stand the difference in as grants made now.
void SharedRateBudget::observe(const http::HttpResponse& r) {
  const auto remaining = hubspot::header_count(r.header("X-HubSpot-RateLimit-Remaining"));
  const auto max = hubspot::header_count(r.header("X-HubSpot-RateLimit-Max"));
  if (!remaining || !max || *max == 0) return;  // search answers carry none
  std::lock_guard lock(mutex_);
  hubspot::adopt_portal_limits(o_, *max, r);
  const long long used = std::min<std::int64_t>(*max - std::min(*remaining, *max), allowed());
  // Within what our own grants explain (the usual case): nothing to record, no round trip.
  if (used <= last_used_ + kObserveSlack) return;
  try {
    connect();
    pqxx::work tx(*conn_, "rate_observe");
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", store::SessionLock::key("cshealthd.budget.burst"));
    const auto ms = static_cast<long long>((o_.interval + margin_).count());
    const auto granted = tx.exec_params1(
                               "SELECT count(*) FROM rate_grants WHERE budget = 'burst' AND "
                               "granted_at >= clock_timestamp() - $1 * interval '1 millisecond'",
                               ms)[0]
                             .as<long long>();
    if (used > granted) {
      tx.exec_params(
          "INSERT INTO rate_grants (budget, granted_at, owner) SELECT 'burst', clock_timestamp(), 'others' "
          "FROM generate_series(1, $1)",
          used - granted);
    }
    tx.commit();
  } catch (const std::exception& e) {
    conn_.reset();
    spdlog::warn("rate budget: could not record what HubSpot reports as used: {}", e.what());
  }
}

void SharedRateBudget::pause(Budget b, std::chrono::milliseconds d) {
  std::lock_guard lock(mutex_);
  auto& until = b == Budget::kBurst ? burst_paused_until_ : search_paused_until_;
  until = std::max(until, clock_.steady_now() + d);
}

}  // namespace cshealthd::app
