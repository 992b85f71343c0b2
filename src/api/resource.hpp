#pragma once
// What every /v1 resource shares: its dependencies, the health store, request parsing, and one wrapper
// that turns a handler's errors into JSON answers. Private to src/api.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/api/health_json.hpp"
#include "cshealthd/api/v1.hpp"
#include "cshealthd/http/message.hpp"
#include "cshealthd/scoring/health_store.hpp"

namespace cshealthd::api {

using json = nlohmann::json;
using http::Request;
using http::Response;

// One per service: the deps, and the store the resources read through.
// A request the caller got wrong: answered 400 invalid_request with its words.
class BadRequest : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Context {
  explicit Context(V1Deps d) : deps(std::move(d)), store(deps.db, deps.scoring) {}
  V1Deps deps;
  scoring::HealthStore store;
};

// A HubSpot id (1 to 18 digits), or nullopt.
std::optional<std::int64_t> parse_id(const std::string& s);
// The integer query parameter `key`, nullopt when absent; BadRequest when not an integer.
std::optional<long long> parse_int(const std::map<std::string, std::string>& q, const std::string& key);

// A handler taking the route's {id} as a company id (0 when the route has none), with errors as JSON:
// a bad id 400, BadRequest (and the scoring store's InvalidRequest) 400, a body that is not JSON (or
// not UTF-8) 400 naming the byte.
using CompanyHandler = std::function<Response(const Request&, std::int64_t)>;
http::Handler company_handler(CompanyHandler f);
// The same for another resource's {id}: a bad one is 400 bad_<resource>_id.
http::Handler id_handler(const std::string& resource, CompanyHandler f);

Response company_not_found(std::int64_t id);

// Each resource's routes, on the shared context; admin_route() guards them all.
void add_company_health_routes(http::Router& router, const std::shared_ptr<Context>& ctx);
void add_score_routes(http::Router& router, const std::shared_ptr<Context>& ctx);
void add_override_routes(http::Router& router, const std::shared_ptr<Context>& ctx);
void add_run_routes(http::Router& router, const std::shared_ptr<Context>& ctx);
void add_job_routes(http::Router& router, const std::shared_ptr<Context>& ctx);
void add_writeback_routes(http::Router& router, const std::shared_ptr<Context>& ctx);
void add_kpi_routes(http::Router& router, const std::shared_ptr<Context>& ctx);
void add_backtest_routes(http::Router& router, const std::shared_ptr<Context>& ctx);
void add_calibration_routes(http::Router& router, const std::shared_ptr<Context>& ctx);
void add_usage_routes(http::Router& router, const std::shared_ptr<Context>& ctx);
void add_segment_routes(http::Router& router, const std::shared_ptr<Context>& ctx);

// A kind of stored report: GET /v1/<plural>?limit=1..200 (the latest first) and /v1/<plural>/{id}
// (404 <singular>_not_found), for the admin and the dashboard tokens.
struct StoredReports {
  std::string singular, plural;
  std::function<json(pqxx::transaction_base&, std::size_t)> list;
  std::function<std::optional<json>(pqxx::transaction_base&, std::int64_t)> get;
};
void add_stored_report_routes(http::Router& router, const std::shared_ptr<Context>& ctx, StoredReports reports);

// Today as the service's clock has it: the day a run started now would score (the schedule's zone).
std::int32_t service_day(const Context& ctx);

// Epoch milliseconds as ISO 8601, or null for 0 (not yet).
json time_or_null(std::int64_t ms);

}  // namespace cshealthd::api
