#include "api.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <set>
#include <sstream>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "cshealthd/base/log.hpp"
#include "cshealthd/core/time.hpp"
#include "search.hpp"

namespace cshealthd::sim {
namespace {

using json = nlohmann::json;
using http::Request;
using http::Response;
using Props = std::vector<std::pair<std::string, std::string>>;

const std::string kObjectIdProp = "hs_object_id";
const std::string kCreateDateProp = "createdate";
constexpr std::size_t kBatchLimit = 100;
constexpr std::size_t kAssocBatchLimit = 1000;

Response not_found(const std::string& what) {
  return hubspot_error(404, "OBJECT_NOT_FOUND", what);
}
Response bad_request(const std::string& what) {
  return hubspot_error(400, "VALIDATION_ERROR", what);
}

std::vector<std::string> split_csv(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string part; std::getline(ss, part, ',');) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

// Every value of a query parameter, repeated (`properties=a&properties=b`) or comma-separated.
std::vector<std::string> query_list(const Request& req, const std::string& name) {
  std::vector<std::string> out;
  const auto q = req.target.find('?');
  if (q == std::string::npos) return out;
  std::stringstream ss(req.target.substr(q + 1));
  for (std::string pair; std::getline(ss, pair, '&');) {
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) != name || eq == std::string::npos) continue;
    for (auto& v : split_csv(http::percent_decode(pair.substr(eq + 1), true))) out.push_back(std::move(v));
  }
  return out;
}

std::optional<std::uint64_t> parse_id(const std::string& s) {
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::string value_string(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number()) {
    std::ostringstream os;
    os.precision(15);
    os << v.get<double>();
    return os.str();
  }
  return v.dump();
}

// Why `value` is not valid for `def`, or "" when it is. Empty values clear the property.
std::string invalid_value(const PropertyDef& def, const std::string& value) {
  if (value.empty()) return "";
  if (def.type == "number") {
    double d = 0;
    const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), d);
    return ec == std::errc() && ptr == value.data() + value.size() ? "" : "INVALID_FLOAT";
  }
  if (def.type == "bool") return value == "true" || value == "false" ? "" : "INVALID_BOOLEAN";
  if (def.type == "date" || def.type == "datetime") {
    return core::parse_hubspot_timestamp(value) ? "" : "INVALID_DATE";
  }
  if (def.type == "enumeration") {
    // Since 2025-04 HubSpot rejects enumeration values with surrounding whitespace.
    const auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    if (ws(value.front()) || ws(value.back())) return "INVALID_OPTION_SURROUNDING_WHITESPACE";
  }
  if (def.type == "enumeration" && !def.options.empty()) {
    std::stringstream ss(value);
    for (std::string part; std::getline(ss, part, ';');) {
      const bool known = std::any_of(def.options.begin(), def.options.end(),
                                     [&](const PropertyOption& o) { return o.value == part; });
      if (!known) return "INVALID_OPTION";
    }
  }
  return "";
}

// Validates a `properties` object for a write; fills `out` or returns HubSpot's 400.
std::optional<Response> read_props(const ObjectStore& s, const json& props, Props& out) {
  if (!props.is_object()) return bad_request("properties must be an object");
  json problems = json::array();
  for (const auto& [name, raw] : props.items()) {
    const auto it = s.props.find(name);
    const std::string value = value_string(raw);
    std::string code;
    if (it == s.props.end())
      code = "PROPERTY_DOESNT_EXIST";
    else if (it->second.read_only)
      code = "READ_ONLY_VALUE";
    else
      code = invalid_value(it->second, value);
    if (!code.empty()) {
      const std::string msg = code == "PROPERTY_DOESNT_EXIST"
                                  ? "Property \"" + name + "\" does not exist"
                                  : name + " was not valid: " + code + " (" + value + ")";
      problems.push_back({{"isValid", false}, {"message", msg}, {"error", code}, {"name", name}});
      continue;
    }
    out.emplace_back(name, value);
  }
  if (problems.empty()) return std::nullopt;
  Response r = hubspot_error(400, "VALIDATION_ERROR", "Property values were not valid: " + problems.dump());
  auto body = json::parse(r.body);
  body["errors"] = json::array();
  for (const auto& p : problems) {
    body["errors"].push_back(
        {{"message", p["message"]}, {"code", p["error"]}, {"context", {{"propertyName", {p["name"]}}}}});
  }
  r.body = body.dump();
  return r;
}

// HubSpot refuses a value of a unique property that another record already has.
std::optional<Response> duplicate_unique(const ObjectStore& s, const Props& props) {
  for (const auto& [name, value] : props) {
    const auto def = s.props.find(name);
    if (def == s.props.end() || !def->second.unique || value.empty()) continue;
    for (const auto& [id, rec] : s.records) {
      const std::string* v = rec.get(name);
      if (!rec.archived && v && *v == value)
        return hubspot_error(
            409, "CONFLICT",
            "A record with " + name + " = " + value + " already exists (" + std::to_string(id) + ")");
    }
  }
  return std::nullopt;
}

// Records are written as JSON text directly: list pages with property history hold thousands of
// values, and building them as a document first made the simulator, not the client, the bottleneck of a
// full sync benchmark.
void put_string(std::string& out, std::string_view s) {
  out += '"';
  log::append_json_escaped(out, s);
  out += '"';
}

void put_key(std::string& out, std::string_view key) {
  put_string(out, key);
  out += ':';
}

void put_history(std::string& out, const std::vector<HistoryEntry>& h) {
  out += '[';
  for (auto it = h.rbegin(); it != h.rend(); ++it) {  // newest first, as HubSpot answers
    if (it != h.rbegin()) out += ',';
    out += '{';
    put_key(out, "sourceType");
    put_string(out, it->source_type);
    out += ',';
    put_key(out, "timestamp");
    put_string(out, core::format_iso8601(it->timestamp));
    out += ',';
    put_key(out, "value");
    put_string(out, it->value);
    out += '}';
  }
  out += ']';
}

struct View {
  const std::vector<std::string>* props = nullptr;  // null: the type's defaults
  std::vector<std::string> history;
  std::vector<const TypeInfo*> assoc;
  bool all_props = false;  // the inspection endpoint
};

