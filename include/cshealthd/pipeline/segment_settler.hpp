#pragma once
// The Segment source's second half, run by the leading replica's scheduler each tick: the company days
// whose activity changed get their daily figures computed again (store::SegmentStore::settle), which
// queues a refresh of the companies whose figures moved; now and then what no figure needs any more is
// forgotten.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include "cshealthd/base/metrics.hpp"
#include "cshealthd/core/segment.hpp"
#include "cshealthd/store/database.hpp"

namespace cshealthd::pipeline {

class SegmentSettler {
 public:
  // `interval`: a pass starts at most this often (0: each call).
  SegmentSettler(store::Database& db, core::SegmentSettings settings, std::size_t batch,
                 std::chrono::milliseconds interval, metrics::Registry& metrics,
                 std::function<std::int32_t()> today);
  // Settles up to 20 batches, prunes at most every 10 minutes; returns the company days settled (0 when
  // the interval since the last pass has not passed yet).
  std::size_t operator()();

 private:
  store::Database& db_;
  core::SegmentSettings settings_;
  std::size_t batch_;
  std::chrono::milliseconds interval_;
  metrics::Registry& metrics_;
  std::function<std::int32_t()> today_;
  std::chrono::steady_clock::time_point pruned_at_{};
  std::optional<std::chrono::steady_clock::time_point> passed_at_;
};

}  // namespace cshealthd::pipeline
