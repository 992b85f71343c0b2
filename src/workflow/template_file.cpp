#include "cshealthd/workflow/template_file.hpp"

#include <yaml-cpp/yaml.h>

#include "cshealthd/config/config.hpp"

namespace cshealthd::workflow {

void read_template_file(
    const std::string& text, const std::string& where, const std::string& locale, const std::string& section,
    Section shape, const std::function<void(const YAML::Node& root, const YAML::Node& templates)>& read) {
  using config::ConfigError;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(where + ": " + e.what());
  }
  try {
    const bool list = shape == Section::kList;
    if (!root.IsMap() || !root[section] || (list ? !root[section].IsSequence() : !root[section].IsMap()) ||
        !root["templates"])
      throw ConfigError(where + (list ? ": expected a `" + section + "` list and a `templates` mapping"
                                      : ": expected `" + section + "` and `templates` mappings"));
    const YAML::Node templates = root["templates"][locale];
    if (!templates || !templates.IsMap())
      throw ConfigError(where + ": templates: no `" + locale + "` section (writeback.locale)");
    read(root, templates);
  } catch (const YAML::Exception& e) {
    throw ConfigError(where + ": " + e.what());
  }
}

}  // namespace cshealthd::workflow
