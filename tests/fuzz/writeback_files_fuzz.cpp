// The write-back's own files, which operators write: the alerts file (rules and task templates, YAML) and
// the holidays file. The first byte picks which (and the locale); the text loads or is refused with a
// ConfigError (alerts) or std::invalid_argument (holidays), nothing else. What loads renders: the templates
// and the calendar answer without crashing for any text.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "cshealthd/alerts/settings.hpp"
#include "cshealthd/config/config.hpp"
#include "cshealthd/core/alerts.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 3 == 2) {
    try {
      const auto cal = cshealthd::core::BusinessCalendar::parse(text, "fuzz.txt");
      const auto day = cal.add_business_days(20'000, static_cast<int>(data[0] % 30));
      if (day < 20'000 || !cal.is_business_day(day)) __builtin_trap();
    } catch (const std::invalid_argument&) {
    }
    return 0;
  }
  cshealthd::core::PlanConfig plan;
  try {
    cshealthd::alerts::parse_alerts(text, "fuzz.yaml", data[0] % 3 == 0 ? "en" : "ja", plan);
  } catch (const cshealthd::config::ConfigError&) {
    return 0;
  }
  const std::map<std::string, std::string> vars = {{"company", "Acme"}, {"score", "42"}, {"facts", text}};
  for (const auto& r : plan.rules)
    (void)cshealthd::core::render_template(r.body, vars, cshealthd::core::Markup::kHtml);
  (void)cshealthd::core::render_template(text, vars, cshealthd::core::Markup::kSlack);
  return 0;
}
