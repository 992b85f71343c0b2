#include "cshealthd/pipeline/segment_settler.hpp"

#include <spdlog/spdlog.h>

#include "cshealthd/store/segment_store.hpp"

namespace cshealthd::pipeline {

SegmentSettler::SegmentSettler(store::Database& db, core::SegmentSettings settings, std::size_t batch,
                               std::chrono::milliseconds interval, metrics::Registry& metrics,
                               std::function<std::int32_t()> today)
    : db_(db),
      settings_(std::move(settings)),
      batch_(batch),
      interval_(interval),
      metrics_(metrics),
      today_(std::move(today)) {}

std::size_t SegmentSettler::operator()() {
  // Under a steady stream every company is marked each second: settling once per interval computes each
  // company day once with all its marks, instead of once per tick (which kept a core busy at 150 batches
  // a second and doubled the batches' p99).
  const auto started = std::chrono::steady_clock::now();
  if (passed_at_ && started - *passed_at_ < interval_) return 0;
  passed_at_ = started;
  const std::int32_t today = today_();
  const bool logins = !settings_.login_events.empty(), features = !settings_.feature_events.empty();
  std::size_t settled = 0;
  for (int round = 0; round < 20; ++round) {
    const auto s = db_.with_retry("segment_settle", [&](pqxx::connection& c) {
      pqxx::work tx(c, "segment_settle");
      auto r = store::SegmentStore::settle(tx, settings_.group_key, logins, features, today, batch_);
      tx.commit();
      return r;
    });
    settled += s.rows;
    metrics_
        .counter("cshealthd_segment_settled_total", "Company days whose figures the Segment source computed")
        .inc(static_cast<double>(s.rows));
    metrics_
        .counter("cshealthd_usage_figures_total", "Usage figures kept, by where they went", {{"to", "usage"}})
        .inc(static_cast<double>(s.stored.figures));
    metrics_
        .counter("cshealthd_usage_figures_total", "Usage figures kept, by where they went",
                 {{"to", "quarantine"}})
        .inc(static_cast<double>(s.stored.quarantined));
    if (s.rows > 0)
      spdlog::debug("segment: {} company days settled, {} figures changed for {} companies", s.rows,
                    s.stored.figures, s.stored.companies.size());
    if (s.days < batch_) break;
  }
  const auto now = std::chrono::steady_clock::now();
  if (now - pruned_at_ >= std::chrono::minutes(10)) {
    pruned_at_ = now;
    const auto gone = db_.with_retry("segment_prune", [&](pqxx::connection& c) {
      pqxx::work tx(c, "segment_prune");
      const auto n = store::SegmentStore::prune(tx, today - settings_.max_age_days, 10'000);
      tx.commit();
      return n;
    });
    metrics_.counter("cshealthd_segment_pruned_total", "Rows the Segment source no longer needed, forgotten")
        .inc(static_cast<double>(gone));
  }
  const auto backlog = db_.with_retry("segment_backlog", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "segment_backlog");
    return store::SegmentStore::backlog(tx);
  });
  metrics_.gauge("cshealthd_segment_backlog", "Company days waiting for their Segment figures")
      .set(static_cast<double>(backlog));
  return settled;
}

}  // namespace cshealthd::pipeline