void write_record(std::string& out, const Portal& p, const TypeInfo& t, const Record& r, const View& v) {
  out += '{';
  put_key(out, "id");
  put_string(out, std::to_string(r.id));
  out += ',';
  put_key(out, "properties");
  out += '{';
  std::vector<std::string_view> written;  // a property asked for twice is written once
  auto put = [&](std::string_view name, const std::string* value) {
    if (std::find(written.begin(), written.end(), name) != written.end()) return;
    if (!written.empty()) out += ',';
    written.push_back(name);
    put_key(out, name);
    if (value) {
      put_string(out, *value);
    } else {
      out += "null";
    }
  };
  if (v.all_props) {
    for (const auto& [k, val] : r.props) put(*k, &val);
  } else {
    for (const auto& name : v.props ? *v.props : t.default_props) put(name, r.get(name));
    for (const std::string* name : {&kObjectIdProp, &kCreateDateProp, &t.modified_prop})
      put(*name, r.get(*name));
  }
  out += "},";
  put_key(out, "createdAt");
  put_string(out, core::format_iso8601(r.created));
  out += ',';
  put_key(out, "updatedAt");
  put_string(out, core::format_iso8601(r.updated));
  out += ',';
  put_key(out, "archived");
  out += r.archived ? "true" : "false";
  if (r.archived) {
    out += ',';
    put_key(out, "archivedAt");
    put_string(out, core::format_iso8601(r.archived_at));
  }
  if (v.all_props ? !r.history.empty() : !v.history.empty()) {
    out += ',';
    put_key(out, "propertiesWithHistory");
    out += '{';
    bool first = true;
    auto entry = [&](std::string_view name, const std::vector<HistoryEntry>& h) {
      if (!first) out += ',';
      first = false;
      put_key(out, name);
      put_history(out, h);
    };
    if (v.all_props) {
      for (const auto& [k, entries] : r.history) entry(*k, entries);
    } else {
      for (const auto& name : v.history) {
        if (const auto* h = r.stored_history(name)) {
          entry(name, *h);  // no copy: pages with history are the simulator's heaviest answers
        } else {
          entry(name, r.history_of(name));
        }
      }
    }
    out += '}';
  }
  if (!v.assoc.empty()) {
    std::string a;
    for (const TypeInfo* to : v.assoc) {
      const auto* list = p.associations(t, r.id, *to);
      if (!list || list->empty()) continue;
      if (!a.empty()) a += ',';
      put_key(a, to->name);
      a += "{\"results\":[";
      for (std::size_t i = 0; i < list->size(); ++i) {
        if (i) a += ',';
        a += '{';
        put_key(a, "id");
        put_string(a, std::to_string((*list)[i].to_id));
        a += ',';
        put_key(a, "type");
        put_string(a, t.singular + "_to_" + to->singular);
        a += '}';
      }
      a += "]}";
    }
    if (!a.empty()) {
      out += ',';
      put_key(out, "associations");
      out += '{' + a + '}';
    }
  }
  out += '}';
}

// The same record as a document, for the endpoints that answer one record or a few.
json record_json(const Portal& p, const TypeInfo& t, const Record& r, const View& v) {
  std::string out;
  write_record(out, p, t, r, v);
  return json::parse(out);
}

const TypeInfo* type_of(const Request& req, const std::string& param = "type") {
  const auto it = req.params.find(param);
  return it == req.params.end() ? nullptr : find_type(it->second);
}

json parse_body(const Request& req, std::optional<Response>& error) {
  try {
    return req.body.empty() ? json::object() : json::parse(req.body);
  } catch (const json::parse_error& e) {
    error = bad_request(std::string("Invalid input JSON: ") + e.what());
    return {};
  }
}

// HubSpot sends deal.propertyChange when a deal's dealstage is written: on create, or when it changed.
void collect_stage_event(const TypeInfo& t, const Record& r, bool stage_written, std::vector<json>& events) {
  if (t.name != "deals" || !stage_written) return;
  if (const std::string* stage = r.get("dealstage"))
    events.push_back({{"objectId", r.id},
                      {"subscriptionType", "deal.propertyChange"},
                      {"propertyName", "dealstage"},
                      {"propertyValue", *stage}});
}

// And company.propertyChange for each property an update changed (HubSpot sends those subscribed to;
// the simulator sends them all and the service keeps the ones it reads).
void collect_company_events(const TypeInfo& t, const Record& r, const std::vector<std::string>& changed,
                            std::vector<json>& events) {
  if (t.name != "companies") return;
  for (const auto& name : changed) {
    const std::string* value = r.get(name);
    events.push_back({{"objectId", r.id},
                      {"subscriptionType", "company.propertyChange"},
                      {"propertyName", name},
                      {"propertyValue", value ? *value : std::string()}});
  }
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The object type of a write, or the answer that refuses it.
std::optional<Response> writable(const TypeInfo* t, const Request& req) {
  if (!t) return not_found("Unknown object type " + req.params.at("type"));
  if (t->read_only) return hubspot_error(403, "MISSING_SCOPES", t->name + " are read-only through the API");
  return std::nullopt;
}

// Offset paging as HubSpot does it for owners and v4 associations: `limit` (clamped) and `after`.
struct Offset {
  std::size_t after = 0;
  std::size_t limit = 0;
};
Offset offset_of(const Request& req, int default_limit, int max_limit) {
  Offset o{0, static_cast<std::size_t>(default_limit)};
  if (auto it = req.query.find("limit"); it != req.query.end()) {
    o.limit = static_cast<std::size_t>(std::clamp(std::atoi(it->second.c_str()), 1, max_limit));
  }
  if (auto it = req.query.find("after"); it != req.query.end())
    o.after = std::strtoull(it->second.c_str(), nullptr, 10);
  return o;
}
// Adds paging.next when items remain after this page.
void add_next(json& out, const Offset& o, std::size_t returned, std::size_t total) {
  if (o.after + returned < total) out["paging"] = {{"next", {{"after", std::to_string(o.after + returned)}}}};
}

json batch_envelope(json results, EpochMs started, EpochMs done) {
  return {{"status", "COMPLETE"},
          {"results", std::move(results)},
          {"startedAt", core::format_iso8601(started)},
          {"completedAt", core::format_iso8601(done)}};
}

}  // namespace

Simulator::Simulator(SimOptions options, PortalFactory factory)
    : options_(std::move(options)),
      factory_(std::move(factory)),
      portal_(factory_()),
      limiter_(options_.limits),
      faults_(options_.faults) {}

EpochMs Simulator::now() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
             .count() +
         clock_offset_.load();
}

void Simulator::log_request(const Request& req, int status) {
  std::lock_guard lock(log_mutex_);
  const auto at =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_);
  log_.push_back({++log_seq_, req.method, req.target, req.body, status, at.count()});
  while (log_.size() > options_.request_log_limit) log_.pop_front();
}

