// What the HTTP server does with a request's target before any handler runs: percent-decoding, the
// query, routing and the error answer. The answer is always valid JSON, the metric labels always come
// from a fixed set, and the log line built from the same bytes is valid JSON too.
#include <cstdint>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "cshealthd/base/log.hpp"
#include "cshealthd/http/message.hpp"
#include "cshealthd/http/router.hpp"
#include "fuzz_check.hpp"

using namespace cshealthd::http;

namespace {

const Router& router() {
  static const Router r = [] {
    Router x;
    const Handler ok = [](const Request&) { return Response::text(200, "ok"); };
    x.add("GET", "/healthz", ok);
    x.add("GET", "/v1/companies/{id}/health", ok);
    x.add("PUT", "/v1/companies/{id}/override", ok);
    x.add("GET", "/v1/scores", ok);
    return x;
  }();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  // METHOD \n TARGET
  const auto cut = input.find('\n');
  const std::string method = cut == std::string::npos ? "GET" : input.substr(0, cut);
  const std::string target = cut == std::string::npos ? input : input.substr(cut + 1);
  const auto q = target.find('?');
  const std::string path = percent_decode(std::string_view(target).substr(0, q), false);
  if (q != std::string::npos) (void)parse_query(std::string_view(target).substr(q + 1));
  const auto match = router().match(method, path);
  static const std::set<std::string> kRoutes = {"unmatched", "/healthz", "/v1/companies/{id}/health",
                                                "/v1/companies/{id}/override", "/v1/scores"};
  FUZZ_CHECK(kRoutes.count(match.route) == 1);
  static const std::set<std::string> kMethods = {"GET",   "HEAD",   "POST",    "PUT",
                                                 "PATCH", "DELETE", "OPTIONS", "other"};
  FUZZ_CHECK(kMethods.count(method_label(method)) == 1);
  const Response r = match.status == 405
                         ? Response::error(405, "method_not_allowed", method + " on " + match.route)
                         : Response::error(404, "not_found", "no route for " + path);
  FUZZ_CHECK(nlohmann::json::accept(r.body));
  std::string line = "\"";
  cshealthd::log::append_json_escaped(line, target);
  line += '"';
  FUZZ_CHECK(nlohmann::json::accept(line));
  return 0;
}
