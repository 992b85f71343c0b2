#include <spdlog/spdlog.h>

#include "delivery.hpp"

namespace cshealthd::outbox::detail {

using json = nlohmann::json;
using hubspot::ApiError;

bool PropertySender::send_next() {
  auto items = d_.store.pending_properties(kBatch, after_);
  if (items.empty() && after_ > 0) {
    after_ = 0;
    items = d_.store.pending_properties(kBatch, after_);
  }
  if (items.empty()) return false;
  // Several pending updates of one company (runs that planned while HubSpot was down) go as one: the
  // later value of a property wins, as it would have had they gone in order.
  std::map<std::int64_t, Update> merged;
  for (const auto& i : items) {
    auto& m = merged[i.company_id];
    m.company = i.company_id;
    for (const auto& [k, v] : std::get<PropertyUpdate>(i.intent).properties) m.properties[k] = v;
    m.items.push_back(i.id);
  }
  std::vector<Update> updates;
  for (auto& [company, u] : merged) updates.push_back(std::move(u));
  after_ = merged.rbegin()->first;
  send(updates);
  return true;
}

void PropertySender::send(const std::vector<Update>& updates) {
  json inputs = json::array();
  std::vector<std::int64_t> all;
  for (const auto& u : updates) {
    inputs.push_back({{"id", std::to_string(u.company)}, {"properties", u.properties}});
    all.insert(all.end(), u.items.begin(), u.items.end());
  }
  json answer;
  try {
    answer = d_.client.call("companies.batch_update", "POST",
                            d_.client.paths().objects("companies") + "/batch/update", {{"inputs", inputs}});
  } catch (const ApiError& e) {
    if (e.kind() != ApiError::Kind::kRejected && e.kind() != ApiError::Kind::kNotFound) throw;
    if (std::string(e.what()).find("PROPERTY_DOESNT_EXIST") != std::string::npos) {
      // Someone deleted an output property: every input would fail alike. Set the portal up again on the
      // next attempt instead of dead-lettering every company.
      forget_portal(d_.db);
      throw;
    }
    split(updates, words(e));
    return;
  }
  if (!partial(answer)) {
    d_.store.mark_done(all);
    d_.report.companies += updates.size();
    d_.count("properties", "written", updates.size());
    return;
  }
  const auto failed = failed_ids(answer);
  if (failed.empty()) {
    split(updates, answer.dump().substr(0, 1000));
    return;
  }
  std::vector<std::int64_t> ok, bad;
  std::uint64_t written = 0;
  for (const auto& u : updates) {
    const bool refused = failed.count(std::to_string(u.company)) > 0;
    auto& into = refused ? bad : ok;
    into.insert(into.end(), u.items.begin(), u.items.end());
    written += refused ? 0 : 1;
  }
  d_.store.mark_done(ok);
  std::string why = "HubSpot: ";
  for (const auto& e : answer["errors"]) {
    if (e.is_object()) why += e.value("message", "") + " ";
  }
  d_.dead(bad, why, Kind::kProperties);
  d_.report.companies += written;
  d_.count("properties", "written", written);
}

// A rejected batch is not atomic either way: halve it until the bad input stands alone.
void PropertySender::split(const std::vector<Update>& updates, const std::string& why) {
  if (updates.size() == 1) {
    d_.dead(updates[0].items, why, Kind::kProperties);
    return;
  }
  const auto mid = updates.begin() + static_cast<std::ptrdiff_t>(updates.size() / 2);
  send(std::vector<Update>(updates.begin(), mid));
  send(std::vector<Update>(mid, updates.end()));
}

}  // namespace cshealthd::outbox::detail