http::Handler Simulator::guarded(Kind kind, http::Handler inner) {
  return [this, kind, inner = std::move(inner)](const Request& req) {
    Response res = [&] {
      const std::string* auth = req.header("authorization");
      if (!auth || *auth != "Bearer " + options_.token) {
        return hubspot_error(
            401, "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
            "private app access tokens.");
      }
      std::vector<std::pair<std::string, std::string>> headers;
      if (auto limited = limiter_.admit(kind == Kind::kSearch, headers)) return *limited;
      const FaultDecision fault = faults_.decide(req.path);
      if (fault.latency_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(fault.latency_ms));
      if (fault.drop_before) {
        Response r = hubspot_error(502, "INTERNAL_ERROR", "connection dropped");
        r.abort = Response::Abort::kCloseWithoutResponse;
        return r;
      }
      if (fault.status == 429) return limiter_.injected_429();
      if (fault.status) return hubspot_error(fault.status, "INTERNAL_ERROR", "injected server error");
      Response r = inner(req);
      r.headers.insert(r.headers.end(), headers.begin(), headers.end());
      if (fault.drop_after) r.abort = Response::Abort::kCloseWithoutResponse;
      if (fault.truncate) r.abort = Response::Abort::kTruncateBody;
      if (fault.wrong_shape && r.status / 100 == 2) r.body = R"({"results":{"id":"1"},"status":"COMPLETE"})";
      return r;
    }();
    log_request(req, res.abort == Response::Abort::kCloseWithoutResponse ? 0 : res.status);
    return res;
  };
}

Response Simulator::list(const Request& req) {
  const TypeInfo* t = type_of(req);
  if (!t) return not_found("Unknown object type " + req.params.at("type"));
  int limit = 10;
  if (auto it = req.query.find("limit"); it != req.query.end()) limit = std::atoi(it->second.c_str());
  if (limit < 1 || limit > 100) return bad_request("limit must be between 1 and 100");
  View v;
  const auto props = query_list(req, "properties");
  if (!props.empty()) v.props = &props;
  v.history = query_list(req, "propertiesWithHistory");
  if (!v.history.empty()) limit = std::min(limit, 50);  // HubSpot's cap with history
  for (const auto& name : query_list(req, "associations")) {
    if (const TypeInfo* to = find_type(name)) v.assoc.push_back(to);
  }
  const bool archived = req.query.count("archived") && req.query.at("archived") == "true";
  std::uint64_t after = 0;
  if (auto it = req.query.find("after"); it != req.query.end() && !it->second.empty()) {
    const auto a = parse_id(it->second);
    if (!a) return bad_request("after must be a cursor from paging.next.after");
    after = *a;
  }

  std::lock_guard lock(mutex_);
  const auto& s = portal_->store(*t);
  std::string body = "{\"results\":[";
  int count = 0;
  std::optional<std::uint64_t> next;
  for (auto it = s.records.lower_bound(after); it != s.records.end(); ++it) {
    if (it->second.archived != archived) continue;
    if (count == limit) {
      next = it->first;
      break;
    }
    if (count++) body += ',';
    write_record(body, *portal_, *t, it->second, v);
  }
  body += ']';
  if (next) {
    const std::string cursor = std::to_string(*next);
    body += ",\"paging\":{\"next\":{\"after\":";
    put_string(body, cursor);
    body += ",\"link\":";
    put_string(body, "/crm/v3/objects/" + t->name + "?after=" + cursor);
    body += "}}";
  }
  body += '}';
  return Response::text(200, std::move(body), "application/json");
}

Response Simulator::get(const Request& req) {
  const TypeInfo* t = type_of(req);
  if (!t) return not_found("Unknown object type " + req.params.at("type"));
  View v;
  const auto props = query_list(req, "properties");
  if (!props.empty()) v.props = &props;
  v.history = query_list(req, "propertiesWithHistory");
  for (const auto& name : query_list(req, "associations")) {
    if (const TypeInfo* to = find_type(name)) v.assoc.push_back(to);
  }
  const bool archived = req.query.count("archived") && req.query.at("archived") == "true";
  const auto id = parse_id(req.params.at("id"));
  std::lock_guard lock(mutex_);
  const auto& s = portal_->store(*t);
  const auto it = id ? s.records.find(*id) : s.records.end();
  if (it == s.records.end() || it->second.archived != archived) {
    return not_found("Object not found.  objectId are usually numeric.");
  }
  return Response::json(200, record_json(*portal_, *t, it->second, v));
}

Response Simulator::create(const Request& req) {
  const TypeInfo* t = type_of(req);
  if (auto refused = writable(t, req)) return *refused;
  std::optional<Response> error;
  const json body = parse_body(req, error);
  if (error) return *error;
  std::vector<json> events;
  Response out;
  {
    std::lock_guard lock(mutex_);
    Props props;
    if (auto bad = read_props(portal_->store(*t), body.value("properties", json::object()), props))
      return *bad;
    // Associations in the body must point at existing records, checked before anything is written.
    Links links;
    if (auto bad = read_links(*t, body.value("associations", json::array()), links)) return *bad;
    if (auto dup = duplicate_unique(portal_->store(*t), props)) return *dup;
    Record& r = portal_->create(*t, props, now());
    for (const auto& [to, link] : links) portal_->associate(*t, r.id, *to, link.first, link.second);
    collect_stage_event(*t, r, true, events);
    out = Response::json(201, record_json(*portal_, *t, r, View{}));
  }
  emit_events(events);
  return out;
}

Response Simulator::patch(const Request& req) {
  const TypeInfo* t = type_of(req);
  if (auto refused = writable(t, req)) return *refused;
  std::optional<Response> error;
  const json body = parse_body(req, error);
  if (error) return *error;
  const auto id = parse_id(req.params.at("id"));
  std::vector<json> events;
  Response out;
  {
    std::lock_guard lock(mutex_);
    auto& s = portal_->store(*t);
    const auto it = id ? s.records.find(*id) : s.records.end();
    if (it == s.records.end() || it->second.archived) return not_found("Object not found.");
    Props props;
    if (auto bad = read_props(s, body.value("properties", json::object()), props)) return *bad;
    const auto changed = portal_->update(*t, it->second, props, now());
    collect_stage_event(*t, it->second, contains(changed, "dealstage"), events);
    collect_company_events(*t, it->second, changed, events);
    out = Response::json(200, record_json(*portal_, *t, it->second, View{}));
  }
  emit_events(events);
  return out;
}

