#include "cshealthd/scoring/scoring_config.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "cshealthd/config/config.hpp"
#include "cshealthd/config/yaml_node.hpp"

namespace cshealthd::scoring {
namespace {

using config::ConfigError;
using Node = config::YamlNode;

core::Metric metric(const Node& n) {
  const auto m = core::metric_from_name(n.str());
  if (!m)
    n.fail("unknown metric '" + n.str() +
           "' (known: mrr, licensed_seats, active_users_30d, logins_30d, features_used)");
  return *m;
}

std::string fmt(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

core::Band band(const Node& n, double max_points) {
  n.expect_map({"gt", "gte", "lt", "lte", "points", "label"});
  if (n.has("gt") && n.has("gte")) n.fail("give gt or gte, not both");
  if (n.has("lt") && n.has("lte")) n.fail("give lt or lte, not both");
  core::Band b;
  if (n.has("gte")) b.min = n.child("gte").num(), b.min_inclusive = true;
  if (n.has("gt")) b.min = n.child("gt").num(), b.min_inclusive = false;
  if (n.has("lte")) b.max = n.child("lte").num(), b.max_inclusive = true;
  if (n.has("lt")) b.max = n.child("lt").num(), b.max_inclusive = false;
  b.points = n.at("points").num();
  if (b.points < 0 || b.points > max_points)
    n.child("points").fail("points must be within [0, " + fmt(max_points) + "]");
  if (b.min && b.max && (*b.min > *b.max || (*b.min == *b.max && !(b.min_inclusive && b.max_inclusive))))
    n.fail("empty band: its lower bound is not below its upper bound");
  std::string auto_label;
  if (b.min) auto_label += (b.min_inclusive ? ">= " : "> ") + fmt(*b.min);
  if (b.max)
    auto_label +=
        (auto_label.empty() ? "" : " and ") + std::string(b.max_inclusive ? "<= " : "< ") + fmt(*b.max);
  b.label = n.opt_str("label", auto_label.empty() ? "any" : auto_label);
  return b;
}

// Bands sorted by their lower bound must meet exactly: no value rated twice, none left out in between.
std::vector<core::Band> bands(const Node& n, double max_points) {
  std::vector<std::pair<core::Band, Node>> all;
  for (const auto& b : n.list()) all.emplace_back(band(b, max_points), b);
  if (all.empty()) n.fail("needs at least one band");
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    if (!a.first.min) return b.first.min.has_value();
    if (!b.first.min) return false;
    return *a.first.min < *b.first.min ||
           (*a.first.min == *b.first.min && a.first.min_inclusive && !b.first.min_inclusive);
  });
  for (std::size_t i = 1; i < all.size(); ++i) {
    const auto& [a, an] = all[i - 1];
    const auto& [b, bn] = all[i];
    if (!a.max || !b.min) bn.fail("overlaps the band '" + a.label + "'");
    if (*a.max > *b.min || (*a.max == *b.min && a.max_inclusive && b.min_inclusive))
      bn.fail("overlaps the band '" + a.label + "'");
    if (*a.max < *b.min || (!a.max_inclusive && !b.min_inclusive))
      bn.fail("leaves a gap after the band '" + a.label + "'");
  }
  std::vector<core::Band> out;
  for (auto& [b, _] : all) out.push_back(b);
  return out;
}

core::RecordFilter filter(const Node& n) {
  n.expect_map({"priorities", "categories", "survey_types", "outcomes"});
  core::RecordFilter f;
  if (n.has("priorities")) f.priorities = n.child("priorities").strings();
  if (n.has("categories")) f.categories = n.child("categories").strings();
  if (n.has("survey_types")) f.survey_types = n.child("survey_types").strings();
  if (n.has("outcomes")) f.outcomes = n.child("outcomes").strings();
  return f;
}

// source / filter / window_days / last_n / reduce / share_of, within a component or a rule.
core::Aggregate aggregate(const Node& n) {
  core::Aggregate a;
  using S = core::RecordSource;
  a.source = n.at("source").one_of<S>(
      {{"tickets", S::kTickets}, {"feedback", S::kFeedback}, {"meetings", S::kMeetings}});
  if (n.has("filter")) a.filter = filter(n.child("filter"));
  if (n.has("window_days")) a.window_days = n.child("window_days").integer(0, 3650);
  if (n.has("last_n")) a.last_n = n.child("last_n").integer(0, 1000);
  using R = core::Reduce;
  if (n.has("reduce"))
    a.reduce = n.child("reduce").one_of<R>(
        {{"count", R::kCount}, {"latest", R::kLatest}, {"average", R::kAverage}, {"share", R::kShare}});
  if (a.reduce == R::kShare) a.share_of = filter(n.at("share_of"));
  if ((a.reduce == R::kLatest || a.reduce == R::kAverage) && a.source != core::RecordSource::kFeedback)
    n.child("reduce").fail(n.child("reduce").str() + " needs a source with values (feedback)");
  return a;
}

core::Component component(const Node& n) {
  core::Component c;
  c.name = n.at("name").str();
  const std::string kind = n.at("kind").str();
  const std::map<std::string, std::set<std::string>> keys = {
      {"bands", {"metric", "denominator", "multiply", "divide", "bands"}},
      {"categorical", {"field", "values"}},
      {"trend", {"metrics", "window_days", "grow_at_percent", "shrink_at_percent", "points"}},
      {"days_until", {"field", "unit", "bands", "monthly"}},
      {"aggregate", {"source", "filter", "window_days", "last_n", "reduce", "share_of", "bands"}},
      {"rules", {"rules", "otherwise"}},
  };
  const auto kind_keys = keys.find(kind);
  if (kind_keys == keys.end())
    n.child("kind").fail("expected bands, categorical, trend, days_until, aggregate or rules, got '" + kind +
                         "'");
  // Unknown keys first: a misspelt key is the likelier mistake than a missing one.
  auto allowed = kind_keys->second;
  allowed.insert({"name", "label", "kind", "weight", "max_points"});
  n.expect_map(allowed);
  c.label = n.opt_str("label", c.name);
  c.weight = n.at("weight").num();
  if (c.weight <= 0 || c.weight > 100) n.child("weight").fail("weight must be in (0, 100]");
  c.max_points = n.opt_num("max_points", 100);
  if (c.max_points <= 0) n.child("max_points").fail("must be above 0");
  if (kind == "bands") {
    c.kind = core::ComponentKind::kBands;
    c.metric = metric(n.at("metric"));
    if (n.has("denominator")) c.denominator = metric(n.child("denominator"));
    c.multiply = n.opt_num("multiply", 1);
    c.divide = n.opt_num("divide", 1);
    if (c.divide == 0) n.child("divide").fail("must not be 0");
    c.bands = bands(n.at("bands"), c.max_points);
  } else if (kind == "categorical") {
    c.kind = core::ComponentKind::kCategorical;
    const auto f = core::text_field_from_name(n.at("field").str());
    if (!f)
      n.child("field").fail("unknown field '" + n.child("field").str() +
                            "' (known: plan, goal_status, cs_stage, contract_term)");
    c.text = *f;
    for (const auto& [value, points] : n.at("values").entries()) {
      const double p = points.num();
      if (p < 0 || p > c.max_points) points.fail("points must be within [0, " + fmt(c.max_points) + "]");
      c.categories.emplace_back(value, p);
    }
  } else if (kind == "trend") {
    c.kind = core::ComponentKind::kTrend;
    for (const auto& m : n.at("metrics").list()) c.trend_metrics.push_back(metric(m));
    if (c.trend_metrics.empty()) n.child("metrics").fail("needs at least one metric");
    if (n.has("window_days")) c.window_days = n.child("window_days").integer(1, 3650);
    c.grow_at = n.opt_num("grow_at_percent", 5) / 100;
    c.shrink_at = n.opt_num("shrink_at_percent", -5) / 100;
    if (c.shrink_at >= c.grow_at) n.fail("shrink_at_percent must be below grow_at_percent");
    const Node p = n.at("points");
    p.expect_map({"growing", "flat", "shrinking"});
    c.growing = p.at("growing").num();
    c.flat = p.at("flat").num();
    c.shrinking = p.at("shrinking").num();
    c.growing_label =
        "growing (>= " + fmt(c.grow_at * 100) + "% over " + std::to_string(c.window_days) + " days)";
    c.flat_label = "flat";
    c.shrinking_label =
        "shrinking (<= " + fmt(c.shrink_at * 100) + "% over " + std::to_string(c.window_days) + " days)";
    for (const double v : {c.growing, c.flat, c.shrinking}) {
      if (v < 0 || v > c.max_points) p.fail("points must be within [0, " + fmt(c.max_points) + "]");
    }
  } else if (kind == "days_until") {
    c.kind = core::ComponentKind::kDaysUntil;
    const auto f = core::date_field_from_name(n.at("field").str());
    if (!f)
      n.child("field").fail("unknown date '" + n.child("field").str() +
                            "' (known: renewal_date, contract_start_date, last_contacted)");
    c.date = *f;
    using U = core::TimeUnit;
    if (n.has("unit")) c.unit = n.child("unit").one_of<U>({{"days", U::kDays}, {"months", U::kMonths}});
    c.bands = bands(n.at("bands"), c.max_points);
    if (n.has("monthly")) {
      // monthly: leave_out | same | {tenure_bands: [...]} (months since contract_start_date)
      const auto m = n.child("monthly");
      using M = core::Component::Monthly;
      if (m.yaml().IsScalar()) {
        c.monthly = m.one_of<M>({{"leave_out", M::kLeaveOut}, {"same", M::kSame}});
      } else {
        m.expect_map({"tenure_bands"});
        c.monthly = M::kTenure;
        c.tenure_bands = bands(m.at("tenure_bands"), c.max_points);
      }
    }
  } else if (kind == "aggregate") {
    c.kind = core::ComponentKind::kAggregate;
    c.aggregate = aggregate(n);
    c.bands = bands(n.at("bands"), c.max_points);
  } else if (kind == "rules") {
    c.kind = core::ComponentKind::kRules;
    for (const auto& r : n.at("rules").list()) {
      r.expect_map(
          {"source", "filter", "window_days", "last_n", "reduce", "share_of", "at_least", "points", "label"});
      core::Rule rule;
      rule.when = aggregate(r);
      rule.at_least = r.opt_num("at_least", 1);
      rule.points = r.at("points").num();
      if (rule.points < 0 || rule.points > c.max_points)
        r.child("points").fail("points must be within [0, " + fmt(c.max_points) + "]");
      rule.label = r.opt_str("label", rule.when.describe() + " >= " + fmt(rule.at_least));
      c.rules.push_back(std::move(rule));
    }
    const Node o = n.at("otherwise");
    o.expect_map({"points", "label"});
    c.otherwise = o.at("points").num();
    c.otherwise_label = o.opt_str("label", "otherwise");
  }
  return c;
}

core::Scorecard scorecard(const Node& root) {
  root.expect_map({"scorecard", "description", "components"});
  core::Scorecard card;
  card.name = root.at("scorecard").str();
  card.description = root.opt_str("description", "");
  std::set<std::string> names;
  double total = 0;
  for (const auto& c : root.at("components").list()) {
    card.components.push_back(component(c));
    if (!names.insert(card.components.back().name).second) c.child("name").fail("duplicate component name");
    total += card.components.back().weight;
  }
  if (std::fabs(total - 100) > 1e-6)
    root.child("components").fail("weights sum to " + fmt(total) + "%, not 100%");
  return card;
}

core::SegmentRule segment(const Node& n) {
  n.expect_map({"name", "scorecard", "when"});
  core::SegmentRule s;
  s.name = n.at("name").str();
  s.scorecard = n.at("scorecard").str();
  const Node w = n.at("when");
  w.expect_map({"metric", "gte", "lt", "field", "in"});
  if (w.has("metric")) {
    s.metric = metric(w.child("metric"));
    if (w.has("gte")) s.at_least = w.child("gte").num();
    if (w.has("lt")) s.below = w.child("lt").num();
    if (!s.at_least && !s.below) w.fail("a metric condition needs gte and/or lt");
  }
  if (w.has("field")) {
    const auto f = core::text_field_from_name(w.child("field").str());
    if (!f) w.child("field").fail("unknown field '" + w.child("field").str() + "'");
    s.text = *f;
    s.values = w.at("in").strings();
  }
  if (!s.metric && !s.text) w.fail("needs a metric or a field condition");
  return s;
}

// Every signal and parameter the engine's table defines, and nothing else.
void signals(const Node& root, core::SignalConfig& config) {
  std::set<std::string> names;
  for (const auto& s : config.signals) names.insert(s.name);
  root.expect_map(names);
  for (auto& s : config.signals) {
    if (!root.has(s.name)) continue;
    const Node n = root.child(s.name);
    std::set<std::string> keys = {"enabled", "priority"};
    for (const auto& p : s.params) keys.insert(p.name);
    n.expect_map(keys);
    if (n.has("enabled")) s.enabled = n.child("enabled").boolean();
    if (n.has("priority")) {
      const std::string p = n.child("priority").str();
      if (p != "high" && p != "medium" && p != "low" && p != "info")
        n.child("priority").fail("expected high, medium, low or info, got '" + p + "'");
      s.priority = p;
    }
    for (auto& p : s.params) {
      if (!n.has(p.name)) continue;
      const Node v = n.child(p.name);
      switch (p.type) {
        case core::SignalParam::Type::kNumber:
          p.number = v.num();
          break;
        case core::SignalParam::Type::kInteger:
          p.number = v.integer(0, 100000);
          break;
        case core::SignalParam::Type::kTexts:
          p.texts = v.strings();
          break;
      }
    }
    if (const auto error = s.check(); !error.empty()) n.fail(error);
  }
}

YAML::Node parse(const ScoringFile& f) {
  try {
    return YAML::Load(f.text);
  } catch (const YAML::Exception& e) {
    throw ConfigError((f.path.empty() ? f.name : f.path) + ":" + std::to_string(e.mark.line + 1) + ": " +
                      e.msg);
  }
}

}  // namespace

