// The canonical company inputs are core's tables (Metric, TextField, DateField, by name). Every other
// place that spells them out is checked against those tables here: the config's mapping, the sync's
// company spec (each with the right kind), and its daily snapshot metrics. The typed view and the
// scoring reader are checked in CanonicalInputsPgTest (scoring_pgtest) and derived from core's names.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "cshealthd/config/config.hpp"
#include "cshealthd/core/health.hpp"
#include "cshealthd/sync/syncer.hpp"

namespace cshealthd {
namespace {

// Name -> the kind the sync must type it as. owner_id, churn_reason and churn_date are inputs of workflows
// (assignment, the win-back play), not of scores.
std::map<std::string, sync::ValueKind> canonical() {
  std::map<std::string, sync::ValueKind> out = {{"owner_id", sync::ValueKind::kText},
                                                {"churn_reason", sync::ValueKind::kText},
                                                {"churn_date", sync::ValueKind::kTimestamp}};
  for (std::size_t i = 0; i < core::kTextFieldCount; ++i)
    out[core::name_of(core::TextField(i))] = sync::ValueKind::kText;
  for (std::size_t i = 0; i < core::kDateFieldCount; ++i)
    out[core::name_of(core::DateField(i))] = sync::ValueKind::kTimestamp;
  for (std::size_t i = 0; i < core::kMetricCount; ++i)
    out[core::name_of(core::Metric(i))] = sync::ValueKind::kNumber;
  return out;
}

TEST(CanonicalInputs, TheConfigMapsEveryCompanyInputAndNothingElse) {
  std::set<std::string> mapped, expected;
  for (const auto& [name, _] : config::MappingConfig{}.company) mapped.insert(name);
  for (const auto& [name, _] : canonical()) expected.insert(name);
  expected.insert("external_id");  // how usage sent to cshealthd may name a company; not mapped by default
  EXPECT_EQ(mapped, expected);
}

TEST(CanonicalInputs, TheExternalIdIsReadAsTextOnlyOnceMapped) {
  const auto read = [](const config::MappingConfig& m) -> std::optional<sync::PropertySpec> {
    const auto specs = sync::specs(m);
    for (const auto& p : specs.front().properties)
      if (p.field == "external_id") return p;
    return std::nullopt;
  };
  config::MappingConfig mapping;
  EXPECT_EQ(mapping.company.at("external_id"), "");
  EXPECT_FALSE(read(mapping));
  mapping.company["external_id"] = "product_account_id";
  const auto p = read(mapping);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "product_account_id");
  EXPECT_EQ(p->kind, sync::ValueKind::kText);
}

TEST(CanonicalInputs, TheSyncReadsEachWithItsKindAndSnapshotsEveryInput) {
  const auto specs = sync::default_specs();
  const auto companies =
      std::find_if(specs.begin(), specs.end(), [](const auto& s) { return s.type == "companies"; });
  ASSERT_NE(companies, specs.end());
  std::map<std::string, sync::ValueKind> read;
  for (const auto& p : companies->properties) {
    if (p.field != "name" && p.field != "domain") read[p.field] = p.kind;
  }
  EXPECT_EQ(read, canonical());
  // Every input the score reads from the company is snapshotted by day: a past day is scored on them.
  std::set<std::string> inputs,
      snapshots(companies->snapshot_fields.begin(), companies->snapshot_fields.end());
  for (std::size_t i = 0; i < core::kMetricCount; ++i) inputs.insert(core::name_of(core::Metric(i)));
  for (std::size_t i = 0; i < core::kDateFieldCount; ++i) inputs.insert(core::name_of(core::DateField(i)));
  for (std::size_t i = 0; i < core::kTextFieldCount; ++i) inputs.insert(core::name_of(core::TextField(i)));
  EXPECT_EQ(snapshots, inputs);
  // Each mapped input reads the property the config names for it.
  const config::MappingConfig mapping;
  for (const auto& p : companies->properties) {
    if (const auto it = mapping.company.find(p.field); it != mapping.company.end()) {
      EXPECT_EQ(p.name, it->second);
    }
  }
}

}  // namespace
}  // namespace cshealthd
