#include "cshealthd/store/crm_repository.hpp"

#include "cshealthd/store/errors.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>
#include <tuple>

#include "cshealthd/base/log.hpp"
#include "cshealthd/store/copy_writer.hpp"
#include "cshealthd/store/sql_params.hpp"

namespace cshealthd::store {
namespace {

// What array_to_string(ids, ',') gives back: "1,2,3".
std::vector<std::int64_t> parse_ids(std::string_view text) {
  std::vector<std::int64_t> ids;
  for (std::size_t at = 0; at < text.size();) {
    std::int64_t id = 0;
    const auto [end, ec] = std::from_chars(text.data() + at, text.data() + text.size(), id);
    if (ec != std::errc()) break;
    ids.push_back(id);
    at = static_cast<std::size_t>(end - text.data()) + 1;  // past the comma
  }
  return ids;
}

// A company's fields on one day, as the JSON objects stored in company_snapshots.
struct SnapshotDay {
  std::int64_t company_id;
  std::string day;
  std::string synced, backfilled;
};

// Groups rows by (company, day) in key order; within a group the last value of a metric wins.
std::vector<SnapshotDay> snapshot_days(const std::vector<SnapshotRow>& rows) {
  std::vector<const SnapshotRow*> order;
  order.reserve(rows.size());
  for (const auto& r : rows) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(), [](const SnapshotRow* a, const SnapshotRow* b) {
    return std::tie(a->company_id, a->day) < std::tie(b->company_id, b->day);
  });
  // (field, value) in the order met; a later value of a field replaces the earlier one.
  using Values = std::vector<std::pair<const std::string*, const SnapshotRow::Value*>>;
  Values synced, backfilled;
  auto set = [](Values& values, const std::string& field, const SnapshotRow::Value& value) {
    for (auto& [f, v] : values) {
      if (*f == field) {
        v = &value;
        return;
      }
    }
    values.emplace_back(&field, &value);
  };
  auto object = [](const Values& values) {
    std::string out = "{";
    for (const auto& [field, value] : values) {
      if (out.size() > 1) out += ',';
      out += '"';
      log::append_json_escaped(out, *field);
      out += "\":";
      if (const auto* number = std::get_if<double>(value)) {
        char text[32];
        const auto [end, ec] = std::to_chars(text, text + sizeof text, *number);
        out.append(text, ec == std::errc() ? end : text);
      } else if (const auto* text = std::get_if<std::string>(value)) {
        out += '"';
        log::append_json_escaped(out, *text);
        out += '"';
      } else {
        out += "null";
      }
    }
    return out + "}";
  };
  std::vector<SnapshotDay> days;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const auto& r = *order[i];
    const auto* number = std::get_if<double>(&r.value);
    if (!number || std::isfinite(*number)) set(r.source == "sync" ? synced : backfilled, r.field, r.value);
    if (i + 1 < order.size() && order[i + 1]->company_id == r.company_id && order[i + 1]->day == r.day)
      continue;
    if (!synced.empty() || !backfilled.empty())
      days.push_back({r.company_id, r.day, object(synced), object(backfilled)});
    synced.clear();
    backfilled.clear();
  }
  return days;
}

template <typename T>
std::optional<T> opt(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<T>();
}

}  // namespace

