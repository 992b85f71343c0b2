#include "cshealthd/store/usage_import.hpp"

#include "cshealthd/store/usage_store.hpp"

namespace cshealthd::store {

UsageImport import_usage_csv(Database& db, std::string_view text,
                             const std::map<std::string, std::string>& columns, std::int32_t today,
                             core::MetricSource source, bool dry_run, std::size_t batch_rows) {
  UsageImport out;
  out.dry_run = dry_run;
  std::vector<core::UsageRow> batch;
  const auto add = [&](const UsageStore::Stored& stored) {
    out.figures += stored.figures;
    out.quarantined += stored.quarantined;
    out.companies += stored.companies.size();
    batch.clear();
  };
  const auto keep = [&](pqxx::work& tx) { add(UsageStore::put(tx, batch, source)); };
  if (dry_run) {
    // Everything in one transaction that is rolled back: the figures it would give, nothing kept.
    db.with_retry("usage_import_dry_run", [&](pqxx::connection& c) {
      out = UsageImport{};
      out.dry_run = true;
      batch.clear();
      pqxx::work tx(c, "usage_import_dry_run");
      out.read = core::read_usage_csv(text, columns, today, [&](core::UsageRow&& row, std::size_t) {
        batch.push_back(std::move(row));
        if (batch.size() >= batch_rows) keep(tx);
      });
      if (!batch.empty()) keep(tx);
      tx.abort();
      return 0;
    });
    return out;
  }
  // Counted once committed: a retried batch is counted once.
  const auto flush = [&] {
    add(db.with_retry("usage_import", [&](pqxx::connection& c) {
      pqxx::work tx(c, "usage_import");
      auto stored = UsageStore::put(tx, batch, source);
      tx.commit();
      return stored;
    }));
  };
  out.read = core::read_usage_csv(text, columns, today, [&](core::UsageRow&& row, std::size_t) {
    batch.push_back(std::move(row));
    if (batch.size() >= batch_rows) flush();
  });
  if (!batch.empty()) flush();
  return out;
}

}  // namespace cshealthd::store
