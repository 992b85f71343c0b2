#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "cshealthd/base/clock.hpp"
#include "cshealthd/base/metrics.hpp"
#include "cshealthd/base/secret.hpp"
#include "cshealthd/http/transport.hpp"
#include "cshealthd/hubspot/rate_budget.hpp"
#include "cshealthd/hubspot/records.hpp"

namespace cshealthd::hubspot {

// HubSpot refused or failed a request for good. Carries HubSpot's own words (message, category,
// correlationId) for the log and the operator; never the token.
class ApiError : public std::runtime_error {
 public:
  enum class Kind { kRejected, kUnauthorized, kForbidden, kNotFound, kConflict, kRateLimited, kUnavailable };
  ApiError(Kind kind, int status, std::string category, std::string correlation_id, const std::string& what)
      : std::runtime_error(what),
        kind_(kind),
        status_(status),
        category_(std::move(category)),
        correlation_id_(std::move(correlation_id)) {}
  Kind kind() const { return kind_; }
  int status() const { return status_; }  // 0 when no answer came (transport failures)
  const std::string& category() const { return category_; }
  const std::string& correlation_id() const { return correlation_id_; }

 private:
  Kind kind_;
  int status_;
  std::string category_, correlation_id_;
};

// A write that is not idempotent (a create) was sent and its outcome is unknown: no answer came, a 5xx
// came (HubSpot may have applied it first), or a success arrived unreadable. Never retried blindly: the
// caller reconciles (searches for what it wrote) before sending it again.
class OutcomeUnknown : public ApiError {
 public:
  using ApiError::ApiError;
};

// Whether a request may be repeated after an unknown outcome.
enum class Repeat { kSafe, kOnlyIfNotApplied };

// HubSpot's paths in one spelling, chosen by hubspot.api_version: "v3" (/crm/v3/objects/deals, the v4
// associations) or a dated version (/crm/objects/2026-03/deals). Every path the service calls is built
// here.
class ApiPaths {
 public:
  explicit ApiPaths(std::string version = "v3");
  const std::string& version() const { return version_; }
  std::string objects(std::string_view type) const;                            // .../objects/{type}
  std::string properties(std::string_view type) const;                         // .../properties/{type}
  std::string associations(std::string_view from, std::string_view to) const;  // .../associations/{f}/{t}
  std::string owners() const;
  std::string pipelines(std::string_view type) const;

 private:
  std::string api(std::string_view name, std::string_view v3) const;
  std::string version_;
};

struct ClientOptions {
  int max_attempts = 8;                         // per request, for transient failures and 429s
  std::chrono::milliseconds backoff_base{500};  // full jitter: uniform(0, min(cap, base * 2^n))
  std::chrono::milliseconds backoff_cap{30'000};
  std::chrono::milliseconds rate_limit_wait{10'000};  // after a 429 without Retry-After: one interval
  // The longest a Retry-After may make us wait (HubSpot's answers are input like any other: a
  // Retry-After of years is clamped to this, not obeyed).
  std::chrono::milliseconds max_retry_wait{60'000};
  std::uint64_t jitter_seed = 0;      // 0: random
  std::size_t max_url_chars = 3'000;  // longer property lists are split over requests
  std::string api_version = "v3";     // see ApiPaths
};

struct ListQuery {
  std::size_t limit = 100;
  std::string after;
  std::vector<std::string> properties;
  std::vector<std::string> properties_with_history;
  std::vector<std::string> associations;
  bool archived = false;
};

// The HubSpot API calls the service makes, with one generic path for every object type. Each call
// takes a budget token, retries what is transient (5xx, 423, timeouts, resets, truncated bodies) with
// jittered exponential backoff and waits out 429s (Retry-After when sent), and turns every other
// failure into an ApiError. Not thread-safe (a Transport is one connection): one client per worker.
class HubSpotClient {
 public:
  HubSpotClient(http::Transport& transport, RateBudget& budget, Clock& clock, Secret token,
                metrics::Registry& metrics, ClientOptions options = {});

  Page list(const std::string& type, const ListQuery& q);
  // Records by id (≤ 100); ids HubSpot does not know are left out of the result, and an id merged into
  // another record reads as that record. With `archived`, only archived records are read.
  std::vector<Record> batch_read(const std::string& type, const std::vector<std::string>& ids,
                                 const std::vector<std::string>& properties,
                                 const std::vector<std::string>& properties_with_history = {},
                                 bool archived = false);
  Page search(const std::string& type, const nlohmann::json& body);
  struct Associations {
    std::map<std::string, std::vector<std::string>> links;  // from-id -> to-ids; ids without any: absent
    std::vector<std::string> failed;  // ids HubSpot gave an error for: their links are unknown
  };
  // ≤ 1000 ids per call.
  Associations associations(const std::string& from, const std::string& to,
                            const std::vector<std::string>& ids);
  std::vector<nlohmann::json> properties(const std::string& type);
  std::vector<nlohmann::json> owners();
  std::vector<nlohmann::json> pipelines(const std::string& type);

  // The raw call with the retry policy; `endpoint` names it in metrics and errors.
  // With Repeat::kOnlyIfNotApplied only 429s and 423s (which apply nothing) are retried; every other
  // failure after sending throws OutcomeUnknown.
  nlohmann::json call(const std::string& endpoint, const std::string& method, const std::string& target,
                      const nlohmann::json& body = nullptr, Budget budget = Budget::kBurst,
                      Repeat repeat = Repeat::kSafe);

  struct Stats {
    std::uint64_t calls = 0, retries = 0, rate_limited = 0;
  };
  const Stats& stats() const { return stats_; }
  const ApiPaths& paths() const { return paths_; }

 private:
  std::chrono::milliseconds backoff(int attempt);
  // Sends the request until it succeeds and `accept` takes the answer's body, with the retry policy. A
  // body `accept` cannot parse (json::parse_error: a truncated answer) is retried; one of the wrong
  // shape (MalformedAnswer) is an ApiError.
  void exchange(const std::string& endpoint, const std::string& method, const std::string& target,
                const nlohmann::json& body, Budget budget,
                const std::function<void(std::string_view)>& accept, Repeat repeat = Repeat::kSafe);
  Page read_page(const std::string& endpoint, const std::string& method, const std::string& target,
                 const nlohmann::json& body, Budget budget);
  Page list_chunk(const std::string& type, const ListQuery& q, const std::vector<std::string>& props);

  http::Transport& transport_;
  RateBudget& budget_;
  Clock& clock_;
  Secret token_;
  metrics::Registry& metrics_;
  ClientOptions options_;
  ApiPaths paths_;
  std::mt19937_64 rng_;
  Stats stats_;
};

// Walks one cursor chain (a list, the owners): a cursor HubSpot hands out twice would loop forever, so it
// ends the walk with an ApiError naming the call.
class CursorGuard {
 public:
  explicit CursorGuard(std::string endpoint) : endpoint_(std::move(endpoint)) {}
  // Records the cursor of the next page; throws when it was seen before in this walk.
  void next(const std::string& cursor);

 private:
  std::string endpoint_;
  std::unordered_set<std::string> seen_;
};

// A Retry-After value in delay-seconds, clamped to `max`; nullopt for anything else (an HTTP date,
// garbage, a negative number), which then reads as absent.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::milliseconds max);

// Splits names into comma-joined groups of at most `max_chars` each.
std::vector<std::vector<std::string>> chunk_names(const std::vector<std::string>& names,
                                                  std::size_t max_chars);

}  // namespace cshealthd::hubspot
