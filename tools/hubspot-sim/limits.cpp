#include "limits.hpp"

#include <random>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace cshealthd::sim {
namespace {

std::string correlation_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[40];
  const auto a = rng(), b = rng();
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-a%03x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>(a >> 16) & 0xFFFF, static_cast<unsigned>(a) & 0xFFF,
                static_cast<unsigned>(b >> 52) & 0xFFF,
                static_cast<unsigned long long>(b & 0xFFFFFFFFFFFFULL));
  return buf;
}

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string part; std::getline(ss, part, sep);) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

double probability(const std::string& key, const std::string& v) {
  std::size_t used = 0;
  double p = -1;
  try {
    p = std::stod(v, &used);
  } catch (...) {
  }
  if (used != v.size() || p < 0 || p > 1)
    throw std::invalid_argument("--faults: " + key + " needs a probability 0..1");
  return p;
}

// "0.01x20" -> (0.01, 20)
std::pair<double, int> prob_times(const std::string& key, const std::string& v) {
  const auto x = v.find('x');
  if (x == std::string::npos) throw std::invalid_argument("--faults: " + key + " expects PxN, e.g. 0.01x20");
  return {probability(key, v.substr(0, x)), std::stoi(v.substr(x + 1))};
}

}  // namespace

http::Response hubspot_error(int status, const std::string& category, const std::string& message) {
  return http::Response::json(status, {{"status", "error"},
                                       {"message", message},
                                       {"correlationId", correlation_id()},
                                       {"category", category}});
}

http::Response RateLimiter::too_many(const std::string& message, const std::string& policy) const {
  auto r = http::Response::json(429, {{"status", "error"},
                                      {"message", message},
                                      {"errorType", "RATE_LIMIT"},
                                      {"correlationId", correlation_id()},
                                      {"policyName", policy}});
  if (o_.retry_after_s) r.headers.emplace_back("Retry-After", std::to_string(*o_.retry_after_s));
  return r;
}

std::optional<http::Response> RateLimiter::admit(bool search,
                                                 std::vector<std::pair<std::string, std::string>>& headers) {
  std::lock_guard lock(mutex_);
  const auto now = Clock::now();
  const std::int64_t today =
      std::chrono::duration_cast<std::chrono::hours>(std::chrono::system_clock::now().time_since_epoch())
          .count() /
      24;
  if (today != day_) {
    day_ = today;
    day_count_ = 0;
  }
  if (o_.daily > 0 && day_count_ >= o_.daily) return too_many("You have reached your daily limit.", "DAILY");
  if (search) {
    // Search has its own per-second limit and sends no rate-limit headers.
    while (!search_.empty() && now - search_.front() >= std::chrono::seconds(1)) search_.pop_front();
    if (o_.search_per_second > 0 && static_cast<int>(search_.size()) >= o_.search_per_second) {
      return too_many("You have reached your secondly limit.", "SECONDLY");
    }
    search_.push_back(now);
    ++day_count_;
    return std::nullopt;
  }
  const auto interval = std::chrono::milliseconds(o_.interval_ms);
  while (!burst_.empty() && now - burst_.front() >= interval) burst_.pop_front();
  if (o_.burst > 0 && static_cast<int>(burst_.size()) >= o_.burst) {
    return too_many("You have reached your ten_secondly_rolling limit.", "TEN_SECONDLY_ROLLING");
  }
  burst_.push_back(now);
  ++day_count_;
  const int max = o_.burst > 0 ? o_.burst : 1'000'000;
  headers.emplace_back("X-HubSpot-RateLimit-Max", std::to_string(max));
  headers.emplace_back("X-HubSpot-RateLimit-Remaining",
                       std::to_string(max - static_cast<int>(burst_.size())));
  headers.emplace_back("X-HubSpot-RateLimit-Interval-Milliseconds", std::to_string(o_.interval_ms));
  if (o_.daily > 0) {
    headers.emplace_back("X-HubSpot-RateLimit-Daily", std::to_string(o_.daily));
    headers.emplace_back("X-HubSpot-RateLimit-Daily-Remaining", std::to_string(o_.daily - day_count_));
  }
  return std::nullopt;
}

void RateLimiter::reset() {
  std::lock_guard lock(mutex_);
  burst_.clear();
  search_.clear();
  day_count_ = 0;
}

