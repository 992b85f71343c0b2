// GET /v1/scores: the latest results, filtered by status, segment and day, paged by company id.
#include <algorithm>
#include <vector>

#include "cshealthd/api/admin_auth.hpp"
#include "cshealthd/core/time.hpp"
#include "resource.hpp"

namespace cshealthd::api {

void add_score_routes(http::Router& router, const std::shared_ptr<Context>& ctx) {
  router.add(
      "GET", "/v1/scores", company_handler([ctx](const Request& req, std::int64_t) {
        scoring::ScoreListQuery q;
        if (auto it = req.query.find("status"); it != req.query.end()) {
          static const std::vector<std::string> kStatuses = {"green", "yellow", "orange", "red", "unknown"};
          if (std::find(kStatuses.begin(), kStatuses.end(), it->second) == kStatuses.end())
            throw BadRequest("status: expected green, yellow, orange, red or unknown");
          q.status = it->second;
        }
        if (auto it = req.query.find("segment"); it != req.query.end()) q.segment = it->second;
        if (auto it = req.query.find("as_of"); it != req.query.end()) {
          q.day = core::parse_day(it->second);
          if (!q.day) throw BadRequest("as_of: expected a date YYYY-MM-DD");
        }
        const long long limit = parse_int(req.query, "limit").value_or(100);
        if (limit < 1 || limit > 1000) throw BadRequest("limit: expected 1 to 1000");
        q.limit = static_cast<std::size_t>(limit);
        if (auto it = req.query.find("after"); it != req.query.end()) {
          const auto after = parse_id(it->second);
          if (!after) throw BadRequest("after: expected a company id");
          q.after = *after;
        }
        return Response::json(200, to_json(ctx->store.list(q)));
      }),
      reader_route(ctx->deps.admin_token, ctx->deps.dashboard_token));
}

}  // namespace cshealthd::api
