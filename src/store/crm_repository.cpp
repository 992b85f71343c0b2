#include "cshealthd/store/crm_repository.hpp"

namespace cshealthd::store {
namespace {

template <typename T>
std::optional<T> opt(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<T>();
}

}  // namespace

void CrmRepository::upsert(pqxx::work& tx, const std::vector<CrmRow>& rows) {
  if (rows.empty()) return;
  tx.exec(
      "CREATE TEMP TABLE IF NOT EXISTS crm_stage (object_type text, id bigint, properties text, created_at "
      "text, "
      "updated_at text, archived boolean, archived_at text) ON COMMIT DELETE ROWS");
  {
    pqxx::stream_to stream(tx, "crm_stage");
    for (const auto& r : rows) {
      stream << std::make_tuple(r.object_type, r.id, r.properties_json, r.created_at, r.updated_at,
                                r.archived, r.archived_at);
    }
    stream.complete();
  }
  // crm_upsert: a record already stored with the same updatedAt and state is left alone.
  tx.exec(
      "INSERT INTO crm_objects AS o (object_type, id, properties, created_at, updated_at, archived, "
      "archived_at, "
      "synced_at) "
      "SELECT DISTINCT ON (object_type, id) object_type, id, properties::jsonb, NULLIF(created_at, "
      "'')::timestamptz, "
      "NULLIF(updated_at, '')::timestamptz, archived, NULLIF(archived_at, '')::timestamptz, now() FROM "
      "crm_stage "
      "ORDER BY object_type, id, NULLIF(updated_at, '')::timestamptz DESC NULLS LAST "
      "ON CONFLICT (object_type, id) DO UPDATE SET properties = EXCLUDED.properties, created_at = "
      "EXCLUDED.created_at, "
      "updated_at = EXCLUDED.updated_at, archived = EXCLUDED.archived, archived_at = EXCLUDED.archived_at, "
      "synced_at = now() "
      "WHERE o.properties IS DISTINCT FROM EXCLUDED.properties OR o.archived IS DISTINCT FROM "
      "EXCLUDED.archived "
      "OR o.updated_at IS DISTINCT FROM EXCLUDED.updated_at");
  tx.exec("TRUNCATE crm_stage");
}

void CrmRepository::replace_associations(pqxx::work& tx, const std::string& from_type,
                                         const std::vector<std::int64_t>& from_ids,
                                         const std::string& to_type,
                                         const std::vector<std::pair<std::int64_t, std::int64_t>>& pairs) {
  if (from_ids.empty()) return;
  std::string ids = "{";
  for (std::size_t i = 0; i < from_ids.size(); ++i) ids += (i ? "," : "") + std::to_string(from_ids[i]);
  ids += "}";
  tx.exec_params(
      "DELETE FROM crm_associations WHERE from_type = $1 AND to_type = $2 AND from_id = ANY($3::bigint[])",
      from_type, to_type, ids);
  if (pairs.empty()) return;
  std::string from_list = "{", to_list = "{";
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    from_list += (i ? "," : "") + std::to_string(pairs[i].first);
    to_list += (i ? "," : "") + std::to_string(pairs[i].second);
  }
  from_list += "}";
  to_list += "}";
  tx.exec_params(
      "INSERT INTO crm_associations (from_type, from_id, to_type, to_id) "
      "SELECT $1, f, $2, t FROM unnest($3::bigint[], $4::bigint[]) AS u(f, t) ON CONFLICT DO NOTHING",
      from_type, to_type, from_list, to_list);
}

SyncState CrmRepository::load_state(pqxx::transaction_base& tx, const std::string& object_type) {
  SyncState s;
  s.object_type = object_type;
  const auto r = tx.exec_params(
      "SELECT to_char(watermark AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), full_cursor, "
      "to_char(full_started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), incr_last_id, "
      "to_char(incr_started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
      "FROM sync_state WHERE object_type = $1",
      object_type);
  if (r.empty()) return s;
  s.watermark = opt<std::string>(r[0][0]);
  s.full_cursor = opt<std::string>(r[0][1]);
  s.full_started_at = opt<std::string>(r[0][2]);
  s.incr_last_id = opt<std::int64_t>(r[0][3]);
  s.incr_started_at = opt<std::string>(r[0][4]);
  return s;
}

void CrmRepository::save_state(pqxx::work& tx, const SyncState& s) {
  tx.exec_params(
      "INSERT INTO sync_state (object_type, watermark, full_cursor, full_started_at, incr_last_id, "
      "incr_started_at, "
      "updated_at) VALUES ($1, $2::timestamptz, $3, $4::timestamptz, $5, $6::timestamptz, now()) "
      "ON CONFLICT (object_type) DO UPDATE SET watermark = EXCLUDED.watermark, full_cursor = "
      "EXCLUDED.full_cursor, "
      "full_started_at = EXCLUDED.full_started_at, incr_last_id = EXCLUDED.incr_last_id, "
      "incr_started_at = EXCLUDED.incr_started_at, updated_at = now()",
      s.object_type, s.watermark, s.full_cursor, s.full_started_at, s.incr_last_id, s.incr_started_at);
}

}  // namespace cshealthd::store
