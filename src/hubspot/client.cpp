#include "cshealthd/hubspot/client.hpp"

#include <algorithm>
#include <charconv>

#include <spdlog/spdlog.h>

#include "cshealthd/base/json_reader.hpp"

namespace cshealthd::hubspot {
namespace {

using json = nlohmann::json;

std::string join(const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs) out += (out.empty() ? "" : ",") + x;
  return out;
}

std::string url_encode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ',') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

bool transient_status(int s) {
  return s == 423 || s == 500 || s == 502 || s == 503 || s == 504 || (s >= 521 && s <= 526);
}

ApiError::Kind kind_for(int status) {
  switch (status) {
    case 401:
      return ApiError::Kind::kUnauthorized;
    case 403:
      return ApiError::Kind::kForbidden;
    case 404:
      return ApiError::Kind::kNotFound;
    case 409:
      return ApiError::Kind::kConflict;
    case 429:
      return ApiError::Kind::kRateLimited;
    default:
      return status >= 500 ? ApiError::Kind::kUnavailable : ApiError::Kind::kRejected;
  }
}

// HubSpot's error body, every field optional.
ApiError error_from(const std::string& endpoint, const http::HttpResponse& r) {
  std::string message, category, correlation;
  try {
    const auto b = json::parse(r.body);
    message = b.value("message", "");
    category = b.value("category", b.value("policyName", ""));
    correlation = b.value("correlationId", "");
  } catch (const json::exception&) {
    message = r.body.substr(0, 200);
  }
  return ApiError(kind_for(r.status), r.status, category, correlation,
                  endpoint + ": HTTP " + std::to_string(r.status) + (category.empty() ? "" : " " + category) +
                      ": " + message + (correlation.empty() ? "" : " (correlationId " + correlation + ")"));
}

// `results` of an answer read as a document; not a list (or no answer object) is the wrong shape.
std::vector<json> results_of(const std::string& endpoint, const json& res) {
  if (!res.is_object() || !res.contains("results") || !res["results"].is_array()) {
    throw ApiError(ApiError::Kind::kRejected, 200, "", "",
                   endpoint + ": malformed answer: results is not a list");
  }
  return res["results"].get<std::vector<json>>();
}

// paging.next.after of an answer read as a document, "" on the last page; as parse_page() judges it.
std::string next_after(const std::string& endpoint, const json& res) {
  try {
    return next_cursor(res.contains("paging") ? &res["paging"] : nullptr);
  } catch (const MalformedAnswer& e) {
    throw ApiError(ApiError::Kind::kRejected, 200, "", "", endpoint + ": malformed answer: " + e.what());
  }
}

}  // namespace

void CursorGuard::next(const std::string& cursor) {
  if (cursor.empty()) return;
  if (!seen_.insert(cursor).second) {
    throw ApiError(ApiError::Kind::kRejected, 200, "", "",
                   endpoint_ + ": HubSpot handed out the cursor '" + cursor.substr(0, 64) +
                       "' twice; stopping instead of reading the same pages forever");
  }
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::milliseconds max) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  std::uint64_t seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (value.empty() || end != value.data() + value.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range || seconds > static_cast<std::uint64_t>(max.count() / 1000))
    return max;
  if (ec != std::errc()) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds) * 1000);
}

std::vector<std::vector<std::string>> chunk_names(const std::vector<std::string>& names,
                                                  std::size_t max_chars) {
  std::vector<std::vector<std::string>> out;
  std::size_t used = 0;
  for (const auto& n : names) {
    if (out.empty() || (used + n.size() + 1 > max_chars && !out.back().empty())) {
      out.emplace_back();
      used = 0;
    }
    out.back().push_back(n);
    used += n.size() + 1;
  }
  return out;
}

ApiPaths::ApiPaths(std::string version) : version_(std::move(version)) {}

std::string ApiPaths::api(std::string_view name, std::string_view v3) const {
  if (version_ == "v3") return "/crm/" + std::string(v3) + "/" + std::string(name);
  return "/crm/" + std::string(name) + "/" + version_;
}

std::string ApiPaths::objects(std::string_view type) const {
  return api("objects", "v3") + "/" + std::string(type);
}

std::string ApiPaths::properties(std::string_view type) const {
  return api("properties", "v3") + "/" + std::string(type);
}

std::string ApiPaths::associations(std::string_view from, std::string_view to) const {
  return api("associations", "v4") + "/" + std::string(from) + "/" + std::string(to);
}

std::string ApiPaths::owners() const {
  return api("owners", "v3");
}

std::string ApiPaths::pipelines(std::string_view type) const {
  return api("pipelines", "v3") + "/" + std::string(type);
}

