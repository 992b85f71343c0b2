#include "cshealthd/workflow/context.hpp"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace cshealthd::workflow {
namespace {

using config::ConfigError;

std::map<std::string, std::string>* section(Managers& m, const std::string& who, std::string& id) {
  if (who.rfind("team:", 0) == 0) {
    id = who.substr(5);
    return &m.by_team;
  }
  id = who.substr(6);
  return &m.by_owner;
}

}  // namespace

std::string read_config_file(const std::string& key, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(key + ": cannot read '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string shipped_file(const std::string& name) {
  for (const auto& f : embedded_files()) {
    if (f.name == name) return f.text;
  }
  throw std::logic_error("workflow: " + name + " is not compiled in");
}

std::string Managers::manager_of_owner(const std::string& owner, const std::string& teams_json) const {
  if (owner.empty()) return fallback;
  std::vector<std::string> teams;
  const auto tj = nlohmann::json::parse(teams_json, nullptr, false);
  if (tj.is_array()) {
    for (const auto& t : tj) {
      if (!t.is_object() || !t.contains("id")) continue;
      const auto id = t["id"].is_string() ? t["id"].get<std::string>() : t["id"].dump();
      if (t.value("primary", false))
        teams.insert(teams.begin(), id);
      else
        teams.push_back(id);
    }
  }
  return manager_of(owner, teams);
}

std::string Managers::manager_of(const std::string& owner, const std::vector<std::string>& teams) const {
  if (const auto it = by_owner.find(owner); it != by_owner.end()) return it->second;
  for (const auto& t : teams) {
    if (const auto it = by_team.find(t); it != by_team.end()) return it->second;
  }
  return fallback;
}

Context load_context(const config::Config& config, const core::TimeZone& zone) {
  const auto& w = config.writeback;
  Context c;
  c.zone = zone;
  try {
    c.calendar = core::BusinessCalendar::parse(
        w.holidays_file.empty() ? shipped_file("holidays.jp.txt")
                                : read_config_file("writeback.holidays_file", w.holidays_file),
        w.holidays_file.empty() ? "holidays.jp.txt" : w.holidays_file);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("writeback.holidays_file: ") + e.what());
  }
  std::stringstream ss(w.managers);
  for (std::string item; std::getline(ss, item, ',');) {
    const auto eq = item.find('=');
    const std::string who = item.substr(0, eq), manager = item.substr(eq + 1);
    if (who == "default") {
      c.managers.fallback = manager;
      continue;
    }
    std::string id;
    (*section(c.managers, who, id))[id] = manager;
  }
  c.due_hour = w.due_hour;
  c.stage_property = w.stage_property;
  c.slack = !w.slack_webhook_url.empty();
  c.locale = w.locale;
  return c;
}

}  // namespace cshealthd::workflow
