#include "usage_export.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <stdexcept>

#include "cshealthd/core/time.hpp"

namespace cshealthd::sim {
namespace {

using json = nlohmann::json;

// A property's value at the end of `day` (UTC), from its history; nullopt before its first value.
std::optional<double> value_on(const Record& r, const std::string& name, std::int32_t day) {
  const EpochMs end = core::start_of_day(day + 1);
  std::optional<double> v;
  for (const auto& h : r.history_of(name)) {
    if (h.timestamp >= end) break;
    v = h.value.empty() ? std::nullopt : core::parse_hubspot_number(h.value);
  }
  return v;
}

constexpr std::array<const char*, 4> kMetrics{"active_users_30d", "logins_30d", "licensed_seats",
                                              "features_used"};
constexpr std::array<const char*, 4> kProperties{"cs_active_users_30d", "cs_logins_30d", "cs_licensed_seats",
                                                 "cs_features_used"};

std::string key_of(const Record& r, const std::string& key) {
  if (key == "id") return std::to_string(r.id);
  const auto* d = r.get("domain");
  return d ? *d : std::string();
}

json write_csv(const Portal& portal, const UsageExport& o, std::ostream& out) {
  const std::int32_t today = core::day_of(o.now);
  out << (o.key == "id" ? "company_id" : "domain") << ",date";
  for (const char* m : kMetrics) out << "," << m;
  out << "\n";
  json truth = json::object();
  std::size_t rows = 0;
  for (const auto& [id, r] : portal.store(*find_type("companies")).records) {
    const std::string key = key_of(r, o.key);
    if (r.archived || key.empty()) continue;
    for (std::int32_t day = today - o.days + 1; day <= today; ++day) {
      std::array<std::optional<double>, 4> v;
      bool any = false;
      for (std::size_t i = 0; i < v.size(); ++i) any |= (v[i] = value_on(r, kProperties[i], day)).has_value();
      if (!any) continue;
      out << key << "," << core::format_day(day);
      for (const auto& x : v) out << "," << (x ? std::to_string(std::llround(*x)) : "");
      out << "\n";
      ++rows;
      if (day == today) {
        json& t = truth[key];
        for (std::size_t i = 0; i < v.size(); ++i)
          if (v[i]) t[kMetrics[i]] = std::llround(*v[i]);
      }
    }
  }
  return {{"format", "csv"}, {"rows", rows}, {"companies", truth}};
}

json write_segment(const Portal& portal, const UsageExport& o, std::ostream& out) {
  if (o.days < 1 || o.days > 30) throw std::invalid_argument("--days: 1 to 30 for a Segment stream");
  const std::int32_t today = core::day_of(o.now);
  std::mt19937_64 rng(o.seed);
  std::vector<json> events;
  json truth = json::object();
  const auto& features = usage_feature_events();
  std::uint64_t n = 0;
  const auto at = [&](std::int32_t day) {  // 08:00 to 18:59 UTC on `day`, never after now
    std::uniform_int_distribution<EpochMs> minute(8 * 60, 18 * 60 + 59);
    return std::min(core::start_of_day(day) + minute(rng) * 60'000, o.now);
  };
  std::uniform_int_distribution<int> back(0, o.days - 1);
  for (const auto& [id, r] : portal.store(*find_type("companies")).records) {
    const std::string key = key_of(r, o.key);
    if (r.archived || key.empty()) continue;
    const auto active = value_on(r, "cs_active_users_30d", today);
    const auto logins = value_on(r, "cs_logins_30d", today);
    const auto used = value_on(r, "cs_features_used", today);
    const auto users = active ? std::llround(*active) : 0;
    if (users <= 0) continue;
    const long long total_logins = logins ? std::llround(*logins) : 0;
    const long long feature_count =
        std::min<long long>(used ? std::llround(*used) : 0, static_cast<long long>(features.size()));
    const auto event = [&](const std::string& user, const char* type, std::int32_t day) {
      json e = {{"type", type},
                {"userId", user},
                {"messageId", "sim-" + std::to_string(id) + "-" + std::to_string(++n)},
                {"timestamp", core::format_iso8601(at(day))}};
      return e;
    };
    for (long long u = 0; u < users; ++u) {
      const std::string user = "sim-user-" + std::to_string(id) + "-" + std::to_string(u);
      json g = event(user, "group", today - back(rng));
      g["groupId"] = key;
      g["traits"] = {{"name", *r.get("name")}};
      events.push_back(std::move(g));
      const long long mine = total_logins / users + (u < total_logins % users ? 1 : 0);
      for (long long k = 0; k < mine; ++k) {
        json t = event(user, "track", today - back(rng));
        t["event"] = "Signed In";
        events.push_back(std::move(t));
      }
      if (mine == 0) {
        json p = event(user, "page", today - back(rng));
        p["name"] = "Home";
        events.push_back(std::move(p));
      }
    }
    for (long long f = 0; f < feature_count; ++f) {
      const std::string user = "sim-user-" + std::to_string(id) + "-" + std::to_string(f % users);
      json t = event(user, "track", today - back(rng));
      t["event"] = features[static_cast<std::size_t>(f)];
      t["properties"] = {{"source", "simulator"}};
      events.push_back(std::move(t));
    }
    truth[key] = {
        {"active_users_30d", users}, {"logins_30d", total_logins}, {"features_used", feature_count}};
  }
  // Interleaved as a product's traffic is: a user's events may come before their group call.
  std::shuffle(events.begin(), events.end(), rng);
  std::size_t batches = 0;
  for (std::size_t i = 0; i < events.size(); i += static_cast<std::size_t>(o.batch)) {
    const auto end = std::min(events.size(), i + static_cast<std::size_t>(o.batch));
    out << json{{"batch", json(std::vector<json>(events.begin() + static_cast<std::ptrdiff_t>(i),
                                                 events.begin() + static_cast<std::ptrdiff_t>(end)))}}
               .dump()
        << "\n";
    ++batches;
  }
  return {{"format", "segment"},           {"events", events.size()},    {"batches", batches},
          {"login_events", {"Signed In"}}, {"feature_events", features}, {"companies", truth}};
}

}  // namespace

const std::vector<std::string>& usage_feature_events() {
  static const std::vector<std::string> names{"Report Exported",   "Dashboard Shared", "Invite Sent",
                                              "Integration Added", "Workflow Created", "API Key Created",
                                              "Export Scheduled",  "Comment Added"};
  return names;
}

json export_usage(const Portal& portal, const UsageExport& o, std::ostream& out) {
  if (o.key != "domain" && o.key != "id") throw std::invalid_argument("--key: domain or id");
  if (o.format == "csv") return write_csv(portal, o, out);
  if (o.format == "segment") return write_segment(portal, o, out);
  throw std::invalid_argument("--format: csv or segment");
}

}  // namespace cshealthd::sim