Response Simulator::archive(const Request& req) {
  const TypeInfo* t = type_of(req);
  if (auto refused = writable(t, req)) return *refused;
  const auto id = parse_id(req.params.at("id"));
  std::lock_guard lock(mutex_);
  auto& s = portal_->store(*t);
  const auto it = id ? s.records.find(*id) : s.records.end();
  // HubSpot answers 204 for an id that is already archived or unknown, too.
  if (it != s.records.end() && !it->second.archived) portal_->archive(*t, it->second, now());
  return Response::text(204, "", "application/json");
}

// POST /crm/v3/objects/{type}/merge {"primaryObjectId", "objectIdToMerge"}: answers the survivor.
Response Simulator::merge(const Request& req) {
  const TypeInfo* t = type_of(req);
  if (auto refused = writable(t, req)) return *refused;
  std::optional<Response> error;
  const json body = parse_body(req, error);
  if (error) return *error;
  const auto primary = parse_id(value_string(body.value("primaryObjectId", json())));
  const auto merged = parse_id(value_string(body.value("objectIdToMerge", json())));
  if (!primary || !merged) return bad_request("primaryObjectId and objectIdToMerge are required");
  std::lock_guard lock(mutex_);
  if (!portal_->merge(*t, *primary, *merged, now())) return not_found("Object not found.");
  return Response::json(200, record_json(*portal_, *t, portal_->store(*t).records.at(*primary), View{}));
}

Response Simulator::batch(const Request& req) {
  const TypeInfo* t = type_of(req);
  if (!t) return not_found("Unknown object type " + req.params.at("type"));
  const std::string op = req.params.at("op");
  static const std::set<std::string> kOps = {"read", "create", "update", "upsert", "archive"};
  if (!kOps.count(op)) return not_found("Unknown batch operation " + op);
  if (op != "read") {
    if (auto refused = writable(t, req)) return *refused;
  }
  std::optional<Response> error;
  const json body = parse_body(req, error);
  if (error) return *error;
  const json inputs = body.value("inputs", json::array());
  if (!inputs.is_array()) return bad_request("inputs must be an array");
  if (inputs.size() > kBatchLimit) {
    return bad_request("Batch input is limited to " + std::to_string(kBatchLimit) + " inputs, got " +
                       std::to_string(inputs.size()));
  }
  const EpochMs started = now();
  std::vector<json> events;
  Response out;
  {
    std::lock_guard lock(mutex_);
    auto& s = portal_->store(*t);
    json results = json::array();
    std::vector<std::string> missing;
    // Validation errors fail the whole batch before anything is written, as HubSpot does; only
    // unknown ids are reported per input (207).
    std::vector<Props> props(inputs.size());
    if (op == "create" || op == "update" || op == "upsert") {
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        if (auto bad = read_props(s, inputs[i].value("properties", json::object()), props[i])) {
          auto b = json::parse(bad->body);
          b["context"] = {{"inputIndex", i}};
          bad->body = b.dump();
          return *bad;
        }
      }
    }
    std::vector<Links> links(inputs.size());
    if (op == "create") {
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        if (!inputs[i].is_object()) return bad_request("inputs must be objects");
        // HubSpot's spec (SimplePublicObjectInputForCreate) requires `associations`, an empty list when none.
        if (!inputs[i].contains("associations") || !inputs[i]["associations"].is_array())
          return bad_request("inputs[" + std::to_string(i) + "].associations is required (an array)");
        if (auto bad = read_links(*t, inputs[i].value("associations", json::array()), links[i])) return *bad;
        if (auto dup = duplicate_unique(s, props[i])) return *dup;
      }
    }
    // Upsert takes its idProperty from each input (HubSpot's shape) or from the body.
    const std::string id_property =
        !inputs.empty() && inputs[0].is_object() && inputs[0].contains("idProperty")
            ? value_string(inputs[0]["idProperty"])
            : body.value("idProperty", "");
    if (op == "upsert") {
      const auto prop = s.props.find(id_property);
      if (id_property.empty() || prop == s.props.end())
        return bad_request("upsert needs an existing idProperty");
      if (!prop->second.unique)
        return bad_request("idProperty " + id_property + " is not a property with unique values");
    }
    View v;
    std::vector<std::string> read_props_list;
    if (op == "read") {
      for (const auto& p : body.value("properties", json::array()))
        read_props_list.push_back(p.get<std::string>());
      if (!read_props_list.empty()) v.props = &read_props_list;
      for (const auto& p : body.value("propertiesWithHistory", json::array()))
        v.history.push_back(p.get<std::string>());
    }
    // A write's answer shows the type's defaults and what was written, as HubSpot's does.
    std::vector<std::vector<std::string>> written(inputs.size());
    std::vector<View> write_views(inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      written[i] = t->default_props;
      for (const auto& [k, val] : props[i]) {
        if (std::find(written[i].begin(), written[i].end(), k) == written[i].end()) written[i].push_back(k);
      }
      if (op == "upsert" && std::find(written[i].begin(), written[i].end(), id_property) == written[i].end())
        written[i].push_back(id_property);
      write_views[i].props = &written[i];
    }
    // An upsert's records by their idProperty value, read once per batch (a scan per input made a batch
    // of 100 cost 100 passes over every task in the portal). std::map nodes stay put as records are added.
    std::unordered_map<std::string, Record*> by_unique;
    if (op == "upsert") {
      for (auto& [rid, rec] : s.records) {
        const std::string* val = rec.get(id_property);
        if (!rec.archived && val) by_unique[*val] = &rec;
      }
    }
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const auto& in = inputs[i];
      const std::string raw_id = value_string(in.value("id", json()));
      if (op == "create") {
        Record& r = portal_->create(*t, props[i], now());
        for (const auto& [to, link] : links[i]) portal_->associate(*t, r.id, *to, link.first, link.second);
        collect_stage_event(*t, r, true, events);
        results.push_back(record_json(*portal_, *t, r, write_views[i]));
        continue;
      }
      Record* r = nullptr;
      if (op == "upsert") {
        if (const auto it = by_unique.find(raw_id); it != by_unique.end()) r = it->second;
        if (!r) {
          Props with_id = props[i];
          with_id.emplace_back(id_property, raw_id);
          r = &portal_->create(*t, with_id, now());
          by_unique[raw_id] = r;
          collect_stage_event(*t, *r, true, events);
          results.push_back(record_json(*portal_, *t, *r, write_views[i]));
          results.back()["new"] = true;
          continue;
        }
      } else {
        // Reading archived records takes ?archived=true (and then returns only those), as HubSpot does;
        // an id merged away reads as the record it was merged into.
        const bool archived =
            op == "read" && req.query.count("archived") && req.query.at("archived") == "true";
        const auto id = parse_id(raw_id);
        auto it = id ? s.records.find(*id) : s.records.end();
        if (it == s.records.end() && id && op == "read" && !archived) {
          if (const auto into = portal_->merged_into(*t, *id)) it = s.records.find(*into);
        }
        if (it != s.records.end() && it->second.archived == archived) r = &it->second;
      }
      if (!r) {
        missing.push_back(raw_id);
        continue;
      }
      if (op == "update" || op == "upsert") {
        const auto changed = portal_->update(*t, *r, props[i], now());
        collect_stage_event(*t, *r, contains(changed, "dealstage"), events);
        collect_company_events(*t, *r, changed, events);
      }
      if (op == "archive") {
        portal_->archive(*t, *r, now());
        continue;
      }
      results.push_back(record_json(*portal_, *t, *r, op == "read" ? v : write_views[i]));
      if (op == "upsert") results.back()["new"] = false;
    }
    if (op == "archive") {
      out = Response::text(204, "", "application/json");
    } else {
      json env = batch_envelope(results, started, now());
      int status = op == "create" ? 201 : 200;
      if (!missing.empty() && op != "archive") {
        status = 207;
        env["numErrors"] = 1;
        env["errors"] = json::array(
            {{{"status", "error"},
              {"category", "OBJECT_NOT_FOUND"},
              {"message", "Could not get some " + t->name + " objects, they may be deleted or not exist."},
              {"context", {{"ids", missing}}}}});
      }
      out = Response::json(status, env);
    }
  }
  emit_events(events);
  return out;
}

