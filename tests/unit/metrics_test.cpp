#include "cshealthd/base/metrics.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cshealthd::metrics {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, CounterSeriesByLabels) {
  Registry r;
  r.counter("x_total", "things", {{"route", "/a"}}).inc();
  r.counter("x_total", "things", {{"route", "/a"}}).inc(2);
  r.counter("x_total", "things", {{"route", "/b"}}).inc();
  const auto text = r.render();
  EXPECT_THAT(text, HasSubstr("# HELP x_total things\n# TYPE x_total counter\n"));
  EXPECT_THAT(text, HasSubstr("x_total{route=\"/a\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("x_total{route=\"/b\"} 1\n"));
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAndBoundsInclusive) {
  Registry r;
  auto& h = r.histogram("lat_seconds", "latency", {{"route", "/r"}}, {0.1, 1.0});
  h.observe(0.1);  // le=0.1 is inclusive
  h.observe(0.5);
  h.observe(5.0);
  const auto text = r.render();
  EXPECT_THAT(text, HasSubstr("lat_seconds_bucket{route=\"/r\",le=\"0.1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_bucket{route=\"/r\",le=\"1\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_bucket{route=\"/r\",le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_count{route=\"/r\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_sum{route=\"/r\"} 5.6\n"));
}

TEST(MetricsTest, LabelValuesEscaped) {
  Registry r;
  r.gauge("g", "gauge", {{"v", "a\"b\\c\nd"}}).set(1.5);
  EXPECT_THAT(r.render(), HasSubstr("g{v=\"a\\\"b\\\\c\\nd\"} 1.5\n"));
}

TEST(MetricsTest, SameNameTwoTypesIsAnError) {
  Registry r;
  r.counter("dup", "x");
  EXPECT_THROW(r.gauge("dup", "x"), std::logic_error);
}

}  // namespace
}  // namespace cshealthd::metrics
