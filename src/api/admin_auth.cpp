#include "cshealthd/api/admin_auth.hpp"

#include <openssl/crypto.h>

namespace cshealthd::api {
namespace {

// "Bearer <token>", compared in constant time.
bool authorized(const http::Request& req, const Secret& token) {
  const std::string* h = req.header("authorization");
  if (!h || h->rfind("Bearer ", 0) != 0) return false;
  const std::string_view given = std::string_view(*h).substr(7);
  const std::string& want = token.reveal();
  return given.size() == want.size() && CRYPTO_memcmp(given.data(), want.data(), want.size()) == 0;
}

}  // namespace

http::RouteOptions admin_route(Secret token) {
  http::RouteOptions options;
  options.precheck = [token = std::move(token)](const http::Request& req) -> std::optional<http::Response> {
    if (token.empty())
      return http::Response::error(503, "admin_disabled",
                                   "the admin API is disabled: set admin.token (CSHEALTHD_ADMIN_TOKEN)");
    if (!authorized(req, token)) {
      auto r = http::Response::error(401, "unauthorized", "a valid admin bearer token is required");
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      return r;
    }
    return std::nullopt;
  };
  return options;
}

namespace {

// The admin token, or a narrower one (`what`: "dashboard", "usage"). Neither configured: 503.
http::RouteOptions admin_or(Secret admin, Secret other, std::string what) {
  http::RouteOptions options;
  options.precheck = [admin = std::move(admin), other = std::move(other),
                      what = std::move(what)](const http::Request& req) -> std::optional<http::Response> {
    if (admin.empty() && other.empty())
      return http::Response::error(503, "admin_disabled",
                                   "the API is disabled: set admin.token (or " + what + ".token)");
    if ((admin.empty() || !authorized(req, admin)) && (other.empty() || !authorized(req, other))) {
      auto r = http::Response::error(401, "unauthorized",
                                     "a valid admin or " + what + " bearer token is required");
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      return r;
    }
    return std::nullopt;
  };
  return options;
}

}  // namespace

http::RouteOptions reader_route(Secret admin, Secret dashboard) {
  return admin_or(std::move(admin), std::move(dashboard), "dashboard");
}

http::RouteOptions usage_route(Secret admin, Secret usage) {
  return admin_or(std::move(admin), std::move(usage), "usage");
}

}  // namespace cshealthd::api