Response Simulator::search(const Request& req) {
  const TypeInfo* t = type_of(req);
  if (!t) return not_found("Unknown object type " + req.params.at("type"));
  std::optional<Response> error;
  const json body = parse_body(req, error);
  if (error) return *error;
  SearchQuery q;
  if (auto bad = parse_search(body, q)) return bad_request(*bad);
  std::lock_guard lock(mutex_);
  const auto& s = portal_->store(*t);
  const auto hits = run_search(s, q, now() - options_.search_lag_ms);
  View v;
  if (!q.properties.empty()) v.props = &q.properties;
  std::string out = "{\"total\":" + std::to_string(hits.size()) + ",\"results\":[";
  std::size_t next = q.after;
  for (; next < hits.size() && next - q.after < static_cast<std::size_t>(q.limit); ++next) {
    if (next > q.after) out += ',';
    write_record(out, *portal_, *t, *hits[next], v);
  }
  out += ']';
  if (next < hits.size()) {
    out += ",\"paging\":{\"next\":{\"after\":";
    put_string(out, std::to_string(next));
    out += "}}";
  }
  out += '}';
  return Response::text(200, std::move(out), "application/json");
}

Response Simulator::assoc_list(const Request& req) {
  const TypeInfo* from = type_of(req, "from");
  const TypeInfo* to = type_of(req, "to");
  if (!from || !to) return not_found("Unknown object type");
  const auto id = parse_id(req.params.at("id"));
  const Offset page = offset_of(req, 500, 500);
  std::lock_guard lock(mutex_);
  const auto& s = portal_->store(*from);
  if (!id || !s.records.count(*id)) return not_found("Object not found.");
  json results = json::array();
  const auto* list = portal_->associations(*from, *id, *to);
  const std::size_t n = list ? list->size() : 0;
  for (std::size_t i = page.after; i < n && results.size() < page.limit; ++i) {
    results.push_back(
        {{"toObjectId", (*list)[i].to_id},
         {"associationTypes",
          {{{"category", "HUBSPOT_DEFINED"}, {"typeId", (*list)[i].type_id}, {"label", nullptr}}}}});
  }
  json out = {{"results", results}};
  add_next(out, page, results.size(), n);
  return Response::json(200, out);
}

// The two object types of a v4 batch route and its body's `inputs`, or the answer refusing them.
std::optional<Response> Simulator::assoc_batch_inputs(const Request& req, const TypeInfo*& from,
                                                      const TypeInfo*& to, json& inputs) {
  from = type_of(req, "from");
  to = type_of(req, "to");
  if (!from || !to) return not_found("Unknown object type");
  std::optional<Response> error;
  const json body = parse_body(req, error);
  if (error) return error;
  inputs = body.value("inputs", json::array());
  if (!inputs.is_array()) return bad_request("inputs must be an array");
  return std::nullopt;
}

Response Simulator::assoc_batch_read(const Request& req) {
  const TypeInfo *from = nullptr, *to = nullptr;
  json inputs;
  if (auto refused = assoc_batch_inputs(req, from, to, inputs)) return *refused;
  if (inputs.size() > kAssocBatchLimit) {
    return bad_request("Batch input is limited to " + std::to_string(kAssocBatchLimit) + " inputs");
  }
  const EpochMs started = now();
  std::lock_guard lock(mutex_);
  // Written as text, like list pages: a batch answers up to 1,000 ids.
  std::string results;
  std::vector<std::string> without;
  for (const auto& in : inputs) {
    const std::string raw = value_string(in.value("id", json()));
    const auto id = parse_id(raw);
    const auto* list = id ? portal_->associations(*from, *id, *to) : nullptr;
    if (!list || list->empty()) {
      without.push_back(raw);
      continue;
    }
    if (!results.empty()) results += ',';
    results += "{\"from\":{\"id\":";
    put_string(results, raw);
    results += "},\"to\":[";
    for (std::size_t i = 0; i < list->size(); ++i) {
      if (i) results += ',';
      results += "{\"toObjectId\":" + std::to_string((*list)[i].to_id) +
                 ",\"associationTypes\":[{\"category\":\"HUBSPOT_DEFINED\",\"typeId\":" +
                 std::to_string((*list)[i].type_id) + ",\"label\":null}]}";
    }
    results += "]}";
  }
  std::string out = "{\"status\":\"COMPLETE\",\"results\":[" + results + "],\"startedAt\":";
  put_string(out, core::format_iso8601(started));
  out += ",\"completedAt\":";
  put_string(out, core::format_iso8601(now()));
  if (without.empty()) return Response::text(200, std::move(out) + "}", "application/json");
  // HubSpot reports ids without associations as errors of a multi-status answer.
  json errors = json::array();
  for (const auto& id : without) {
    errors.push_back(
        {{"status", "error"},
         {"category", "OBJECT_NOT_FOUND"},
         {"subCategory", "crm.associations.NO_ASSOCIATIONS_FOUND"},
         {"message", "No " + to->singular + " is associated with " + from->singular + " " + id + "."},
         {"context", {{"fromObjectId", {id}}}}});
  }
  out += ",\"numErrors\":" + std::to_string(without.size()) + ",\"errors\":" + errors.dump() + "}";
  return Response::text(207, std::move(out), "application/json");
}