HubSpotClient::HubSpotClient(http::Transport& transport, RateBudget& budget, Clock& clock, Secret token,
                             metrics::Registry& metrics, ClientOptions options)
    : transport_(transport),
      budget_(budget),
      clock_(clock),
      token_(std::move(token)),
      metrics_(metrics),
      options_(options),
      paths_(options.api_version),
      rng_(options.jitter_seed ? options.jitter_seed : std::random_device{}()) {}

std::chrono::milliseconds HubSpotClient::backoff(int attempt) {
  const auto cap = std::min<std::int64_t>(std::min(options_.backoff_cap, options_.max_retry_wait).count(),
                                          options_.backoff_base.count() << std::min(attempt, 16));
  std::uniform_int_distribution<std::int64_t> d(0, cap);
  return std::chrono::milliseconds(d(rng_));
}

json HubSpotClient::call(const std::string& endpoint, const std::string& method, const std::string& target,
                         const json& body, Budget budget, Repeat repeat) {
  json answer = json::object();
  exchange(
      endpoint, method, target, body, budget,
      [&](std::string_view text) {
        if (!text.empty()) answer = read_json(text);
      },
      repeat);
  return answer;
}

Page HubSpotClient::read_page(const std::string& endpoint, const std::string& method,
                              const std::string& target, const json& body, Budget budget) {
  Page page;
  exchange(endpoint, method, target, body, budget, [&](std::string_view text) { page = parse_page(text); });
  return page;
}

void HubSpotClient::exchange(const std::string& endpoint, const std::string& method,
                             const std::string& target, const json& body, Budget budget,
                             const std::function<void(std::string_view)>& accept, Repeat repeat) {
  http::HttpRequest req;
  req.method = method;
  req.target = target;
  req.headers = {{"Authorization", "Bearer " + token_.reveal()}, {"Accept", "application/json"}};
  if (!body.is_null()) {
    req.body = body.dump();
    req.headers.emplace_back("Content-Type", "application/json");
  }
  auto requests = [&](const std::string& status) -> metrics::Counter& {
    return metrics_.counter("cshealthd_hubspot_requests_total",
                            "HubSpot API requests, by endpoint and outcome",
                            {{"endpoint", endpoint}, {"status", status}});
  };
  for (int attempt = 1;; ++attempt) {
    budget_.acquire(budget);
    ++stats_.calls;
    http::HttpResponse res;
    std::string failure;
    try {
      res = transport_.send(req);
    } catch (const http::TransportError& e) {
      failure = e.what();
    }
    requests(failure.empty() ? std::to_string(res.status) : "error").inc();
    if (failure.empty()) budget_.observe(res);
    if (failure.empty() &&
        (res.status == 200 || res.status == 201 || res.status == 204 || res.status == 207)) {
      try {
        accept(res.body);
        return;
      } catch (const json::parse_error& e) {
        failure = "unparseable body: " + std::string(e.what());  // a truncated answer: retry it
      } catch (const MalformedAnswer& e) {
        throw ApiError(ApiError::Kind::kRejected, res.status, "", res.header("X-HubSpot-Correlation-Id"),
                       endpoint + ": malformed answer: " + e.what());
      }
    }
    const bool limited = failure.empty() && res.status == 429;
    const bool transient = !failure.empty() || transient_status(res.status);
    if (repeat == Repeat::kOnlyIfNotApplied && transient && !(failure.empty() && res.status == 423)) {
      metrics_.counter("cshealthd_hubspot_outcome_unknown_total", "Writes whose outcome HubSpot left unknown")
          .inc();
      throw OutcomeUnknown(ApiError::Kind::kUnavailable, failure.empty() ? res.status : 0, "", "",
                           endpoint + ": outcome unknown: " +
                               (failure.empty() ? "HTTP " + std::to_string(res.status) : failure));
    }
    if (!limited && !transient) throw error_from(endpoint, res);
    if (attempt >= options_.max_attempts) {
      if (!failure.empty()) {
        throw ApiError(ApiError::Kind::kUnavailable, 0, "", "",
                       endpoint + ": no answer after " + std::to_string(attempt) + " attempts: " + failure);
      }
      throw error_from(endpoint, res);
    }
    std::chrono::milliseconds wait;
    if (limited) {
      ++stats_.rate_limited;
      metrics_.counter("cshealthd_hubspot_rate_limited_total", "429 answers from HubSpot").inc();
      const auto retry_after = parse_retry_after(res.header("Retry-After"), options_.max_retry_wait);
      wait = retry_after
                 ? *retry_after
                 : (budget == Budget::kSearch ? std::chrono::milliseconds(1000) : options_.rate_limit_wait);
      budget_.pause(budget, wait);
    } else {
      wait =
          res.status == 423 ? std::max(backoff(attempt), std::chrono::milliseconds(2000)) : backoff(attempt);
      ++stats_.retries;
      metrics_
          .counter("cshealthd_hubspot_retries_total", "HubSpot requests retried after a transient failure")
          .inc();
      spdlog::warn("hubspot {}: attempt {} failed ({}); retrying in {} ms", endpoint, attempt,
                   failure.empty() ? "HTTP " + std::to_string(res.status) : failure, wait.count());
      clock_.sleep_for(wait);
    }
  }
}

