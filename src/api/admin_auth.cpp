#include "cshealthd/api/admin_auth.hpp"

#include <openssl/crypto.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

// RFC 4648 base64 (padding optional), or nullopt.
std::optional<std::string> base64_decode(std::string_view in) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  std::string out;
  std::uint32_t bits = 0;
  int n = 0;
  for (const char c : in) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    if (c >= '0' && c <= '9') v = c - '0' + 52;
    if (c == '+') v = 62;
    if (c == '/') v = 63;
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    if ((n += 6) >= 8) {
      n -= 8;
      out.push_back(static_cast<char>((bits >> n) & 0xff));
    }
  }
  return out;
}

bool same(std::string_view given, const Secret& want) {
  const std::string& w = want.reveal();
  return given.size() == w.size() && CRYPTO_memcmp(given.data(), w.data(), w.size()) == 0;
}

}  // namespace

http::RouteOptions segment_route(Secret write_key) {
  http::RouteOptions options;
  options.precheck = [key = std::move(write_key)](const http::Request& req) -> std::optional<http::Response> {
    if (key.empty())
      return http::Response::error(503, "segment_disabled",
                                   "the Segment source is off: set usage.segment.write_key "
                                   "(CSHEALTHD_USAGE_SEGMENT_WRITE_KEY)");
    const std::string* h = req.header("authorization");
    bool ok = false;
    if (h && h->rfind("Basic ", 0) == 0) {
      const auto decoded = base64_decode(std::string_view(*h).substr(6));
      ok = decoded && same(std::string_view(*decoded).substr(0, decoded->find(':')), key);
    } else if (h && h->rfind("Bearer ", 0) == 0) {
      ok = same(std::string_view(*h).substr(7), key);
    }
    if (!ok) {
      auto r = http::Response::error(401, "unauthorized", "a valid write key is required (Basic auth)");
      r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"segment\"");
      return r;
    }
    return std::nullopt;
  };
  return options;
}

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
