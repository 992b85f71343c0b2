#include "cshealthd/store/usage_import.hpp"

#include <thread>

#include "cshealthd/base/handoff.hpp"
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
  // The file is read on this thread while the batch before is written on another (the parser and the
  // database each keep a core busy). Counted once committed: a retried batch is counted once.
  Handoff<std::vector<core::UsageRow>> batches(1);
  std::thread writer([&] {
    try {
      while (auto rows = batches.pop()) {
        const auto stored = db.with_retry("usage_import", [&](pqxx::connection& c) {
          pqxx::work tx(c, "usage_import");
          auto r = UsageStore::put(tx, *rows, source);
          tx.commit();
          return r;
        });
        out.figures += stored.figures;
        out.quarantined += stored.quarantined;
        out.companies += stored.companies.size();
      }
    } catch (...) {
      batches.close(std::current_exception());
    }
  });
  try {
    out.read = core::read_usage_csv(text, columns, today, [&](core::UsageRow&& row, std::size_t) {
      batch.push_back(std::move(row));
      if (batch.size() >= batch_rows) {
        batches.push(std::move(batch));
        batch = {};
      }
    });
    if (!batch.empty()) batches.push(std::move(batch));
    batches.close();
  } catch (...) {
    batches.close(std::current_exception());
  }
  writer.join();
  if (const auto error = batches.error()) std::rethrow_exception(error);
  return out;
}

}  // namespace cshealthd::store