Response Simulator::assoc_put(const Request& req, bool typed) {
  const TypeInfo* from = type_of(req, "from");
  const TypeInfo* to = type_of(req, "to");
  if (!from || !to) return not_found("Unknown object type");
  const auto id = parse_id(req.params.at("id"));
  const auto to_id = parse_id(req.params.at("toId"));
  int type_id = 0;
  if (typed) {
    std::optional<Response> error;
    const json body = parse_body(req, error);
    if (error) return *error;
    if (!body.is_array() || body.empty())
      return bad_request("expected [{associationCategory, associationTypeId}]");
    type_id = body[0].value("associationTypeId", 0);
  }
  std::lock_guard lock(mutex_);
  if (!id || !portal_->store(*from).records.count(*id)) return not_found("Object not found.");
  if (!to_id || !portal_->store(*to).records.count(*to_id)) return not_found("Object not found.");
  portal_->associate(*from, *id, *to, *to_id, type_id);
  const json result = {{"fromObjectTypeId", from->type_id},
                       {"fromObjectId", *id},
                       {"toObjectTypeId", to->type_id},
                       {"toObjectId", *to_id},
                       {"labels", json::array()}};
  if (typed) return Response::json(201, result);
  return Response::json(200, {{"status", "COMPLETE"}, {"results", {result}}});
}

std::optional<Response> Simulator::read_links(const TypeInfo& t, const json& associations, Links& out) {
  if (!associations.is_array()) return bad_request("associations must be an array");
  for (const auto& a : associations) {
    if (!a.is_object() || !a.contains("to") || !a["to"].is_object() || !a.contains("types") ||
        !a["types"].is_array())
      return bad_request("an association needs `to` and `types`");
    const auto to_id = parse_id(value_string(a["to"].value("id", json())));
    const int type_id =
        a["types"].empty() || !a["types"][0].is_object() ? 0 : a["types"][0].value("associationTypeId", 0);
    const TypeInfo* to = nullptr;
    for (const auto& cand : object_types()) {
      if (type_id != 0 && association_type_id(t.name, cand.name) == type_id) to = &cand;
    }
    if (!to || !to_id || !portal_->store(*to).records.count(*to_id)) {
      return bad_request("association to " + value_string(a["to"].value("id", json())) + " with type " +
                         std::to_string(type_id) + " is not valid");
    }
    out.push_back({to, {*to_id, type_id}});
  }
  return std::nullopt;
}

Response Simulator::assoc_batch_associate(const Request& req) {
  const TypeInfo *from = nullptr, *to = nullptr;
  json inputs;
  if (auto refused = assoc_batch_inputs(req, from, to, inputs)) return *refused;
  if (inputs.size() > kBatchLimit) return bad_request("inputs: at most 100");
  std::lock_guard lock(mutex_);
  json results = json::array();
  std::vector<std::string> missing;
  for (const auto& in : inputs) {
    const auto id = in.is_object() && in.contains("from") && in["from"].is_object()
                        ? parse_id(value_string(in["from"].value("id", json())))
                        : std::nullopt;
    const auto to_id = in.is_object() && in.contains("to") && in["to"].is_object()
                           ? parse_id(value_string(in["to"].value("id", json())))
                           : std::nullopt;
    if (!id || !to_id || !portal_->store(*from).records.count(*id) ||
        !portal_->store(*to).records.count(*to_id)) {
      missing.push_back(in.dump());
      continue;
    }
    portal_->associate(*from, *id, *to, *to_id, 0);
    results.push_back({{"from", {{"id", std::to_string(*id)}}}, {"to", {{"id", std::to_string(*to_id)}}}});
  }
  json env = {{"status", "COMPLETE"}, {"results", results}};
  if (!missing.empty()) {
    env["numErrors"] = missing.size();
    env["errors"] = json::array({{{"status", "error"},
                                  {"category", "OBJECT_NOT_FOUND"},
                                  {"message", "Some objects could not be associated"},
                                  {"context", {{"inputs", missing}}}}});
    return Response::json(207, env);
  }
  return Response::json(200, env);
}

Response Simulator::slack(const Request& req) {
  std::lock_guard lock(slack_mutex_);
  if (req.method == "GET") return Response::json(200, {{"messages", slack_posts_}});
  if (slack_answered_++ < options_.slack_fail_first) return Response::text(500, "server_error", "text/plain");
  json body;
  try {
    body = json::parse(req.body);
  } catch (const json::exception&) {
    return Response::text(400, "invalid_payload", "text/plain");
  }
  if (!body.is_object() || !body.contains("text")) return Response::text(400, "no_text", "text/plain");
  slack_posts_.push_back(body);
  return Response::text(200, "ok", "text/plain");
}

Response Simulator::properties_list(const Request& req) {
  const TypeInfo* t = type_of(req);
  if (!t) return not_found("Unknown object type");
  std::lock_guard lock(mutex_);
  json results = json::array();
  for (const auto& [name, def] : portal_->store(*t).props) results.push_back(def.to_json());
  return Response::json(200, {{"results", results}});
}

Response Simulator::property_get(const Request& req) {
  const TypeInfo* t = type_of(req);
  if (!t) return not_found("Unknown object type");
  std::lock_guard lock(mutex_);
  const auto& props = portal_->store(*t).props;
  const auto it = props.find(req.params.at("name"));
  if (it == props.end()) return not_found("Property " + req.params.at("name") + " does not exist");
  return Response::json(200, it->second.to_json());
}