void CrmRepository::upsert(pqxx::work& tx, const std::vector<CrmRow>& rows) {
  if (rows.empty()) return;
  // The staging table lives as long as the connection and empties itself at every commit.
  tx.exec(
      "CREATE TEMP TABLE IF NOT EXISTS crm_stage (object_type text, id bigint, properties text, fields text, "
      "created_at text, updated_at text, archived boolean, archived_at text) ON COMMIT DELETE ROWS");
  {
    CopyWriter copy(tx, "crm_stage", {});
    for (const auto& r : rows) {
      copy.text(r.object_type).number(r.id).text(r.properties_json).text(r.fields_json).text(r.created_at);
      copy.text(r.updated_at).boolean(r.archived).text(r.archived_at).end_row();
    }
    copy.complete();
  }
  // crm_upsert: a record already stored with the same updatedAt and state is left alone.
  tx.exec(
      "INSERT INTO crm_objects AS o (object_type, id, properties, fields, created_at, updated_at, archived, "
      "archived_at, synced_at) "
      "SELECT DISTINCT ON (object_type, id) object_type, id, properties::jsonb, fields::jsonb, "
      "NULLIF(created_at, '')::timestamptz, NULLIF(updated_at, '')::timestamptz, archived, "
      "NULLIF(archived_at, '')::timestamptz, now() FROM crm_stage "
      "ORDER BY object_type, id, NULLIF(updated_at, '')::timestamptz DESC NULLS LAST "
      "ON CONFLICT (object_type, id) DO UPDATE SET properties = EXCLUDED.properties, fields = "
      "EXCLUDED.fields, "
      "created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, archived = EXCLUDED.archived, "
      "archived_at = EXCLUDED.archived_at, deleted_at = NULL, merged_into = NULL, synced_at = now() "
      "WHERE o.properties IS DISTINCT FROM EXCLUDED.properties OR o.fields IS DISTINCT FROM EXCLUDED.fields "
      "OR o.archived IS DISTINCT FROM EXCLUDED.archived OR o.updated_at IS DISTINCT FROM "
      "EXCLUDED.updated_at OR o.deleted_at IS NOT NULL");
}

void CrmRepository::insert_new(pqxx::work& tx, const std::vector<CrmRow>& rows) {
  if (rows.empty()) return;
  CopyWriter copy(
      tx, "crm_objects",
      {"object_type", "id", "properties", "fields", "created_at", "updated_at", "archived", "archived_at"});
  for (const auto& r : rows) {
    copy.text(r.object_type).number(r.id).text(r.properties_json).text(r.fields_json);
    copy.text_or_null(r.created_at)
        .text_or_null(r.updated_at)
        .boolean(r.archived)
        .text_or_null(r.archived_at);
    copy.end_row();
  }
  copy.complete();
}

void CrmRepository::upsert_snapshots(pqxx::work& tx, const std::vector<SnapshotRow>& rows) {
  const auto days = snapshot_days(rows);
  if (days.empty()) return;
  // One statement over arrays (a day per company and page): no staging table to empty at every commit.
  std::vector<std::int64_t> ids;
  std::vector<std::string> day, synced, backfilled;
  for (const auto& d : days) {
    ids.push_back(d.company_id);
    day.push_back(d.day);
    synced.push_back(d.synced);
    backfilled.push_back(d.backfilled);
  }
  tx.exec_params(
      "INSERT INTO company_snapshots AS s (company_id, day, synced, backfilled) "
      "SELECT * FROM unnest($1::bigint[], $2::date[], $3::jsonb[], $4::jsonb[]) "
      "ON CONFLICT (company_id, day) DO UPDATE SET synced = s.synced || EXCLUDED.synced, "
      "backfilled = s.backfilled || EXCLUDED.backfilled "
      "WHERE NOT (s.synced @> EXCLUDED.synced AND s.backfilled @> EXCLUDED.backfilled)",
      bigint_array(ids), text_array(day), text_array(synced), text_array(backfilled));
}

void CrmRepository::replace_snapshots(pqxx::work& tx, const std::vector<std::int64_t>& company_ids,
                                      const std::vector<SnapshotRow>& rows) {
  if (company_ids.empty()) return;
  tx.exec_params("DELETE FROM company_snapshots WHERE company_id = ANY($1::bigint[])",
                 bigint_array(company_ids));
  const auto days = snapshot_days(rows);
  if (days.empty()) return;
  CopyWriter copy(tx, "company_snapshots", {"company_id", "day", "synced", "backfilled"});
  for (const auto& d : days)
    copy.number(d.company_id).text(d.day).text(d.synced).text(d.backfilled).end_row();
  copy.complete();
}