const core::Scorecard* ScoringConfig::find(const std::string& name) const {
  for (const auto& c : scorecards) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

namespace {

ScoringConfig parse_files(const std::vector<ScoringFile>& files, const core::StatusBands& b);

}  // namespace

// Every error is a ConfigError (exit 2) naming where: a YAML exception the checks above did not turn
// into one (found by fuzzing: a key that is not text) is turned into one here.
ScoringConfig parse_scoring(const std::vector<ScoringFile>& files, const core::StatusBands& b) {
  try {
    return parse_files(files, b);
  } catch (const YAML::Exception& e) {
    throw ConfigError("scorecards: " + e.msg + " (line " + std::to_string(e.mark.line + 1) + ")");
  }
}

namespace {

ScoringConfig parse_files(const std::vector<ScoringFile>& files, const core::StatusBands& b) {
  ScoringConfig out;
  out.bands = b;
  std::optional<std::pair<YAML::Node, std::string>> segments_file;
  std::size_t hash = 0;
  for (const auto& f : files) {
    if (f.name == "plays.yaml") continue;  // the lifecycle plays sit next to the scorecards
    hash = hash * 1'000'003 ^ std::hash<std::string>{}(f.name + "\n" + f.text);
    const YAML::Node root = parse(f);
    const std::string where = f.path.empty() ? f.name : f.path;
    if (f.name == "segments.yaml") {
      segments_file = {root, where};
    } else if (f.name == "signals.yaml") {
      if (root && !root.IsNull()) signals(Node(root, where, ""), out.signals);
    } else {
      Node n(root, where, "");
      if (!n.has("scorecard")) n.fail("not a scorecard: no top-level 'scorecard' key");
      auto card = scorecard(n);
      if (out.find(card.name))
        n.child("scorecard").fail("a scorecard named '" + card.name + "' is defined twice");
      out.scorecards.push_back(std::move(card));
    }
  }
  if (segments_file) {
    const Node root(segments_file->first, segments_file->second, "");
    root.expect_map({"segments", "default"});
    if (root.has("segments")) {
      for (const auto& s : root.child("segments").list()) {
        out.segments.rules.push_back(segment(s));
        if (!out.find(out.segments.rules.back().scorecard))
          s.child("scorecard").fail("no scorecard named '" + out.segments.rules.back().scorecard + "'");
      }
    }
    if (root.has("default")) {
      const Node d = root.child("default");
      d.expect_map({"name", "scorecard"});
      out.segments.default_name = d.opt_str("name", "default");
      out.segments.default_scorecard = d.at("scorecard").str();
      if (!out.find(out.segments.default_scorecard))
        d.child("scorecard").fail("no scorecard named '" + out.segments.default_scorecard + "'");
    }
  }
  if (!out.find(out.segments.default_scorecard))
    throw ConfigError("scorecards: no scorecard named '" + out.segments.default_scorecard +
                      "' for the default segment (set it in segments.yaml)");
  std::ostringstream fp;
  fp << std::hex << hash;
  out.fingerprint = fp.str();
  return out;
}

}  // namespace

namespace {

core::StatusBands bands_of(const config::ScoringConfig& s) {
  return core::StatusBands{static_cast<double>(s.green), static_cast<double>(s.yellow),
                           static_cast<double>(s.orange), s.min_coverage_percent / 100.0};
}

std::vector<ScoringFile> read_files(const std::string& dir) {
  if (dir.empty()) return embedded_scorecards();
  std::vector<ScoringFile> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".yaml") continue;
    std::ifstream in(e.path());
    std::stringstream text;
    text << in.rdbuf();
    files.push_back({e.path().filename().string(), text.str(), e.path().string()});
  }
  if (ec) throw ConfigError("scoring.scorecards_dir: cannot read '" + dir + "': " + ec.message());
  std::sort(files.begin(), files.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
  if (files.empty()) throw ConfigError("scoring.scorecards_dir: no *.yaml files in '" + dir + "'");
  return files;
}

// The name a scorecard file gives its scorecard ("" when it is not one).
std::string scorecard_name(const ScoringFile& f) {
  try {
    const YAML::Node root = YAML::Load(f.text);
    if (root.IsMap() && root["scorecard"] && root["scorecard"].IsScalar()) return root["scorecard"].as<std::string>();
  } catch (const YAML::Exception&) {
  }
  return {};
}

}  // namespace