Response Simulator::property_create(const Request& req) {
  const TypeInfo* t = type_of(req);
  if (!t) return not_found("Unknown object type");
  std::optional<Response> error;
  const json b = parse_body(req, error);
  if (error) return *error;
  PropertyDef def;
  def.name = b.value("name", "");
  def.label = b.value("label", def.name);
  def.type = b.value("type", "");
  def.field_type = b.value("fieldType", "");
  def.group = b.value("groupName", "");
  def.unique = b.value("hasUniqueValue", false);
  static const std::map<std::string, std::set<std::string>> kFieldTypes = {
      {"string", {"text", "textarea", "html", "phonenumber", "file"}},
      {"number", {"number", "calculation_equation"}},
      {"enumeration", {"select", "radio", "checkbox", "booleancheckbox"}},
      {"bool", {"booleancheckbox"}},
      {"date", {"date"}},
      {"datetime", {"date"}}};
  if (def.name.empty() || def.type.empty() || def.field_type.empty() || def.group.empty()) {
    return bad_request("name, label, type, fieldType and groupName are required");
  }
  const auto ft = kFieldTypes.find(def.type);
  if (ft == kFieldTypes.end() || !ft->second.count(def.field_type)) {
    return bad_request("fieldType " + def.field_type + " does not go with type " + def.type);
  }
  for (const auto& o : b.value("options", json::array())) {
    // HubSpot's spec (OptionInput) requires label, value and hidden.
    if (!o.is_object() || !o.contains("hidden") || !o["hidden"].is_boolean() || !o.contains("label") ||
        !o.contains("value"))
      return bad_request("options[].label, value and hidden are required");
    def.options.push_back({o.value("label", ""), o.value("value", "")});
  }
  if (def.type == "enumeration" && def.options.empty() && def.field_type != "booleancheckbox") {
    return bad_request("an enumeration needs options");
  }
  std::lock_guard lock(mutex_);
  auto& s = portal_->store(*t);
  if (s.props.count(def.name))
    return hubspot_error(409, "OBJECT_ALREADY_EXISTS", "Property named '" + def.name + "' already exists.");
  if (!s.groups.count(def.group)) return bad_request("property group " + def.group + " does not exist");
  if (def.unique && t->name == "tasks" && !options_.unique_task_properties)
    return bad_request("Properties of tasks cannot have unique values in this portal");
  if (def.unique) {
    const auto unique =
        std::count_if(s.props.begin(), s.props.end(), [](const auto& p) { return p.second.unique; });
    if (unique >= 10) return bad_request("at most 10 properties per object may have unique values");
  }
  const json out = def.to_json();
  portal_->add_property(*t, std::move(def));
  return Response::json(201, out);
}

Response Simulator::groups(const Request& req) {
  const TypeInfo* t = type_of(req);
  if (!t) return not_found("Unknown object type");
  std::lock_guard lock(mutex_);
  auto& s = portal_->store(*t);
  if (req.method == "GET") {
    json results = json::array();
    for (const auto& [name, g] : s.groups) results.push_back(g);
    return Response::json(200, {{"results", results}});
  }
  std::optional<Response> error;
  const json b = parse_body(req, error);
  if (error) return *error;
  const std::string name = b.value("name", "");
  if (name.empty()) return bad_request("name is required");
  if (s.groups.count(name))
    return hubspot_error(409, "OBJECT_ALREADY_EXISTS", "Group named '" + name + "' already exists.");
  s.groups[name] = {
      {"name", name}, {"label", b.value("label", name)}, {"displayOrder", b.value("displayOrder", -1)}};
  return Response::json(201, s.groups[name]);
}

Response Simulator::owners(const Request& req) {
  const Offset page = offset_of(req, 100, 500);
  std::lock_guard lock(mutex_);
  json results = json::array();
  // As HubSpot: archived owners (people who left) only with archived=true.
  const bool archived = req.query.count("archived") && req.query.at("archived") == "true";
  std::vector<json> all;
  for (const auto& o : portal_->owners) {
    if (o.value("archived", false) == archived) all.push_back(o);
  }
  for (std::size_t i = page.after; i < all.size() && results.size() < page.limit; ++i) {
    results.push_back(all[i]);
  }
  json out = {{"results", results}};
  add_next(out, page, results.size(), all.size());
  return Response::json(200, out);
}

Response Simulator::pipelines(const Request& req) {
  const TypeInfo* t = type_of(req);
  std::lock_guard lock(mutex_);
  if (!t || !portal_->pipelines.contains(t->name))
    return not_found("No pipelines for " + req.params.at("type"));
  return Response::json(200, {{"results", portal_->pipelines[t->name]}});
}

Response Simulator::sim_objects(const Request& req) {
  const TypeInfo* t = type_of(req);
  if (!t) return not_found("Unknown object type");
  std::lock_guard lock(mutex_);
  View v;
  v.all_props = true;
  for (const auto& other : object_types()) v.assoc.push_back(&other);
  json results = json::array();
  for (const auto& [id, r] : portal_->store(*t).records) results.push_back(record_json(*portal_, *t, r, v));
  return Response::json(200, {{"results", results}});
}

// Writes a record as given, bypassing validation: how tests plant malformed values that real portals
// also end up holding (an import that put text into a number property).
Response Simulator::sim_inject(const Request& req) {
  const TypeInfo* t = type_of(req);
  if (!t) return not_found("Unknown object type");
  std::optional<Response> error;
  const json b = parse_body(req, error);
  if (error) return *error;
  Props props;
  const json given = b.value("properties", json::object());
  for (const auto& [k, v] : given.items()) props.emplace_back(k, value_string(v));
  std::lock_guard lock(mutex_);
  auto& s = portal_->store(*t);
  Record* r = nullptr;
  if (b.contains("id")) {
    const auto id = parse_id(value_string(b["id"]));
    const auto it = id ? s.records.find(*id) : s.records.end();
    if (it == s.records.end()) return not_found("Object not found.");
    r = &it->second;
    portal_->update(*t, *r, props, now(), "IMPORT");
  } else {
    r = &portal_->create(*t, props, now(), "IMPORT");
  }
  if (b.value("archived", false) && !r->archived) portal_->archive(*t, *r, now());
  View v;
  v.all_props = true;
  return Response::json(200, record_json(*portal_, *t, *r, v));
}

Response Simulator::sim_requests(const Request& req) {
  std::uint64_t since = 0;
  if (auto it = req.query.find("since"); it != req.query.end())
    since = std::strtoull(it->second.c_str(), nullptr, 10);
  std::lock_guard lock(log_mutex_);
  json out = json::array();
  for (const auto& l : log_) {
    if (l.seq <= since) continue;
    out.push_back({{"seq", l.seq},
                   {"method", l.method},
                   {"path", l.path},
                   {"body", l.body},
                   {"status", l.status},
                   {"at_ms", l.at_ms}});
  }
  return Response::json(200, {{"requests", out}, {"last", log_seq_}});
}

