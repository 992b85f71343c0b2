// POST /v1/segment and /v1/segment/batch: Segment's HTTP Tracking API, as Segment's or RudderStack's HTTP
// destination (or an analytics library) sends it. Each event's messageId is recorded, and what a new
// event says (a user active on a day, a login, a key feature, the user's company) is kept before the
// answer; the events themselves are not. The daily figures follow when the scheduler settles them.
#include <spdlog/spdlog.h>

#include "cshealthd/api/admin_auth.hpp"
#include "cshealthd/core/segment.hpp"
#include "cshealthd/store/segment_store.hpp"
#include "resource.hpp"

namespace cshealthd::api {
namespace {

Response post_segment(Context& ctx, const Request& req, bool batch) {
  auto& m = ctx.deps.metrics;
  const auto count = [&](const char* outcome, std::size_t n) {
    m.counter("cshealthd_segment_events_total", "Segment events received, by outcome", {{"outcome", outcome}})
        .inc(static_cast<double>(n));
  };
  core::SegmentParsed parsed;
  try {
    parsed = core::parse_segment(req.body, batch, ctx.deps.now_ms());
  } catch (const std::invalid_argument& e) {
    count("rejected", 1);
    throw BadRequest(e.what());
  }
  const auto& settings = *ctx.deps.segment;
  const core::TimeZone utc = core::TimeZone::utc();
  const core::TimeZone& zone = ctx.deps.zone ? *ctx.deps.zone : utc;
  const std::int32_t today = ctx.deps.today();
  struct Kept {
    std::size_t fresh = 0;
    core::SegmentActivity activity;
  };
  const auto kept = ctx.deps.db.with_retry("segment_put", [&](pqxx::connection& c) {
    pqxx::work tx(c, "segment_put");
    const auto fresh = store::SegmentStore::fresh(tx, parsed.events);
    Kept k;
    k.fresh = static_cast<std::size_t>(std::count(fresh.begin(), fresh.end(), true));
    k.activity = core::aggregate_segment(parsed.events, fresh, settings, zone, today);
    store::SegmentStore::add(tx, k.activity);
    tx.commit();
    return k;
  });
  const std::size_t duplicates = parsed.events.size() - kept.fresh;
  const std::size_t rejected = parsed.errors.size() + kept.activity.errors.size();
  const std::size_t ignored = kept.fresh - kept.activity.counted - kept.activity.errors.size();
  count("counted", kept.activity.counted);
  count("duplicate", duplicates);
  count("ignored", ignored);
  count("rejected", rejected);
  auto errors = parsed.errors;
  errors.insert(errors.end(), kept.activity.errors.begin(), kept.activity.errors.end());
  std::sort(errors.begin(), errors.end());
  json out_errors = json::array();
  for (const auto& [index, why] : errors) out_errors.push_back({{"index", index}, {"error", why}});
  if (rejected > 0)
    spdlog::info("segment: {} events, {} counted, {} duplicate, {} rejected (first: #{} {})", parsed.total,
                 kept.activity.counted, duplicates, rejected, errors.front().first, errors.front().second);
  const json out = {
      {"success", rejected < parsed.total}, {"events", parsed.total}, {"counted", kept.activity.counted},
      {"duplicates", duplicates},           {"ignored", ignored},     {"rejected", out_errors}};
  // Every event wrong (a single call that is wrong): the sender should hear it as an error.
  return Response::json(rejected == parsed.total && parsed.total > 0 ? 400 : 200, out);
}

}  // namespace

void add_segment_routes(http::Router& router, const std::shared_ptr<Context>& ctx) {
  if (!ctx->deps.usage_enabled) return;
  const Secret key = ctx->deps.segment ? ctx->deps.segment_write_key : Secret();
  router.add("POST", "/v1/segment",
             company_handler([ctx](const Request& r, std::int64_t) { return post_segment(*ctx, r, false); }),
             segment_route(key));
  router.add("POST", "/v1/segment/batch",
             company_handler([ctx](const Request& r, std::int64_t) { return post_segment(*ctx, r, true); }),
             segment_route(key));
}

}  // namespace cshealthd::api