void CrmRepository::add_pending_backfill(pqxx::work& tx, const std::string& object_type,
                                         const std::vector<std::int64_t>& ids) {
  if (ids.empty()) return;
  // A page is read whole again only when its transaction was lost, so a row for its key cannot be
  // stored already; should one be, the ids join it rather than replace any.
  tx.exec_params(
      "INSERT INTO sync_pending_backfill AS p (object_type, first_id, ids) VALUES ($1, $2, $3::bigint[]) "
      "ON CONFLICT (object_type, first_id) DO UPDATE SET ids = "
      "ARRAY(SELECT DISTINCT unnest(p.ids || EXCLUDED.ids) ORDER BY 1)",
      object_type, *std::min_element(ids.begin(), ids.end()), bigint_array(ids));
}

void CrmRepository::finish_backfill(pqxx::work& tx, const std::string& object_type, std::int64_t first_id) {
  tx.exec_params("DELETE FROM sync_pending_backfill WHERE object_type = $1 AND first_id = $2", object_type,
                 first_id);
}

std::vector<CrmRepository::PendingBackfill> CrmRepository::pending_backfills(pqxx::transaction_base& tx,
                                                                             const std::string& object_type) {
  std::vector<PendingBackfill> out;
  for (const auto& r : tx.exec_params("SELECT first_id, array_to_string(ids, ',') FROM sync_pending_backfill "
                                      "WHERE object_type = $1 ORDER BY first_id",
                                      object_type)) {
    PendingBackfill p;
    p.first_id = r[0].as<std::int64_t>();
    p.ids = parse_ids(r[1].c_str());
    out.push_back(std::move(p));
  }
  return out;
}

void CrmRepository::replace_associations(pqxx::work& tx, const std::string& from_type,
                                         const std::vector<std::int64_t>& from_ids,
                                         const std::string& to_type,
                                         const std::vector<std::pair<std::int64_t, std::int64_t>>& pairs) {
  if (from_ids.empty()) return;
  tx.exec_params(
      "DELETE FROM crm_associations WHERE from_type = $1 AND to_type = $2 AND from_id = ANY($3::bigint[])",
      from_type, to_type, bigint_array(from_ids));
  if (pairs.empty()) return;
  std::vector<std::int64_t> from, to;
  for (const auto& [f, t] : pairs) {
    from.push_back(f);
    to.push_back(t);
  }
  tx.exec_params(
      "INSERT INTO crm_associations (from_type, from_id, to_type, to_id) "
      "SELECT $1, f, $2, t FROM unnest($3::bigint[], $4::bigint[]) AS u(f, t) ON CONFLICT DO NOTHING",
      from_type, to_type, bigint_array(from), bigint_array(to));
}

void CrmRepository::insert_new_associations(pqxx::work& tx, const std::string& from_type,
                                            const std::string& to_type,
                                            std::vector<std::pair<std::int64_t, std::int64_t>> pairs) {
  // HubSpot lists a pair once per association type (primary and unlabeled, say): one row each here.
  std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  if (pairs.empty()) return;
  CopyWriter copy(tx, "crm_associations", {"from_type", "from_id", "to_type", "to_id"});
  for (const auto& [from, to] : pairs) copy.text(from_type).number(from).text(to_type).number(to).end_row();
  copy.complete();
}

void CrmRepository::replace_owners(pqxx::work& tx, const std::string& owners_json) {
  tx.exec_params(
      "INSERT INTO crm_owners AS w (id, email, first_name, last_name, user_id, teams, archived, synced_at) "
      "SELECT (o->>'id')::bigint, o->>'email', o->>'firstName', o->>'lastName', (o->>'userId')::bigint, "
      "coalesce(o->'teams', '[]'), coalesce((o->>'archived')::boolean, false), now() "
      "FROM jsonb_array_elements($1::jsonb) o "
      "ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, first_name = EXCLUDED.first_name, "
      "last_name = EXCLUDED.last_name, user_id = EXCLUDED.user_id, teams = EXCLUDED.teams, "
      "archived = EXCLUDED.archived, synced_at = now()",
      owners_json);
  tx.exec_params(
      "UPDATE crm_owners SET archived = true, synced_at = now() WHERE NOT archived AND id NOT IN "
      "(SELECT (o->>'id')::bigint FROM jsonb_array_elements($1::jsonb) o)",
      owners_json);
}