Page HubSpotClient::list_chunk(const std::string& type, const ListQuery& q,
                               const std::vector<std::string>& props) {
  std::string target = paths_.objects(type) + "?limit=" + std::to_string(q.limit);
  if (!q.after.empty()) target += "&after=" + url_encode(q.after);
  if (!props.empty()) target += "&properties=" + url_encode(join(props));
  if (!q.properties_with_history.empty())
    target += "&propertiesWithHistory=" + url_encode(join(q.properties_with_history));
  if (!q.associations.empty()) target += "&associations=" + url_encode(join(q.associations));
  if (q.archived) target += "&archived=true";
  return read_page("objects.list", "GET", target, nullptr, Budget::kBurst);
}

Page HubSpotClient::list(const std::string& type, const ListQuery& q) {
  // A long property list would make the URL too long (414): read the page once per chunk and merge.
  const auto chunks = chunk_names(q.properties, options_.max_url_chars);
  if (chunks.size() <= 1) return list_chunk(type, q, q.properties);
  Page page = list_chunk(type, q, chunks[0]);
  for (std::size_t i = 1; i < chunks.size(); ++i) {
    ListQuery plain = q;
    plain.properties_with_history.clear();
    plain.associations.clear();
    const Page more = list_chunk(type, plain, chunks[i]);
    for (auto& r : page.results) {
      for (const auto& m : more.results) {
        if (m.id != r.id) continue;
        for (const auto& [name, value] : m.properties) r.set(name, value);
      }
    }
  }
  return page;
}

std::vector<Record> HubSpotClient::batch_read(const std::string& type, const std::vector<std::string>& ids,
                                              const std::vector<std::string>& properties,
                                              const std::vector<std::string>& properties_with_history,
                                              bool archived) {
  json inputs = json::array();
  for (const auto& id : ids) inputs.push_back({{"id", id}});
  json body = {{"inputs", inputs}, {"properties", properties}};
  if (!properties_with_history.empty()) body["propertiesWithHistory"] = properties_with_history;
  return read_page("objects.batch_read", "POST",
                   paths_.objects(type) + "/batch/read" + (archived ? "?archived=true" : ""), body,
                   Budget::kBurst)
      .results;
}

Page HubSpotClient::search(const std::string& type, const json& body) {
  return read_page("objects.search", "POST", paths_.objects(type) + "/search", body, Budget::kSearch);
}

HubSpotClient::Associations HubSpotClient::associations(const std::string& from, const std::string& to,
                                                        const std::vector<std::string>& ids) {
  json inputs = json::array();
  for (const auto& id : ids) inputs.push_back({{"id", id}});
  // Ids without associations come back as errors of a 207: they simply have none.
  Associations out;
  exchange("associations.batch_read", "POST", paths_.associations(from, to) + "/batch/read",
           {{"inputs", std::move(inputs)}}, Budget::kBurst, [&](std::string_view text) {
             auto answer = parse_associations(text);
             out = {};
             for (auto& [id, tos] : answer.links) {
               auto& list = out.links[id];
               list.insert(list.end(), std::make_move_iterator(tos.begin()),
                           std::make_move_iterator(tos.end()));
             }
             std::erase_if(out.links, [](const auto& kv) { return kv.second.empty(); });
             out.failed = std::move(answer.failed);
           });
  return out;
}

std::vector<json> HubSpotClient::properties(const std::string& type) {
  const json res = call("properties.list", "GET", paths_.properties(type));
  return results_of("properties.list", res);
}

std::vector<json> HubSpotClient::owners() {
  std::vector<json> out;
  std::string after;
  CursorGuard cursors("owners.list");
  do {
    const json res =
        call("owners.list", "GET",
             paths_.owners() + "?limit=500" + (after.empty() ? "" : "&after=" + url_encode(after)));
    for (const auto& o : results_of("owners.list", res)) out.push_back(o);
    after = next_after("owners.list", res);
    cursors.next(after);
  } while (!after.empty());
  return out;
}

std::vector<json> HubSpotClient::pipelines(const std::string& type) {
  const json res = call("pipelines.list", "GET", paths_.pipelines(type));
  return results_of("pipelines.list", res);
}

}  // namespace cshealthd::hubspot
