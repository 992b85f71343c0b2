#include "cshealthd/outbox/deliverer.hpp"

#include <algorithm>

#include "cshealthd/store/session_lock.hpp"
#include "delivery.hpp"

namespace cshealthd::outbox {

Deliverer::Deliverer(store::Database& db, const Settings& settings, metrics::Registry& metrics, Clock& clock)
    : db_(db), settings_(settings), metrics_(metrics), clock_(clock) {}

DeliveryReport Deliverer::run(hubspot::HubSpotClient& client, std::stop_token stop) {
  DeliveryReport report;
  // One deliverer at a time across replicas and commands: two would send the same pending rows.
  store::SessionLock lock(db_.conninfo(), "cshealthd.writeback.deliver", std::chrono::milliseconds(60'000));
  if (!lock.held()) throw std::runtime_error("writeback: another process is delivering; retrying later");
  const auto before = client.stats();
  OutboxStore store(db_);
  detail::Delivery d{store, db_, settings_, metrics_, client, report, ensure_portal(db_, client, settings_)};
  report.task_mode = name_of(d.setup.tasks);
  detail::PropertySender properties(d);
  detail::ObjectSender tasks(d, Kind::kTask), records(d, Kind::kRecord), deals(d, Kind::kDeal);
  detail::CloseSender closes(d);
  detail::SlackSender slack(d);
  for (;;) {
    if (stop.stop_requested()) {
      report.interrupted = true;
      break;
    }
    if (properties.send_next() || tasks.send_next() || records.send_next() || deals.send_next() ||
        tasks.reconcile() || records.reconcile() || deals.reconcile() || closes.send_next() ||
        slack.send_next())
      continue;
    // Creates in doubt wait for the search lag before they are looked for.
    const auto wait = store.in_doubt_wait_ms(settings_.search_lag, tasks.searches(), records.searches());
    if (!wait) break;
    clock_.sleep_for(std::chrono::milliseconds(std::clamp<std::int64_t>(*wait, 20, 1000)));
  }
  for (const auto& [state, n] : store.counts())
    metrics_.gauge("cshealthd_outbox_items", "Outbox items by state", {{"state", state}})
        .set(static_cast<double>(n));
  report.calls = client.stats().calls - before.calls;
  report.rate_limited = client.stats().rate_limited - before.rate_limited;
  return report;
}

}  // namespace cshealthd::outbox