void RateLimiter::parse_burst(const std::string& spec, RateLimitOptions& o) {
  if (spec == "off") {
    o.burst = 0;
    return;
  }
  const auto slash = spec.find('/');
  if (slash == std::string::npos || spec.size() < slash + 3 || spec.back() != 's') {
    throw std::invalid_argument("--rate-limit: expected N/10s or off, got '" + spec + "'");
  }
  o.burst = std::stoi(spec.substr(0, slash));
  o.interval_ms = std::stoi(spec.substr(slash + 1, spec.size() - slash - 2)) * 1000;
}

void RateLimiter::parse_search(const std::string& spec, RateLimitOptions& o) {
  if (spec == "off") {
    o.search_per_second = 0;
    return;
  }
  if (spec.size() < 3 || spec.substr(spec.size() - 2) != "/s") {
    throw std::invalid_argument("--search-rate: expected N/s or off, got '" + spec + "'");
  }
  o.search_per_second = std::stoi(spec.substr(0, spec.size() - 2));
}

Faults::Faults(const std::string& spec) {
  for (const auto& rule_text : split(spec, ';')) {
    Rule rule;
    for (const auto& kv : split(rule_text, ',')) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos)
        throw std::invalid_argument("--faults: expected key=value, got '" + kv + "'");
      const std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
      if (k == "seed") {
        seed_ = std::stoull(v);
        continue;
      }
      if (k == "route")
        rule.route = v;
      else if (k == "5xx")
        rule.p5xx = probability(k, v);
      else if (k == "429")
        rule.p429 = probability(k, v);
      else if (k == "storm")
        std::tie(rule.pstorm, rule.storm_len) = prob_times(k, v);
      else if (k == "latency")
        std::tie(rule.platency, rule.latency_ms) = prob_times(k, v);
      else if (k == "drop_before")
        rule.pdrop_before = probability(k, v);
      else if (k == "drop_after")
        rule.pdrop_after = probability(k, v);
      else if (k == "truncate")
        rule.ptruncate = probability(k, v);
      else if (k == "wrong_shape")
        rule.pwrong_shape = probability(k, v);
      else if (k == "skip")
        rule.skip = std::stoull(v);
      else if (k == "count")
        rule.count = std::stoull(v);
      else
        throw std::invalid_argument("--faults: unknown key '" + k + "'");
    }
    const bool any = rule.p5xx > 0 || rule.p429 > 0 || rule.pstorm > 0 || rule.platency > 0 ||
                     rule.pdrop_before > 0 || rule.pdrop_after > 0 || rule.ptruncate > 0 ||
                     rule.pwrong_shape > 0;
    if (any) rules_.push_back(rule);  // a part with only seed= (or only a route) injects nothing
  }
}

double Faults::draw(const Rule& r, std::size_t rule_index, int kind) const {
  const std::uint64_t h =
      splitmix(seed_ ^ splitmix(rule_index * 1'000'003ULL + r.n * 16 + static_cast<unsigned>(kind)));
  return static_cast<double>(h >> 11) / 9007199254740992.0;  // [0, 1)
}

FaultDecision Faults::decide(const std::string& path) {
  static constexpr int k5xx[] = {500, 502, 503, 504};
  std::lock_guard lock(mutex_);
  FaultDecision d;
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    Rule& r = rules_[i];
    if (!r.route.empty() && path.rfind(r.route, 0) != 0) continue;
    ++r.n;
    if (r.n <= r.skip || (r.count > 0 && r.n > r.skip + r.count)) continue;
    if (r.platency > 0 && draw(r, i, 1) < r.platency) d.latency_ms = std::max(d.latency_ms, r.latency_ms);
    if (r.storm_left > 0) {
      --r.storm_left;
      d.status = 429;
      continue;
    }
    if (draw(r, i, 2) < r.pdrop_before)
      d.drop_before = true;
    else if (draw(r, i, 3) < r.p5xx)
      d.status = k5xx[static_cast<int>(draw(r, i, 4) * 4) % 4];
    else if (draw(r, i, 5) < r.p429)
      d.status = 429;
    else if (draw(r, i, 6) < r.pstorm) {
      d.status = 429;
      r.storm_left = r.storm_len - 1;
    } else if (draw(r, i, 7) < r.ptruncate)
      d.truncate = true;
    else if (draw(r, i, 8) < r.pdrop_after)
      d.drop_after = true;
    else if (draw(r, i, 9) < r.pwrong_shape)
      d.wrong_shape = true;
  }
  return d;
}

void Faults::reset() {
  std::lock_guard lock(mutex_);
  for (auto& r : rules_) {
    r.n = 0;
    r.storm_left = 0;
  }
}

}  // namespace cshealthd::sim