void CrmRepository::replace_pipelines(pqxx::work& tx, const std::string& object_type,
                                      const std::string& pipelines_json) {
  tx.exec_params(
      "INSERT INTO crm_pipelines AS p (object_type, pipeline_id, label, display_order, stages, archived, "
      "synced_at) "
      "SELECT $1, o->>'id', coalesce(o->>'label', ''), coalesce((o->>'displayOrder')::int, 0), "
      "coalesce(o->'stages', '[]'), coalesce((o->>'archived')::boolean, false), now() "
      "FROM jsonb_array_elements($2::jsonb) o "
      "ON CONFLICT (object_type, pipeline_id) DO UPDATE SET label = EXCLUDED.label, "
      "display_order = EXCLUDED.display_order, stages = EXCLUDED.stages, archived = EXCLUDED.archived, "
      "synced_at = now()",
      object_type, pipelines_json);
  tx.exec_params(
      "UPDATE crm_pipelines SET archived = true, synced_at = now() WHERE object_type = $1 AND NOT archived "
      "AND pipeline_id NOT IN (SELECT o->>'id' FROM jsonb_array_elements($2::jsonb) o)",
      object_type, pipelines_json);
}

std::vector<std::int64_t> CrmRepository::live_ids(pqxx::transaction_base& tx, const std::string& object_type,
                                                  std::int64_t after_id, int limit) {
  std::vector<std::int64_t> out;
  for (const auto& row : tx.exec_params("SELECT id FROM crm_objects WHERE object_type = $1 AND NOT archived "
                                        "AND id > $2 ORDER BY id LIMIT $3",
                                        object_type, after_id, limit))
    out.push_back(row[0].as<std::int64_t>());
  return out;
}

void CrmRepository::mark_gone(pqxx::work& tx, const std::string& object_type,
                              const std::vector<std::int64_t>& deleted,
                              const std::vector<std::pair<std::int64_t, std::int64_t>>& merged) {
  std::vector<std::int64_t> ids = deleted, into(deleted.size(), 0);
  for (const auto& [id, survivor] : merged) {
    ids.push_back(id);
    into.push_back(survivor);
  }
  if (ids.empty()) return;
  tx.exec_params(
      "UPDATE crm_objects o SET archived = true, archived_at = coalesce(o.archived_at, now()), "
      "deleted_at = now(), merged_into = NULLIF(g.survivor, 0), synced_at = now() "
      "FROM unnest($2::bigint[], $3::bigint[]) AS g(id, survivor) WHERE o.object_type = $1 AND o.id = g.id",
      object_type, bigint_array(ids), bigint_array(into));
}

void CrmRepository::mark_archived(pqxx::work& tx, const std::string& object_type,
                                  const std::vector<std::int64_t>& ids) {
  if (ids.empty()) return;
  tx.exec_params(
      "UPDATE crm_objects SET archived = true, archived_at = coalesce(archived_at, now()), synced_at = now() "
      "WHERE object_type = $1 AND id = ANY($2::bigint[])",
      object_type, bigint_array(ids));
}

CrmRepository::SweepState CrmRepository::load_sweep(pqxx::transaction_base& tx,
                                                    const std::string& object_type) {
  SweepState s;
  const auto r = tx.exec_params(
      "SELECT last_id, (extract(epoch FROM now() - finished_at) * 1000)::bigint FROM sync_sweeps "
      "WHERE object_type = $1",
      object_type);
  if (r.empty()) return s;
  s.last_id = opt<std::int64_t>(r[0][0]);
  s.finished_age_ms = opt<std::int64_t>(r[0][1]);
  return s;
}

