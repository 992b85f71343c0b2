#pragma once
// The simulated portal's product usage as it would reach cshealthd from outside HubSpot: a daily CSV of
// the figures its companies' usage properties held each day, or a Segment event stream (group, track,
// page calls in batches) that makes exactly those figures on the last day; with the ground truth.
#include <cstdint>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "portal.hpp"

namespace cshealthd::sim {

struct UsageExport {
  std::string format = "csv";  // csv | segment
  int days = 30;               // csv: the days written; segment: the days events are spread over (≤ 30)
  std::string key = "domain";  // how a row or a groupId names the company: domain | id
  std::uint64_t seed = 1;
  EpochMs now = 0;  // the last day's instant
  int batch = 100;  // segment: events per line ({"batch": [...]})
};

// The feature events a Segment stream uses, in order (a company using F features uses the first F).
const std::vector<std::string>& usage_feature_events();

// Writes the export to `out`; returns the ground truth: per company key, the figures cshealthd should
// hold for the last day ({"active_users_30d", "logins_30d", "licensed_seats", "features_used"}), and the
// counts written ("rows" or "events", "batches").
nlohmann::json export_usage(const Portal& portal, const UsageExport& options, std::ostream& out);

}  // namespace cshealthd::sim
