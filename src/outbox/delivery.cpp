#include "delivery.hpp"

#include <spdlog/spdlog.h>

namespace cshealthd::outbox::detail {

using json = nlohmann::json;

void Delivery::count(const char* kind, const char* outcome, std::uint64_t n) {
  if (n)
    metrics
        .counter("cshealthd_writeback_items_total", "Outbox items delivered",
                 {{"kind", kind}, {"outcome", outcome}})
        .inc(n);
}

void Delivery::dead(const std::vector<std::int64_t>& ids, const std::string& error, Kind kind) {
  if (ids.empty()) return;
  store.mark_dead(ids, error);
  report.dead += ids.size();
  metrics.counter("cshealthd_writeback_dead_total", "Outbox items dead-lettered", {{"kind", name_of(kind)}})
      .inc(ids.size());
  spdlog::error("writeback: {} {} item(s) dead-lettered: {}", ids.size(), name_of(kind), error);
}

std::string words(const std::exception& e) {
  std::string w = e.what();
  if (w.size() > 1000) w.resize(1000);
  return w;
}

std::set<std::string> failed_ids(const json& answer) {
  std::set<std::string> out;
  if (!answer.is_object() || !answer.contains("errors") || !answer["errors"].is_array()) return out;
  for (const auto& e : answer["errors"]) {
    if (!e.is_object() || !e.contains("context") || !e["context"].is_object()) continue;
    const auto& ctx = e["context"];
    if (ctx.contains("ids") && ctx["ids"].is_array()) {
      for (const auto& id : ctx["ids"]) out.insert(id.is_string() ? id.get<std::string>() : id.dump());
    }
  }
  return out;
}

bool partial(const json& answer) {
  return answer.is_object() &&
         (answer.value("numErrors", 0) > 0 ||
          (answer.contains("errors") && answer["errors"].is_array() && !answer["errors"].empty()));
}

std::vector<std::int64_t> ids_of(const std::vector<Pending>& items) {
  std::vector<std::int64_t> out;
  for (const auto& i : items) out.push_back(i.id);
  return out;
}

}  // namespace cshealthd::outbox::detail