void CrmRepository::save_sweep(pqxx::work& tx, const std::string& object_type,
                               std::optional<std::int64_t> last_id) {
  if (last_id) {
    tx.exec_params(
        "INSERT INTO sync_sweeps (object_type, last_id, started_at) VALUES ($1, $2, now()) "
        "ON CONFLICT (object_type) DO UPDATE SET last_id = EXCLUDED.last_id, "
        "started_at = CASE WHEN sync_sweeps.last_id IS NULL THEN now() ELSE sync_sweeps.started_at END",
        object_type, *last_id);
  } else {
    tx.exec_params(
        "INSERT INTO sync_sweeps (object_type, finished_at) VALUES ($1, now()) "
        "ON CONFLICT (object_type) DO UPDATE SET last_id = NULL, finished_at = now()",
        object_type);
  }
}

SyncState CrmRepository::load_state(pqxx::transaction_base& tx, const std::string& object_type) {
  SyncState s;
  s.object_type = object_type;
  const auto r = tx.exec_params(
      "SELECT to_char(watermark AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), full_cursor, "
      "to_char(full_started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), incr_last_id, "
      "to_char(incr_started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), spec_fingerprint, "
      "array_to_string(pending_associations, ','), version FROM sync_state WHERE object_type = $1",
      object_type);
  if (r.empty()) return s;
  s.watermark = opt<std::string>(r[0][0]);
  s.full_cursor = opt<std::string>(r[0][1]);
  s.full_started_at = opt<std::string>(r[0][2]);
  s.incr_last_id = opt<std::int64_t>(r[0][3]);
  s.incr_started_at = opt<std::string>(r[0][4]);
  s.spec_fingerprint = opt<std::string>(r[0][5]);
  s.pending_associations = parse_ids(r[0][6].c_str());
  s.version = r[0][7].as<std::int64_t>();
  s.stored = true;
  return s;
}

void CrmRepository::save_state(pqxx::work& tx, const SyncState& s) {
  // Both statements touch a row only when it is the one this state follows: a row that is missing, or
  // of another version, means a commit of ours was lost (or someone else wrote it).
  const auto r =
      s.stored ? tx.exec_params(
                     "UPDATE sync_state SET watermark = $2::timestamptz, full_cursor = $3, "
                     "full_started_at = $4::timestamptz, incr_last_id = $5, incr_started_at = "
                     "$6::timestamptz, spec_fingerprint = $7, pending_associations = $8::bigint[], "
                     "version = version + 1, updated_at = now() WHERE object_type = $1 AND version = $9",
                     s.object_type, s.watermark, s.full_cursor, s.full_started_at, s.incr_last_id,
                     s.incr_started_at, s.spec_fingerprint, bigint_array(s.pending_associations), s.version)
               : tx.exec_params(
                     "INSERT INTO sync_state (object_type, watermark, full_cursor, full_started_at, "
                     "incr_last_id, incr_started_at, spec_fingerprint, pending_associations, version, "
                     "updated_at) VALUES ($1, $2::timestamptz, $3, $4::timestamptz, $5, $6::timestamptz, $7, "
                     "$8::bigint[], 1, now()) ON CONFLICT (object_type) DO NOTHING",
                     s.object_type, s.watermark, s.full_cursor, s.full_started_at, s.incr_last_id,
                     s.incr_started_at, s.spec_fingerprint, bigint_array(s.pending_associations));
  if (r.affected_rows() != 1) {
    throw StoreError(StoreError::Kind::kStale,
                     "sync state of " + s.object_type +
                         ": the stored state is not the one this sync last wrote " + "(version " +
                         std::to_string(s.version) +
                         "); a commit was lost in a database crash, or another sync wrote it");
  }
}