void Simulator::emit_events(std::vector<json>& events) {
  if (!sink_ || events.empty()) return;
  for (auto& e : events) {
    const std::int64_t seq = event_seq_++;
    e["eventId"] = 1'000'000 + seq;
    e["subscriptionId"] = 2'195'011;
    e["portalId"] = options_.portal_id;
    e["appId"] = options_.app_id;
    e["occurredAt"] = now();
    e["attemptNumber"] = 0;
    e["changeSource"] = "API";
    sink_(std::move(e));
  }
}

json Simulator::dump_state() {
  std::lock_guard lock(mutex_);
  View v;
  v.all_props = true;
  for (const auto& other : object_types()) v.assoc.push_back(&other);
  json objects = json::object();
  for (const auto& t : object_types()) {
    json list = json::array();
    for (const auto& [id, r] : portal_->store(t).records) list.push_back(record_json(*portal_, t, r, v));
    objects[t.name] = list;
  }
  return {{"objects", objects}, {"owners", portal_->owners}};
}

void Simulator::add_routes(http::Router& r) {
  using std::placeholders::_1;
  auto api = [this](auto member) { return guarded(Kind::kApi, std::bind(member, this, _1)); };
  // Every CRM route in both spellings: /crm/v3/objects/... (v4 for associations) and the dated
  // /crm/objects/2026-03/... that HubSpot serves since 2026.
  auto crm = [&r](const std::string& method, const std::string& v3, http::Handler handler) {
    r.add(method, v3, handler);
    const auto api_start = v3.find('/', 5) + 1;  // after "/crm/vN/"
    const auto api_end = v3.find('/', api_start);
    const std::string name =
        v3.substr(api_start, api_end == std::string::npos ? std::string::npos : api_end - api_start);
    const std::string rest = api_end == std::string::npos ? std::string() : v3.substr(api_end);
    r.add(method, "/crm/" + name + "/{api_version}" + rest, std::move(handler));
  };
  crm("GET", "/crm/v3/objects/{type}", api(&Simulator::list));
  crm("POST", "/crm/v3/objects/{type}", api(&Simulator::create));
  crm("POST", "/crm/v3/objects/{type}/search",
      guarded(Kind::kSearch, std::bind(&Simulator::search, this, _1)));
  crm("GET", "/crm/v3/objects/{type}/{id}", api(&Simulator::get));
  crm("PATCH", "/crm/v3/objects/{type}/{id}", api(&Simulator::patch));
  crm("DELETE", "/crm/v3/objects/{type}/{id}", api(&Simulator::archive));
  crm("POST", "/crm/v3/objects/{type}/batch/{op}", api(&Simulator::batch));
  crm("POST", "/crm/v3/objects/{type}/merge", api(&Simulator::merge));
  crm("GET", "/crm/v4/objects/{from}/{id}/associations/{to}", api(&Simulator::assoc_list));
  crm("POST", "/crm/v4/associations/{from}/{to}/batch/read", api(&Simulator::assoc_batch_read));
  crm("POST", "/crm/v4/associations/{from}/{to}/batch/associate/default",
      api(&Simulator::assoc_batch_associate));
  crm("PUT", "/crm/v4/objects/{from}/{id}/associations/default/{to}/{toId}",
      guarded(Kind::kApi, [this](const Request& q) { return assoc_put(q, false); }));
  crm("PUT", "/crm/v4/objects/{from}/{id}/associations/{to}/{toId}",
      guarded(Kind::kApi, [this](const Request& q) { return assoc_put(q, true); }));
  crm("GET", "/crm/v3/properties/{type}/groups", api(&Simulator::groups));
  crm("POST", "/crm/v3/properties/{type}/groups", api(&Simulator::groups));
  crm("GET", "/crm/v3/properties/{type}", api(&Simulator::properties_list));
  crm("POST", "/crm/v3/properties/{type}", api(&Simulator::property_create));
  crm("GET", "/crm/v3/properties/{type}/{name}", api(&Simulator::property_get));
  crm("GET", "/crm/v3/owners", api(&Simulator::owners));
  crm("GET", "/crm/v3/owners/", api(&Simulator::owners));
  crm("GET", "/crm/v3/pipelines/{type}", api(&Simulator::pipelines));

  // Inspection for tests: no auth, no limits, no faults, not logged.
  r.add("GET", "/__sim/objects/{type}", std::bind(&Simulator::sim_objects, this, _1));
  r.add("POST", "/__sim/objects/{type}", std::bind(&Simulator::sim_inject, this, _1));
  // A hard delete (GDPR delete, purge): gone from both lists, as if it never existed.
  r.add("DELETE", "/__sim/objects/{type}/{id}", [this](const Request& q) {
    const TypeInfo* t = type_of(q);
    const auto id = parse_id(q.params.at("id"));
    if (!t || !id) return not_found("Object not found.");
    std::lock_guard lock(mutex_);
    if (!portal_->remove(*t, *id)) return not_found("Object not found.");
    return Response::text(204, "", "application/json");
  });
  r.add("GET", "/__sim/requests", std::bind(&Simulator::sim_requests, this, _1));
  // A Slack incoming webhook stand-in: POST records the message (answering `ok`), GET lists them.
  r.add("POST", "/__sim/slack", std::bind(&Simulator::slack, this, _1));
  r.add("GET", "/__sim/slack", std::bind(&Simulator::slack, this, _1));
  r.add("POST", "/__sim/reset", [this](const Request&) {
    auto fresh = factory_();
    {
      std::lock_guard lock(mutex_);
      portal_ = std::move(fresh);
    }
    limiter_.reset();
    faults_.reset();
    clock_offset_ = 0;
    std::lock_guard lock(log_mutex_);
    log_.clear();
    return Response::json(200, {{"status", "reset"}});
  });
  r.add("GET", "/__sim/clock", [this](const Request&) { return Response::json(200, {{"now_ms", now()}}); });
  r.add("POST", "/__sim/clock", [this](const Request& q) {
    try {
      const json b = json::parse(q.body);
      if (b.contains("advance_ms")) clock_offset_ += b["advance_ms"].get<EpochMs>();
      if (b.contains("set_ms")) clock_offset_ += b["set_ms"].get<EpochMs>() - now();
    } catch (const std::exception& e) {
      return bad_request(std::string("expected {\"advance_ms\": N} or {\"set_ms\": N}: ") + e.what());
    }
    return Response::json(200, {{"now_ms", now()}});
  });
}

}  // namespace cshealthd::sim
