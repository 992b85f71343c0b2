// GET /v1/outbox?state=&limit=&before=, POST /v1/outbox/{id}/retry: what write-back owes HubSpot, and the
// dead letters an operator can send again. GET and POST /v1/companies/{id}/snoozes, DELETE
// /v1/companies/{id}/snoozes/{rule}: a CS lead silences one alert rule at one company until a date.
#include <spdlog/spdlog.h>

#include "cshealthd/alerts/store.hpp"
#include "cshealthd/api/admin_auth.hpp"
#include "cshealthd/outbox/outbox_store.hpp"
#include "resource.hpp"

namespace cshealthd::api {
namespace {

json outbox_json(const outbox::OutboxItem& o) {
  return {{"id", o.id},
          {"key", o.key},
          {"kind", o.kind},
          {"state", o.state},
          {"company_id", o.company_id ? json(std::to_string(*o.company_id)) : json(nullptr)},
          {"run_id", o.run_id ? json(*o.run_id) : json(nullptr)},
          {"attempts", o.attempts},
          {"hubspot_id", o.hubspot_id ? json(*o.hubspot_id) : json(nullptr)},
          {"error", o.error ? json(*o.error) : json(nullptr)},
          {"payload", o.payload},
          {"created_at", o.created_at},
          {"updated_at", o.updated_at}};
}

json snooze_json(const alerts::StoredSnooze& s) {
  return {{"id", s.id},
          {"company_id", std::to_string(s.company_id)},
          {"rule", s.rule},
          {"until", s.until},
          {"reason", s.reason},
          {"author", s.author},
          {"created_at", s.created_at},
          {"revoked", s.revoked},
          {"revoked_by", s.revoked_by ? json(*s.revoked_by) : json(nullptr)}};
}

std::vector<std::string> rule_names(const Context& ctx) {
  std::vector<std::string> out;
  if (ctx.deps.writeback) {
    for (const auto& r : ctx.deps.writeback->plan.rules) out.push_back(r.name);
  }
  return out;
}

Response post_snooze(Context& ctx, const Request& req, std::int64_t id) {
  const json body = json::parse(req.body);
  if (!body.is_object()) throw BadRequest("request body: expected a JSON object");
  for (const auto& [key, _] : body.items()) {
    if (key != "rule" && key != "until" && key != "reason" && key != "author")
      throw BadRequest("unknown field '" + key + "'");
  }
  for (const char* key : {"rule", "until", "reason"}) {
    if (!body.contains(key) || !body[key].is_string())
      throw BadRequest(std::string(key) + ": required, a string");
  }
  if (body.contains("author") && !body["author"].is_string()) throw BadRequest("author: expected a string");
  if (!ctx.store.company_exists(id)) return company_not_found(id);
  alerts::AlertStore store(ctx.deps.db);
  try {
    const auto s = store.snooze(id, body["rule"].get<std::string>(), body["until"].get<std::string>(),
                                body["reason"].get<std::string>(), body.value("author", "admin-api"),
                                rule_names(ctx), ctx.deps.today());
    spdlog::info("snooze: {} at company {} until {} by {} ({})", s.rule, id, s.until, s.author, s.reason);
    return Response::json(201, {{"snooze", snooze_json(s)}});
  } catch (const alerts::InvalidSnooze& e) {
    throw BadRequest(e.what());
  }
}

}  // namespace

void add_writeback_routes(http::Router& router, const std::shared_ptr<Context>& ctx) {
  const auto admin = admin_route(ctx->deps.admin_token);
  router.add(
      "GET", "/v1/outbox",
      id_handler("outbox",
                 [ctx](const Request& r, std::int64_t) {
                   std::optional<std::string> state;
                   if (const auto it = r.query.find("state"); it != r.query.end()) {
                     static const std::vector<std::string> kStates{"pending", "sending", "done", "dead"};
                     if (std::find(kStates.begin(), kStates.end(), it->second) == kStates.end())
                       throw BadRequest("state: expected pending|sending|done|dead");
                     state = it->second;
                   }
                   const auto limit = parse_int(r.query, "limit").value_or(100);
                   if (limit < 1 || limit > 1000) throw BadRequest("limit: expected 1 to 1000");
                   const auto before =
                       parse_int(r.query, "before").value_or(std::numeric_limits<std::int64_t>::max());
                   outbox::OutboxStore store(ctx->deps.db);
                   json items = json::array();
                   const auto list = store.list(state, static_cast<std::size_t>(limit), before);
                   for (const auto& o : list) items.push_back(outbox_json(o));
                   json out = {{"items", items}, {"counts", store.counts()}};
                   if (list.size() == static_cast<std::size_t>(limit)) out["next_before"] = list.back().id;
                   return Response::json(200, out);
                 }),
      admin);
  router.add("POST", "/v1/outbox/{id}/retry",
             id_handler("outbox",
                        [ctx](const Request&, std::int64_t id) {
                          outbox::OutboxStore store(ctx->deps.db);
                          const auto item = store.get(id);
                          if (!item)
                            return Response::error(404, "outbox_item_not_found",
                                                   "no outbox item " + std::to_string(id));
                          const auto again = store.retry(id);
                          if (!again) {
                            return Response::error(409, "outbox_item_not_retryable",
                                                   "outbox item " + std::to_string(id) + " is " +
                                                       item->state + "; only dead items are sent again");
                          }
                          spdlog::info("outbox: item {} ({}) queued again by an operator", id, again->key);
                          return Response::json(200, {{"item", outbox_json(*again)}});
                        }),
             admin);
  router.add("GET", "/v1/companies/{id}/snoozes", company_handler([ctx](const Request&, std::int64_t id) {
               alerts::AlertStore store(ctx->deps.db);
               json list = json::array();
               for (const auto& s : store.snoozes(id)) list.push_back(snooze_json(s));
               return Response::json(200, {{"snoozes", list}});
             }),
             admin);
  router.add("POST", "/v1/companies/{id}/snoozes",
             company_handler([ctx](const Request& r, std::int64_t id) { return post_snooze(*ctx, r, id); }),
             admin);
  router.add("DELETE", "/v1/companies/{id}/snoozes/{rule}",
             company_handler([ctx](const Request& r, std::int64_t id) {
               alerts::AlertStore store(ctx->deps.db);
               const std::string rule = r.params.at("rule");
               const auto actor = r.query.count("author") ? r.query.at("author") : std::string("admin-api");
               if (!store.unsnooze(id, rule, actor))
                 return Response::error(404, "snooze_not_found",
                                        "no live snooze of " + rule + " at company " + std::to_string(id));
               spdlog::info("snooze: {} at company {} revoked by {}", rule, id, actor);
               return Response::text(204, "", "application/json");
             }),
             admin);
}

}  // namespace cshealthd::api