std::string CrmRepository::owner_name(pqxx::transaction_base& tx, const std::string& id) {
  const auto r = exec_prepared(
      tx, "crm_owner_name",
      "SELECT trim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')), coalesce(email, '') FROM "
      "crm_owners WHERE id::text = $1",
      id);
  if (r.empty()) return id;
  const auto name = r[0][0].as<std::string>();
  if (!name.empty()) return name;
  const auto email = r[0][1].as<std::string>();
  return email.empty() ? id : email;
}

std::vector<std::int64_t> CrmRepository::companies_changed_since(pqxx::transaction_base& tx,
                                                                 const std::string& since) {
  std::vector<std::int64_t> out;
  for (const auto& r : tx.exec_params(
           "SELECT id FROM crm_objects WHERE object_type = 'companies' AND synced_at >= $1::timestamptz "
           "UNION SELECT a.to_id FROM crm_objects o JOIN crm_associations a ON a.from_type = o.object_type "
           "AND a.from_id = o.id AND a.to_type = 'companies' WHERE o.object_type <> 'companies' "
           "AND o.synced_at >= $1::timestamptz ORDER BY 1",
           since))
    out.push_back(r[0].as<std::int64_t>());
  return out;
}

std::vector<std::string> CrmRepository::owner_teams(pqxx::transaction_base& tx, const std::string& id) {
  std::vector<std::string> out;
  for (const auto& r : exec_prepared(
           tx, "crm_owner_teams",
           "SELECT t->>'id' FROM crm_owners o, jsonb_array_elements(CASE jsonb_typeof(o.teams) WHEN 'array' "
           "THEN o.teams ELSE '[]' END) t WHERE o.id::text = $1 AND t->>'id' IS NOT NULL "
           "ORDER BY (t->>'primary') = 'true' DESC",
           id))
    out.push_back(r[0].as<std::string>());
  return out;
}

std::vector<std::string> CrmRepository::active_owners(pqxx::transaction_base& tx,
                                                      const std::vector<std::int64_t>& ids,
                                                      const std::vector<std::string>& teams) {
  std::vector<std::string> out;
  for (const auto& r : tx.exec_params(
           "SELECT id::text FROM crm_owners o WHERE NOT archived AND (id = ANY($1::bigint[]) OR EXISTS ("
           "SELECT 1 FROM jsonb_array_elements(CASE jsonb_typeof(o.teams) WHEN 'array' THEN o.teams ELSE "
           "'[]' END) t WHERE t->>'id' = ANY($2::text[]))) ORDER BY id",
           bigint_array(ids), text_array(teams)))
    out.push_back(r[0].as<std::string>());
  return out;
}

std::optional<bool> CrmRepository::owner_archived(pqxx::transaction_base& tx, std::int64_t id) {
  const auto r = exec_prepared(tx, "crm_owner_archived", "SELECT archived FROM crm_owners WHERE id = $1", id);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<bool>();
}

std::string CrmRepository::company_owner(pqxx::transaction_base& tx, std::int64_t company_id) {
  const auto r = exec_prepared(tx, "crm_company_owner",
                               "SELECT coalesce(owner_id, '') FROM companies WHERE id = $1", company_id);
  return r.empty() ? std::string() : r[0][0].as<std::string>();
}

std::set<std::string> CrmRepository::won_stages(pqxx::transaction_base& tx,
                                                const std::set<std::string>& extra) {
  std::set<std::string> won = extra;
  won.insert("closedwon");
  for (const auto& r :
       tx.exec("SELECT st->>'id' FROM crm_pipelines p, jsonb_array_elements(p.stages) st "
               "WHERE p.object_type = 'deals' AND NOT p.archived AND jsonb_typeof(p.stages) = 'array' "
               "AND lower(st->'metadata'->>'isClosed') = 'true' "
               "AND st->'metadata'->>'probability' ~ '^[0-9]+(\\.[0-9]+)?$' "
               "AND (st->'metadata'->>'probability')::float8 = 1.0 AND st->>'id' IS NOT NULL")) {
    won.insert(r[0].as<std::string>());
  }
  return won;
}

}  // namespace cshealthd::store
