#pragma once
// The shape the workflows' own files share (alerts.yaml, onboarding.yaml): a main section and the task
// and message templates per locale.
#include <functional>
#include <string>

namespace YAML {
class Node;
}

namespace cshealthd::workflow {

enum class Section { kMap, kList };

// Parses `text`, checks it has `section` (a mapping or a list) and `templates` with a `locale` mapping,
// then runs `read(root, templates)`. Any YAML error, there or in `read`, becomes a ConfigError naming
// `where`.
void read_template_file(const std::string& text, const std::string& where, const std::string& locale,
                        const std::string& section, Section shape,
                        const std::function<void(const YAML::Node& root, const YAML::Node& templates)>& read);

}  // namespace cshealthd::workflow
