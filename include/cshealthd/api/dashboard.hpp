#pragma once
#include <string>
#include <vector>

#include "cshealthd/http/router.hpp"

namespace cshealthd::api {

// The dashboard's files (src/dashboard), compiled in: the service needs no web root and no CDN.
struct DashboardAsset {
  DashboardAsset(std::string n, std::string t) : name(std::move(n)), text(std::move(t)) {}
  std::string name, text;
};
const std::vector<DashboardAsset>& embedded_dashboard_assets();

// GET / (the page) and GET /dashboard/<file>. They carry no data: the page signs in with a token and
// reads the /v1 API, so they are served without one, with headers that keep the page to itself (CSP
// 'self', no framing, no sniffing, no referrer).
void add_dashboard_routes(http::Router& router);

}  // namespace cshealthd::api
