#include "cshealthd/outbox/written_properties.hpp"

#include <nlohmann/json.hpp>

#include "cshealthd/store/copy_writer.hpp"
#include "cshealthd/store/sql_params.hpp"

namespace cshealthd::outbox {

void WrittenProperties::replace(pqxx::work& tx, const std::map<std::int64_t, Values>& written) {
  if (written.empty()) return;
  tx.exec("CREATE TEMP TABLE wb_written (company_id bigint, written jsonb) ON COMMIT DROP");
  {
    store::CopyWriter copy(tx, "wb_written", {"company_id", "written"});
    for (const auto& [id, w] : written) copy.number(id).text(nlohmann::json(w).dump()).end_row();
    copy.complete();
  }
  tx.exec(
      "INSERT INTO writeback_companies (company_id, written) SELECT company_id, written FROM wb_written "
      "ON CONFLICT (company_id) DO UPDATE SET written = EXCLUDED.written, updated_at = now()");
}

void WrittenProperties::merge(pqxx::work& tx, std::int64_t company_id, const Values& values) {
  tx.exec_params(
      "INSERT INTO writeback_companies (company_id, written) VALUES ($1, $2::jsonb) "
      "ON CONFLICT (company_id) DO UPDATE SET written = writeback_companies.written || EXCLUDED.written, "
      "updated_at = now()",
      company_id, nlohmann::json(values).dump());
}

void WrittenProperties::forget(pqxx::work& tx, std::int64_t company_id,
                               const std::vector<std::string>& properties) {
  tx.exec_params("UPDATE writeback_companies SET written = written - $2::text[] WHERE company_id = $1",
                 company_id, store::text_array(properties));
}

}  // namespace cshealthd::outbox
