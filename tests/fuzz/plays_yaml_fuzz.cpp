// The plays file, which operators write (triggers, conditions, windows, owners, templates). The first byte
// picks the locale and the day; the text loads or is refused with a ConfigError, nothing else. What loads
// decides a night for a company without crashing, each step fires inside its window, and every template
// renders.
#include <cstdint>
#include <string>

#include "cshealthd/config/config.hpp"
#include "cshealthd/core/plays.hpp"
#include "cshealthd/plays/plays_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  cshealthd::core::PlaysConfig config;
  try {
    config = cshealthd::plays::parse_plays(text, "fuzz.yaml", data[0] % 2 == 0 ? "en" : "ja");
  } catch (const cshealthd::config::ConfigError&) {
    return 0;
  }
  static const cshealthd::core::BusinessCalendar calendar;
  cshealthd::core::PlayContext ctx;
  ctx.day = 20'788 + data[0];
  ctx.calendar = &calendar;
  cshealthd::core::PlayCompany c;
  c.id = 7;
  c.stage = "active";
  c.status = "green";
  c.segment = "high_touch";
  c.score = 85;
  c.signals = {"seats_full", "promoter", "renewal_upsell"};
  c.dates = {{"renewal_date", 20'788 + 60}, {"churn_date", 20'788 - 100}, {"last_nps_date", 20'788 - 3}};
  const auto decision = cshealthd::core::decide_plays(config, ctx, c, {}, {});
  for (const auto& f : decision.firings) {
    if (!f.spec || ctx.day > f.date + f.spec->until) __builtin_trap();
    if (!f.template_name.empty() && !config.templates.count(f.template_name)) __builtin_trap();
  }
  const std::map<std::string, std::string> vars = {{"company", "Acme"}, {"summary", text}};
  for (const auto& [name, t] : config.templates) {
    (void)cshealthd::core::render_template(t.subject, vars, cshealthd::core::Markup::kHtml);
    (void)cshealthd::core::render_template(t.body, vars, cshealthd::core::Markup::kSlack);
  }
  return 0;
}