// What the service's config adds to the scoring files: which source of a metric wins.
static ScoringConfig with_service_settings(ScoringConfig s, const config::Config& config) {
  s.usage_first = config::split_list(config.usage.precedence).front() == "usage";
  s.churn_by_stage = config.kpis.churn != "mrr";
  s.churn_by_mrr = config.kpis.churn != "stage";
  return s;
}

ScoringConfig load_scoring(const std::string& dir, const core::StatusBands& b) {
  return parse_scoring(read_files(dir), b);
}

ScoringConfig load_scoring_with_candidate(const config::Config& config, const std::string& candidate) {
  std::ifstream in(candidate);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw ConfigError("--scorecard: cannot read '" + candidate + "'");
  return load_scoring_with_candidate(
      config, ScoringFile(std::filesystem::path(candidate).filename().string(), text.str(), candidate));
}

ScoringConfig load_scoring_with_candidate(const config::Config& config, ScoringFile file) {
  const std::string candidate = file.path.empty() ? file.name : file.path;
  const std::string name = scorecard_name(file);
  if (name.empty()) throw ConfigError("--scorecard: " + candidate + " is not a scorecard (no top-level 'scorecard' key)");
  auto files = read_files(config.scoring.scorecards_dir);
  std::string deployed;
  for (auto& f : files) {
    const auto n = scorecard_name(f);
    if (n.empty()) continue;
    deployed += (deployed.empty() ? "" : ", ") + n;
    if (n == name) {
      file.name = f.name;  // in its place
      f = file;
      auto out = parse_scoring(files, bands_of(config.scoring));
      // A scorecard no segment scores with (the other preset, say) is evaluated on every segment.
      auto& s = out.segments;
      const bool used = s.default_scorecard == name ||
                        std::any_of(s.rules.begin(), s.rules.end(), [&](const auto& r) { return r.scorecard == name; });
      if (!used) {
        s.default_scorecard = name;
        for (auto& r : s.rules) r.scorecard = name;
      }
      return with_service_settings(std::move(out), config);
    }
  }
  throw ConfigError("--scorecard: " + candidate + " defines scorecard '" + name +
                    "', which the deployed scoring does not have (it has: " + deployed + ")");
}

