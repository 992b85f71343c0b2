#include "resource.hpp"

#include <charconv>

#include "cshealthd/core/time.hpp"
#include "cshealthd/scoring/batch.hpp"

namespace cshealthd::api {

std::optional<std::int64_t> parse_id(const std::string& s) {
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || s.size() > 18 || ec != std::errc() || p != s.data() + s.size() || v <= 0)
    return std::nullopt;
  return v;
}

std::optional<long long> parse_int(const std::map<std::string, std::string>& q, const std::string& key) {
  const auto it = q.find(key);
  if (it == q.end()) return std::nullopt;
  long long v = 0;
  const auto& s = it->second;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size())
    throw BadRequest(key + ": expected an integer");
  return v;
}

http::Handler company_handler(CompanyHandler f) {
  return id_handler("company", std::move(f));
}

std::int32_t service_day(const Context& ctx) {
  return ctx.deps.today();
}

json time_or_null(std::int64_t ms) {
  return ms == 0 ? json(nullptr) : json(core::format_iso8601(ms));
}

http::Handler id_handler(const std::string& resource, CompanyHandler f) {
  return [f = std::move(f), resource](const Request& req) {
    std::int64_t id = 0;
    if (const auto it = req.params.find("id"); it != req.params.end()) {
      const auto parsed = parse_id(it->second);
      if (!parsed) {
        return resource == "company" ? Response::error(400, "bad_company_id",
                                                       "company id must be a HubSpot company id (digits)")
                                     : Response::error(400, "bad_" + resource + "_id",
                                                       resource + " id must be a positive integer");
      }
      id = *parsed;
    }
    try {
      return f(req, id);
    } catch (const BadRequest& e) {
      return Response::error(400, "invalid_request", e.what());
    } catch (const scoring::InvalidRequest& e) {  // the scoring store's words for a bad override
      return Response::error(400, "invalid_request", e.what());
    } catch (const json::parse_error& e) {
      // Not JSON, or not UTF-8: named by position, never echoed.
      return Response::error(400, "invalid_json",
                             "request body is not valid JSON (UTF-8) at byte " + std::to_string(e.byte));
    } catch (const json::exception& e) {
      return Response::error(400, "invalid_request", std::string("request body: ") + e.what());
    }
  };
}

Response company_not_found(std::int64_t id) {
  return Response::error(404, "company_not_found",
                         "no company " + std::to_string(id) + " (not synced from HubSpot)");
}

}  // namespace cshealthd::api
