#include "cshealthd/plays/plays_file.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "cshealthd/config/yaml_node.hpp"
#include "cshealthd/core/health.hpp"

namespace cshealthd::plays {
namespace {

using config::ConfigError;
using Node = config::YamlNode;

const std::set<std::string> kStatuses = {"green", "yellow", "orange", "red", "unknown"};

// A template text may name only the known placeholders.
void check_placeholders(const Node& n) {
  for (const auto& p : core::placeholders_in(n.str())) {
    if (!core::play_placeholders().count(p)) n.fail("unknown placeholder {" + p + "}");
  }
}

std::set<std::string> string_set(const Node& n, const std::set<std::string>* allowed) {
  std::set<std::string> out;
  for (const auto& item : n.list()) {
    const auto v = item.str();
    if (allowed && !allowed->count(v)) item.fail("unknown value '" + v + "'");
    out.insert(v);
  }
  return out;
}

core::PlayConditions conditions(const Node& n, bool step) {
  std::set<std::string> keys = {"segments",       "bands",       "stages",
                                "exclude_stages", "score_below", "score_at_least"};
  if (step) keys.insert("not_renewed");
  n.expect_map(keys);
  core::PlayConditions c;
  if (n.has("segments")) c.segments = string_set(n.child("segments"), nullptr);
  if (n.has("bands")) c.bands = string_set(n.child("bands"), &kStatuses);
  if (n.has("stages")) c.stages = string_set(n.child("stages"), nullptr);
  if (n.has("exclude_stages")) c.exclude_stages = string_set(n.child("exclude_stages"), nullptr);
  if (n.has("score_below")) c.score_below = n.child("score_below").num();
  if (n.has("score_at_least")) c.score_at_least = n.child("score_at_least").num();
  if (n.has("not_renewed")) c.not_renewed = n.child("not_renewed").boolean();
  return c;
}

core::PlayTrigger trigger(const Node& n) {
  n.expect_map({"date", "quarterly", "signal", "band", "stage", "since", "rearm_days"});
  core::PlayTrigger t;
  int kinds = 0;
  if (n.has("date")) {
    ++kinds;
    t.kind = core::TriggerKind::kDate;
    t.field = n.child("date").str();
    if (!core::play_date_fields().count(t.field))
      n.child("date").fail("unknown date '" + t.field +
                           "' (known: renewal_date, contract_start_date, churn_date, last_nps_date)");
  }
  if (n.has("quarterly")) {
    ++kinds;
    t.kind = core::TriggerKind::kQuarterly;
    if (!n.child("quarterly").boolean()) n.child("quarterly").fail("quarterly: true is the only value");
  }
  if (n.has("signal")) {
    ++kinds;
    t.kind = core::TriggerKind::kSignal;
    t.signal = n.child("signal").str();
    const auto& names = core::signal_names();
    if (std::find(names.begin(), names.end(), t.signal) == names.end())
      n.child("signal").fail("unknown signal '" + t.signal + "'");
  }
  if (n.has("band")) {
    ++kinds;
    t.kind = core::TriggerKind::kBand;
    t.bands = string_set(n.child("band"), &kStatuses);
  }
  if (n.has("stage")) {
    ++kinds;
    t.kind = core::TriggerKind::kStage;
    t.stage = n.child("stage").str();
  }
  if (kinds != 1) n.fail("expected exactly one trigger: date, quarterly, signal, band or stage");
  if (n.has("since")) {
    if (t.kind != core::TriggerKind::kStage) n.child("since").fail("since goes with a stage trigger");
    t.since = n.child("since").str();
    if (!core::play_date_fields().count(t.since)) n.child("since").fail("unknown date '" + t.since + "'");
  }
  if (n.has("rearm_days")) t.rearm_days = n.child("rearm_days").integer(0, 3650);
  return t;
}

std::vector<core::OwnerChoice> owners(const Node& n) {
  std::vector<Node> items;
  if (n.yaml().IsSequence())
    items = n.list();
  else
    items.push_back(n);
  std::vector<core::OwnerChoice> out;
  for (const auto& item : items) {
    const auto v = item.str();
    core::OwnerChoice o;
    if (v == "csm") {
      o.kind = core::OwnerChoice::Kind::kCsm;
    } else if (v == "manager") {
      o.kind = core::OwnerChoice::Kind::kManager;
    } else if (v == "sales_owner") {
      o.kind = core::OwnerChoice::Kind::kSalesOwner;
    } else if ((v.rfind("team:", 0) == 0 || v.rfind("owner:", 0) == 0) && v.find(':') + 1 < v.size() &&
               std::all_of(v.begin() + static_cast<std::ptrdiff_t>(v.find(':') + 1), v.end(),
                           [](char c) { return c >= '0' && c <= '9'; })) {
      o.kind = v[0] == 't' ? core::OwnerChoice::Kind::kTeam : core::OwnerChoice::Kind::kOwner;
      o.id = v.substr(v.find(':') + 1);
    } else {
      item.fail("expected csm, manager, sales_owner, team:ID or owner:ID, got '" + v + "'");
    }
    out.push_back(o);
  }
  if (out.empty()) n.fail("a task needs an owner");
  return out;
}

void template_ref(const Node& n, const core::PlaysConfig& cfg) {
  if (!cfg.templates.count(n.str())) n.fail("no template '" + n.str() + "' in this locale's templates");
}

core::PlayStep step(const std::string& name, const Node& n, const core::PlaysConfig& cfg) {
  n.expect_map({"at", "until", "when", "enabled", "task", "properties", "deal", "slack"});
  core::PlayStep s;
  s.name = name;
  s.line = n.line();
  s.at = n.has("at") ? n.child("at").integer(-3650, 3650) : 0;
  if (n.has("until")) {
    s.until = n.child("until").integer(-3650, 3650);
    if (s.until < s.at) n.child("until").fail("until must not be before at");
  } else {
    s.until = std::numeric_limits<int>::min();  // set from the other steps
  }
  if (n.has("when")) s.when = conditions(n.child("when"), true);
  int actions = 0;
  if (n.has("task")) {
    ++actions;
    s.action = core::PlayAction::kTask;
    const Node t = n.child("task");
    t.expect_map({"owner", "priority", "due_business_days", "template", "template_by", "templates"});
    if (!t.has("owner")) t.fail("a task needs an owner");
    s.owner = owners(t.child("owner"));
    if (t.has("priority"))
      s.priority =
          t.child("priority").one_of<std::string>({{"HIGH", "HIGH"}, {"MEDIUM", "MEDIUM"}, {"LOW", "LOW"}});
    if (t.has("due_business_days")) s.due_business_days = t.child("due_business_days").integer(0, 120);
    if (t.has("template_by")) {
      s.template_by = t.child("template_by").one_of<std::string>({{"churn_reason", "churn_reason"}});
      for (const auto& [category, ref] : t.at("templates").entries()) {
        template_ref(ref, cfg);
        s.templates[category] = ref.str();
      }
      if (!s.templates.count("other")) t.child("templates").fail("templates needs an 'other' entry");
    } else {
      template_ref(t.at("template"), cfg);
      s.template_name = t.child("template").str();
    }
  }
  if (n.has("properties")) {
    ++actions;
    s.action = core::PlayAction::kProperties;
    for (const auto& [prop, value] : n.child("properties").entries()) {
      check_placeholders(value);
      s.properties[prop] = value.str();
    }
    if (s.properties.empty()) n.child("properties").fail("no property to set");
  }
  if (n.has("deal")) {
    ++actions;
    s.action = core::PlayAction::kDeal;
    const Node d = n.child("deal");
    d.expect_map({"pipeline", "stage", "name", "amount"});
    s.deal_pipeline = d.at("pipeline").str();
    s.deal_stage = d.at("stage").str();
    s.deal_name = d.opt_str("name", "{company} - {play}");
    s.deal_amount = d.opt_str("amount", "");
    if (d.has("name")) check_placeholders(d.child("name"));
    if (d.has("amount")) check_placeholders(d.child("amount"));
  }
  if (n.has("slack")) {
    ++actions;
    s.action = core::PlayAction::kSlack;
    template_ref(n.child("slack"), cfg);
    s.template_name = n.child("slack").str();
  }
  if (actions != 1) n.fail("expected exactly one action: task, properties, deal or slack");
  return s;
}

core::PlaysConfig parse_root(const Node& root, const std::string& locale) {
  root.expect_map({"renewal_deal_days", "churn_reasons", "plays", "templates"});
  core::PlaysConfig cfg;
  if (root.has("renewal_deal_days")) cfg.renewal_deal_days = root.child("renewal_deal_days").integer(0, 3650);
  const Node all = root.at("templates");
  all.expect_map({"en", "ja"});
  for (const auto& [name, t] : all.at(locale).entries()) {
    t.expect_map({"subject", "body"});
    check_placeholders(t.at("subject"));
    check_placeholders(t.at("body"));
    if (t.child("subject").str().empty()) t.child("subject").fail("the subject is empty");
    cfg.templates[name] = {t.child("subject").str(), t.child("body").str()};
  }
  if (root.has("churn_reasons")) {
    for (const auto& [value, category] : root.child("churn_reasons").entries())
      cfg.churn_reasons[value] = category.str();
  }
  for (const auto& [name, p] : root.at("plays").entries()) {
    p.expect_map({"enabled", "trigger", "conditions", "ends_when_renewed", "catch_up", "steps"});
    core::Play play;
    play.name = name;
    if (p.has("enabled")) play.enabled = p.child("enabled").boolean();
    if (p.has("catch_up")) play.catch_up = p.child("catch_up").boolean();
    play.trigger = trigger(p.at("trigger"));
    if (p.has("conditions")) play.conditions = conditions(p.child("conditions"), false);
    if (p.has("ends_when_renewed")) {
      play.ends_when_renewed = p.child("ends_when_renewed").boolean();
      if (play.ends_when_renewed && play.trigger.kind != core::TriggerKind::kDate)
        p.child("ends_when_renewed").fail("ends_when_renewed goes with a date trigger");
    }
    for (const auto& [sname, sn] : p.at("steps").entries()) {
      auto parsed = step(sname, sn, cfg);  // a disabled step is checked all the same
      // Only a date's cycle is known before it begins: a quarter's or an episode's starts on its day.
      if (parsed.at < 0 && play.trigger.kind != core::TriggerKind::kDate)
        sn.child("at").fail("a " + std::string(core::name_of(play.trigger.kind)) +
                            " play's steps start at 0 or later");
      if (sn.has("enabled") && !sn.child("enabled").boolean()) continue;
      play.steps.push_back(std::move(parsed));
    }
    std::stable_sort(play.steps.begin(), play.steps.end(),
                     [](const auto& a, const auto& b) { return a.at < b.at; });
    // An unset `until`: the day before the next unconditional step's start, so that a company first seen
    // late gets the step of its window, not every earlier one; else the date (steps before it) or 30 days.
    for (auto& s : play.steps) {
      if (s.until != std::numeric_limits<int>::min()) continue;
      std::optional<int> next;
      if (s.when.empty()) {
        for (const auto& o : play.steps) {
          if (o.when.empty() && o.at > s.at && (!next || o.at < *next)) next = o.at;
        }
      }
      s.until = next ? *next - 1 : (s.at < 0 ? 0 : s.at + 30);
    }
    cfg.plays.push_back(std::move(play));
  }
  return cfg;
}

}  // namespace

core::PlaysConfig parse_plays(const std::string& text, const std::string& where, const std::string& locale) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(where + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  try {
    return parse_root(Node(root, where, ""), locale);
  } catch (const YAML::Exception& e) {
    throw ConfigError(where + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

const std::string& shipped_plays() {
  static const std::string text = [] {
    for (const auto& f : embedded_plays_files()) {
      if (f.name == "plays.yaml") return f.text;
    }
    throw std::logic_error("plays.yaml is not compiled in");
  }();
  return text;
}

}  // namespace cshealthd::plays