ScoringFile scorecard_file(const config::Config& config, const std::string& name) {
  for (auto& f : read_files(config.scoring.scorecards_dir))
    if (scorecard_name(f) == name) return f;
  throw ConfigError("scorecard '" + name + "': not among the deployed scorecards");
}

std::string with_weights(const ScoringFile& file, const std::vector<std::pair<std::string, int>>& weights) {
  // Line by line, so that comments, labels and layout stay as they were: a `name:` key opens a
  // component (block `- name: x` or flow `- {name: x, ...}`), and its first `weight:` takes the new value.
  static const std::regex name_key(R"((^|[\s{,-])name:\s*["']?([A-Za-z0-9_]+))");
  static const std::regex weight_key(R"re(((^|[\s{,])weight:\s*)([0-9]+(\.[0-9]*)?))re");
  std::istringstream in(file.text);
  std::string out, line, current;
  std::set<std::string> done;
  bool in_components = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != ' ' && line[0] != '-' && line[0] != '#')
      in_components = line.rfind("components:", 0) == 0;
    std::smatch m;
    if (in_components && std::regex_search(line, m, name_key)) current = m[2].str();
    if (in_components && !current.empty() && !done.count(current) && std::regex_search(line, m, weight_key)) {
      for (const auto& [n, w] : weights) {
        if (n != current) continue;
        line = m.prefix().str() + m[1].str() + std::to_string(w) + m.suffix().str();
        done.insert(current);
      }
    }
    out += line + "\n";
  }
  for (const auto& [n, w] : weights)
    if (!done.count(n))
      throw ConfigError((file.path.empty() ? file.name : file.path) + ": no weight line found for component '" + n + "'");
  return out;
}

ScoringConfig load_scoring_config(const config::Config& config) {
  return with_service_settings(load_scoring(config.scoring.scorecards_dir, bands_of(config.scoring)), config);
}

}  // namespace cshealthd::scoring
