#include "cshealthd/api/dashboard.hpp"

#include "cshealthd/http/message.hpp"

namespace cshealthd::api {
namespace {

std::string content_type(const std::string& name) {
  const auto ext = name.substr(name.rfind('.') + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  return "application/octet-stream";
}

http::Response asset(const DashboardAsset& a) {
  auto r = http::Response::text(200, a.text, content_type(a.name));
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                         "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  // Assets change with the binary: revalidate rather than serve a stale page after an upgrade.
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

}  // namespace

void add_dashboard_routes(http::Router& router) {
  for (const auto& a : embedded_dashboard_assets()) {
    const std::string path = a.name == "index.html" ? "/" : "/dashboard/" + a.name;
    router.add("GET", path, [&a](const http::Request&) { return asset(a); });
  }
}

}  // namespace cshealthd::api
