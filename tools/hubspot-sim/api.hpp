#pragma once
#include <chrono>
// The HubSpot API as the simulator serves it, and the /__sim inspection endpoints.
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "cshealthd/http/router.hpp"
#include "limits.hpp"
#include "portal.hpp"

namespace cshealthd::sim {

struct SimOptions {
  std::string token = "sim-token";
  RateLimitOptions limits;
  std::string faults;
  EpochMs search_lag_ms = 0;  // records changed within this long are not yet found by search
  std::size_t request_log_limit = 200'000;
  std::int64_t portal_id = 62515;
  std::int64_t app_id = 1160452;
  // Whether the portal lets an app create a task property with unique values (HubSpot does not document
  // it; both kinds of portal must work).
  bool unique_task_properties = true;
  int slack_fail_first = 0;  // the Slack stand-in (/__sim/slack) answers 500 to this many posts first
};

class Simulator {
 public:
  using PortalFactory = std::function<std::unique_ptr<Portal>()>;
  using EventSink = std::function<void(nlohmann::json event)>;

  Simulator(SimOptions options, PortalFactory factory);
  void add_routes(http::Router& router);

  EpochMs now() const;  // simulated time: the wall clock plus an offset moved by POST /__sim/clock
  void advance_clock(EpochMs delta_ms) { clock_offset_ += delta_ms; }
  // Called (outside the portal lock) for every change made through the API that HubSpot would send a
  // webhook for: a deal's dealstage written, a company property changed.
  void on_change(EventSink sink) { sink_ = std::move(sink); }
  nlohmann::json dump_state();
  const SimOptions& options() const { return options_; }

 private:
  enum class Kind { kApi, kSearch };
  http::Handler guarded(Kind kind, http::Handler inner);
  void log_request(const http::Request& req, int status);

  http::Response list(const http::Request& req);
  http::Response get(const http::Request& req);
  http::Response create(const http::Request& req);
  http::Response patch(const http::Request& req);
  http::Response archive(const http::Request& req);
  http::Response batch(const http::Request& req);
  http::Response merge(const http::Request& req);
  http::Response search(const http::Request& req);
  http::Response assoc_list(const http::Request& req);
  http::Response assoc_batch_read(const http::Request& req);
  http::Response assoc_put(const http::Request& req, bool typed);
  http::Response assoc_batch_associate(const http::Request& req);
  std::optional<http::Response> assoc_batch_inputs(const http::Request& req, const TypeInfo*& from,
                                                   const TypeInfo*& to, nlohmann::json& inputs);
  // Associations of a create input ([{to:{id}, types:[{associationTypeId}]}]), checked against existing
  // records; the portal lock is held.
  using Links = std::vector<std::pair<const TypeInfo*, std::pair<std::uint64_t, int>>>;
  std::optional<http::Response> read_links(const TypeInfo& t, const nlohmann::json& associations, Links& out);
  http::Response slack(const http::Request& req);
  http::Response properties_list(const http::Request& req);
  http::Response property_get(const http::Request& req);
  http::Response property_create(const http::Request& req);
  http::Response groups(const http::Request& req);
  http::Response owners(const http::Request& req);
  http::Response pipelines(const http::Request& req);
  http::Response sim_objects(const http::Request& req);
  http::Response sim_inject(const http::Request& req);
  http::Response sim_requests(const http::Request& req);

  void emit_events(std::vector<nlohmann::json>& events);

  SimOptions options_;
  PortalFactory factory_;
  std::mutex mutex_;  // guards portal_
  std::unique_ptr<Portal> portal_;
  RateLimiter limiter_;
  Faults faults_;
  std::atomic<EpochMs> clock_offset_{0};
  EventSink sink_;
  std::atomic<std::int64_t> event_seq_{1};
  std::mutex slack_mutex_;
  nlohmann::json slack_posts_ = nlohmann::json::array();
  int slack_answered_ = 0;

  struct Logged {
    std::uint64_t seq;
    std::string method, path, body;
    int status;
    std::int64_t at_ms;  // steady milliseconds since the simulator started: for rate-window checks
  };
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::mutex log_mutex_;
  std::deque<Logged> log_;
  std::uint64_t log_seq_ = 0;
};

}  // namespace cshealthd::sim
