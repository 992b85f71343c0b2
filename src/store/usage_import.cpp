#include "cshealthd/store/usage_import.hpp"

#include "cshealthd/store/usage_store.hpp"

namespace cshealthd::store {

UsageImport import_usage_csv(Database& db, std::string_view text,
                             const std::map<std::string, std::string>& columns, std::int32_t today,
                             core::MetricSource source, bool dry_run, std::size_t batch_rows) {
  UsageImport out;
  out.dry_run = dry_run;
  std::vector<core::UsageRow> batch;
  const auto keep = [&](pqxx::work& tx) {
    const auto stored = UsageStore::put(tx, batch, source);
    out.figures += stored.figures;
    out.quarantined += stored.quarantined;
    out.companies += stored.companies.size();
    batch.clear();
  };
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
  const auto flush = [&] {
    db.with_retry("usage_import", [&](pqxx::connection& c) {
      pqxx::work tx(c, "usage_import");
      const auto figures = out.figures, quarantined = out.quarantined, companies = out.companies;
      auto rows = batch;  // kept for a retry
      try {
        keep(tx);
        tx.commit();
      } catch (...) {
        batch = std::move(rows);
        out.figures = figures;
        out.quarantined = quarantined;
        out.companies = companies;
        throw;
      }
      return 0;
    });
  };
  out.read = core::read_usage_csv(text, columns, today, [&](core::UsageRow&& row, std::size_t) {
    batch.push_back(std::move(row));
    if (batch.size() >= batch_rows) flush();
  });
  if (!batch.empty()) flush();
  return out;
}

}  // namespace cshealthd::store
