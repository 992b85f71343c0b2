// docs/openapi.yaml against the routes the service serves: every served /v1 route is documented, every
// documented one is served, and every example response validates against its schema.
#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "cshealthd/api/v1.hpp"
#include "cshealthd/api/webhooks.hpp"
#include "cshealthd/base/system_clock.hpp"
#include "cshealthd/config/config.hpp"
#include "cshealthd/scoring/scoring_config.hpp"

namespace cshealthd {
namespace {

using json = nlohmann::json;

json to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& e : n) a.push_back(to_json(e));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted: a string whatever it looks like
      if (s == "null" || s == "~") return nullptr;
      if (s == "true") return true;
      if (s == "false") return false;
      try {
        std::size_t used = 0;
        const long long i = std::stoll(s, &used);
        if (used == s.size()) return i;
        const double d = std::stod(s, &used);
        if (used == s.size()) return d;
      } catch (const std::exception&) {
      }
      return s;
    }
    default:
      return nullptr;
  }
}

json load_doc() {
  return to_json(YAML::LoadFile(std::string(CSHEALTHD_SOURCE_DIR) + "/docs/openapi.yaml"));
}

const json& resolve(const json& doc, const json& schema) {
  if (!schema.contains("$ref")) return schema;
  std::string ref = schema["$ref"].get<std::string>();  // "#/components/schemas/Run"
  return doc.at(json::json_pointer(ref.substr(1)));
}

bool has_type(const json& v, const std::string& t) {
  if (t == "null") return v.is_null();
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "string") return v.is_string();
  if (t == "boolean") return v.is_boolean();
  if (t == "integer") return v.is_number_integer();
  if (t == "number") return v.is_number();
  return false;
}

// The parts of JSON Schema the document uses: type (one or a list), enum, required, properties, items,
// oneOf and $ref. Returns "" when `v` validates, else where and why not.
std::string validate(const json& doc, const json& schema_in, const json& v, const std::string& at) {
  const json& schema = resolve(doc, schema_in);
  if (schema.contains("oneOf")) {
    int ok = 0;
    for (const auto& s : schema["oneOf"]) ok += validate(doc, s, v, at).empty() ? 1 : 0;
    return ok == 1 ? "" : at + ": matches " + std::to_string(ok) + " of oneOf";
  }
  if (schema.contains("type")) {
    bool ok = false;
    if (schema["type"].is_array()) {
      for (const auto& t : schema["type"]) ok = ok || has_type(v, t.get<std::string>());
    } else {
      ok = has_type(v, schema["type"].get<std::string>());
    }
    if (!ok) return at + ": " + v.dump() + " is not " + schema["type"].dump();
  }
  if (schema.contains("enum") && v.is_string()) {
    bool found = false;
    for (const auto& e : schema["enum"]) found = found || e == v;
    if (!found) return at + ": " + v.dump() + " not in " + schema["enum"].dump();
  }
  if (v.is_object()) {
    const json required = schema.value("required", json::array());
    const json properties = schema.value("properties", json::object());
    for (const auto& r : required) {
      if (!v.contains(r.get<std::string>())) return at + ": missing " + r.get<std::string>();
    }
    for (const auto& [k, sub] : properties.items()) {
      if (!v.contains(k)) continue;
      if (auto e = validate(doc, sub, v[k], at + "." + k); !e.empty()) return e;
    }
  }
  if (v.is_array() && schema.contains("items")) {
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (auto e = validate(doc, schema["items"], v[i], at + "[" + std::to_string(i) + "]"); !e.empty())
        return e;
    }
  }
  return "";
}

std::set<std::pair<std::string, std::string>> served_routes() {
  const config::Config config;
  const auto scoring = scoring::load_scoring_config(config);
  store::Database db("host=/nonexistent dbname=none", store::PoolOptions{});  // connects lazily: never here
  store::JobQueue jobs(db, {});
  metrics::Registry metrics;
  http::Router router;
  api::add_v1_routes(router,
                     api::V1Deps{db, scoring, metrics, Secret("t"), [] { return 0; }, jobs, nullptr, {}});
  SystemClock clock;
  api::add_webhook_routes(router,
                          api::WebhookDeps{db, metrics, clock, Secret("s"), "", 1024, 100, 300'000, {}});
  std::set<std::pair<std::string, std::string>> out;
  for (const auto& [method, pattern] : router.routes()) out.emplace(method, pattern);
  return out;
}

TEST(OpenApiTest, EveryServedRouteIsDocumentedAndEveryDocumentedRouteServed) {
  const json doc = load_doc();
  EXPECT_EQ(doc["openapi"], "3.1.0");
  std::set<std::pair<std::string, std::string>> documented;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      std::string m = method;
      for (auto& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      documented.emplace(m, path);
    }
  }
  const auto served = served_routes();
  for (const auto& r : served)
    EXPECT_TRUE(documented.count(r)) << r.first << " " << r.second << " is not documented";
  for (const auto& r : documented)
    EXPECT_TRUE(served.count(r)) << r.first << " " << r.second << " is not served";
  EXPECT_GE(served.size(), 11u);
}

TEST(OpenApiTest, EveryExampleValidatesAgainstItsSchema) {
  const json doc = load_doc();
  int examples = 0;
  auto check = [&](const json& content, const std::string& where) {
    for (const auto& [type, media] : content.items()) {
      if (!media.contains("example")) continue;
      ++examples;
      EXPECT_EQ(validate(doc, media["schema"], media["example"], where), "") << where;
    }
  };
  for (const auto& [name, r] : doc["components"]["responses"].items()) check(r["content"], name);
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      for (const auto& [status, r] : op["responses"].items()) {
        if (r.contains("content")) check(r["content"], method + " " + path + " " + status);
      }
    }
  }
  EXPECT_GE(examples, 12);
}

TEST(OpenApiTest, TheValidatorRejectsWhatTheSchemasForbid) {
  const json doc = load_doc();
  const json run = doc["components"]["schemas"]["Run"];
  json example = doc["paths"]["/v1/runs/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
                    ["example"]["run"];
  EXPECT_EQ(validate(doc, run, example, "run"), "");
  json bad = example;
  bad["state"] = "exploded";
  EXPECT_NE(validate(doc, run, bad, "run"), "");
  bad = example;
  bad.erase("stages");
  EXPECT_NE(validate(doc, run, bad, "run"), "");
  bad = example;
  bad["id"] = "12";
  EXPECT_NE(validate(doc, run, bad, "run"), "");
}

}  // namespace
}  // namespace cshealthd
