#include "cshealthd/sync/syncer.hpp"

#include <algorithm>
#include <charconv>

#include <spdlog/spdlog.h>

#include "cshealthd/core/time.hpp"
#include "cshealthd/store/crm_repository.hpp"

namespace cshealthd::sync {
namespace {

using json = nlohmann::json;

std::vector<std::string> names(const ObjectSpec& spec) {
  std::vector<std::string> out;
  for (const auto& p : spec.properties) out.push_back(p.name);
  return out;
}

bool parses(ValueKind kind, const std::string& v) {
  switch (kind) {
    case ValueKind::kText:
      return true;
    case ValueKind::kNumber: {
      double d = 0;
      const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
      return ec == std::errc() && ptr == v.data() + v.size();
    }
    case ValueKind::kTimestamp:
      return core::parse_hubspot_timestamp(v).has_value();
  }
  return false;
}

std::int64_t id_of(const json& r) {
  return std::stoll(r.at("id").get<std::string>());
}

std::string now_iso(core::Clock& clock) {
  return core::format_iso8601(
      std::chrono::duration_cast<std::chrono::milliseconds>(clock.wall_now().time_since_epoch()).count());
}

}  // namespace

std::vector<ObjectSpec> default_specs() {
  using K = ValueKind;
  return {
      {"companies",
       "hs_lastmodifieddate",
       {{"name"},
        {"domain"},
        {"hubspot_owner_id"},
        {"notes_last_contacted", K::kTimestamp},
        {"cs_plan"},
        {"cs_contract_start_date", K::kTimestamp},
        {"cs_renewal_date", K::kTimestamp},
        {"cs_mrr", K::kNumber},
        {"cs_licensed_seats", K::kNumber},
        {"cs_active_users_30d", K::kNumber},
        {"cs_logins_30d", K::kNumber},
        {"cs_features_used", K::kNumber},
        {"cs_goal_status"},
        {"cs_stage"}},
       {},
       {"cs_active_users_30d", "cs_logins_30d", "cs_licensed_seats", "cs_features_used", "cs_mrr"}},
      {"contacts",
       "lastmodifieddate",
       {{"email"}, {"firstname"}, {"lastname"}, {"cs_key_person"}, {"cs_departed"}},
       {"companies"},
       {}},
      {"deals",
       "hs_lastmodifieddate",
       {{"dealname"},
        {"dealstage"},
        {"pipeline"},
        {"amount", K::kNumber},
        {"closedate", K::kTimestamp},
        {"hubspot_owner_id"}},
       {"companies"},
       {}},
      {"tickets",
       "hs_lastmodifieddate",
       {{"subject"},
        {"hs_pipeline"},
        {"hs_pipeline_stage"},
        {"hs_ticket_priority"},
        {"hs_ticket_category"},
        {"closed_date", K::kTimestamp},
        {"time_to_close", K::kNumber}},
       {"companies"},
       {}},
      {"meetings",
       "hs_lastmodifieddate",
       {{"hs_meeting_start_time", K::kTimestamp}, {"hs_meeting_outcome"}, {"hubspot_owner_id"}},
       {"companies"},
       {}},
      {"feedback_submissions",
       "hs_lastmodifieddate",
       {{"hs_survey_type"},
        {"hs_value", K::kNumber},
        {"hs_response_group"},
        {"hs_submission_timestamp", K::kTimestamp}},
       {"contacts", "companies"},
       {}},
  };
}

Syncer::Syncer(store::Database& db, hubspot::HubSpotClient& client, core::Clock& clock,
               metrics::Registry& metrics, SyncOptions options)
    : db_(db), client_(client), clock_(clock), metrics_(metrics), options_(options) {}

// Bad input from HubSpot (text in a number property, an impossible date) is stored as null, counted and
// logged with the record, property and value; it never stops the sync.
std::string Syncer::clean_properties(const ObjectSpec& spec, const json& record, TypeReport& report) {
  json props = record.value("properties", json::object());
  for (const auto& p : spec.properties) {
    if (p.kind == ValueKind::kText || !props.contains(p.name) || !props[p.name].is_string()) continue;
    const std::string v = props[p.name].get<std::string>();
    if (v.empty() || parses(p.kind, v)) continue;
    ++report.rejected_values;
    metrics_
        .counter("cshealthd_sync_rejected_values_total",
                 "HubSpot values that failed their type and were stored as null",
                 {{"object_type", spec.type}, {"property", p.name}})
        .inc();
    spdlog::warn("sync: {} {} property {} has malformed value '{}'; stored as null", spec.type,
                 record.value("id", ""), p.name, v.substr(0, 100));
    props[p.name] = nullptr;
  }
  return props.dump();
}

std::vector<store::SnapshotRow> Syncer::snapshots(const ObjectSpec& spec, const json& record) {
  std::vector<store::SnapshotRow> rows;
  const std::int64_t id = id_of(record);
  const auto today = core::format_date(
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.wall_now().time_since_epoch()).count());
  const json history = record.value("propertiesWithHistory", json::object());
  for (const auto& metric : spec.snapshot_metrics) {
    auto add = [&](const json& v, const std::string& day, const char* source) {
      if (!v.is_string() || !parses(ValueKind::kNumber, v.get<std::string>())) return;
      rows.push_back({id, day, metric, std::stod(v.get<std::string>()), source});
    };
    // HubSpot lists history newest first: oldest first here, so the last value of a day wins.
    if (history.contains(metric)) {
      const auto& entries = history[metric];
      for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
        const auto ts = core::parse_hubspot_timestamp(it->value("timestamp", ""));
        if (ts) add(it->value("value", json()), core::format_date(*ts), "backfill");
      }
    }
    add(record["properties"].value(metric, json()), today, "sync");
  }
  return rows;
}

void Syncer::write_page(const ObjectSpec& spec, const std::vector<json>& records, bool archived,
                        const store::SyncState& state, TypeReport& report) {
  std::vector<store::CrmRow> rows;
  std::vector<std::int64_t> ids;
  std::vector<store::SnapshotRow> snaps;
  for (const auto& r : records) {
    if (!archived && !spec.snapshot_metrics.empty()) {
      for (auto& row : snapshots(spec, r)) snaps.push_back(std::move(row));
    }
    store::CrmRow row;
    row.object_type = spec.type;
    row.id = id_of(r);
    row.properties_json = clean_properties(spec, r, report);
    row.created_at = r.value("createdAt", "");
    row.updated_at = r.value("updatedAt", "");
    row.archived = archived || r.value("archived", false);
    row.archived_at = r.value("archivedAt", "");
    ids.push_back(row.id);
    rows.push_back(std::move(row));
  }
  db_.with_retry("sync_write_page", [&](pqxx::connection& c) {
    pqxx::work tx(c, "sync_write_page");
    store::CrmRepository::upsert(tx, rows);
    store::CrmRepository::upsert_snapshots(tx, snaps);
    if (!archived && !spec.associate_to.empty())
      store::CrmRepository::add_pending_associations(tx, spec.type, ids);
    store::CrmRepository::save_state(tx, state);
    tx.commit();
  });
  if (!archived && !spec.associate_to.empty()) pending_added_ += ids.size();
  ++report.pages;
  (archived ? report.archived : report.records) += rows.size();
  report.snapshots += snaps.size();
  metrics_
      .counter("cshealthd_sync_records_total", "Records written by the sync", {{"object_type", spec.type}})
      .inc(rows.size());
  if (on_page_) on_page_(report);
  if (!archived) flush_associations(spec, false);
}

store::SyncState Syncer::load_state(const std::string& type) {
  return db_.with_connection("sync_load_state", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return store::CrmRepository::load_state(tx, type);
  });
}

void Syncer::flush_associations(const ObjectSpec& spec, bool all) {
  constexpr std::size_t kBatch = 1000;  // HubSpot's maximum for associations batch read
  if (spec.associate_to.empty()) return;
  // No need to ask the database until a full batch can have built up; the final flush takes the rest
  // (and whatever an interrupted run left pending).
  if (!all && pending_added_ < kBatch) return;
  pending_added_ = 0;
  while (true) {
    const auto ids = db_.with_connection("sync_pending_associations", [&](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      return store::CrmRepository::pending_associations(tx, spec.type, kBatch);
    });
    if (ids.empty() || (!all && ids.size() < kBatch)) return;
    // Read before the transaction: no connection is held across API calls.
    std::vector<std::string> id_text;
    for (const auto id : ids) id_text.push_back(std::to_string(id));
    std::vector<std::pair<std::string, std::vector<std::pair<std::int64_t, std::int64_t>>>> links;
    for (const auto& to : spec.associate_to) {
      std::vector<std::pair<std::int64_t, std::int64_t>> pairs;
      for (const auto& [from, tos] : client_.associations(spec.type, to, id_text)) {
        for (const auto& t : tos) pairs.emplace_back(std::stoll(from), std::stoll(t));
      }
      links.emplace_back(to, std::move(pairs));
    }
    db_.with_retry("sync_write_associations", [&](pqxx::connection& c) {
      pqxx::work tx(c, "sync_write_associations");
      for (const auto& [to, pairs] : links)
        store::CrmRepository::replace_associations(tx, spec.type, ids, to, pairs);
      store::CrmRepository::clear_pending_associations(tx, spec.type, ids);
      tx.commit();
    });
  }
}

std::vector<std::string> Syncer::missing_properties(const std::vector<ObjectSpec>& specs) {
  std::vector<std::string> missing;
  for (const auto& spec : specs) {
    std::vector<std::string> known;
    for (const auto& p : client_.properties(spec.type)) known.push_back(p.value("name", ""));
    for (const auto& p : spec.properties) {
      if (std::find(known.begin(), known.end(), p.name) == known.end())
        missing.push_back(spec.type + "." + p.name);
    }
  }
  return missing;
}

TypeReport Syncer::full(const ObjectSpec& spec) {
  TypeReport report{spec.type, 0, 0, 0, 0, 0, true};
  auto state = load_state(spec.type);
  if (!state.full_cursor) {
    state.full_cursor = "";
    state.full_started_at = now_iso(clock_);
  } else {
    spdlog::info("sync: resuming the full sync of {} at cursor '{}'", spec.type, *state.full_cursor);
  }
  hubspot::ListQuery q;
  q.properties = names(spec);
  // Never synced before: back-fill the daily snapshots from property history (HubSpot then pages by 50).
  if (!state.watermark) q.properties_with_history = spec.snapshot_metrics;
  while (true) {
    q.after = *state.full_cursor;
    const auto page = client_.list(spec.type, q);
    if (page.next_after.empty()) {
      // Done: the next incremental sync starts from when this one began, never later.
      state.watermark = state.full_started_at;
      state.full_cursor.reset();
      state.full_started_at.reset();
    } else {
      state.full_cursor = page.next_after;
    }
    write_page(spec, page.results, false, state, report);
    if (page.next_after.empty()) break;
  }
  flush_associations(spec, true);
  return report;
}

TypeReport Syncer::incremental(const ObjectSpec& spec) {
  auto state = load_state(spec.type);
  if (!state.watermark || state.full_cursor) return full(spec);
  TypeReport report{spec.type, 0, 0, 0, 0, 0, false};
  if (!state.incr_started_at) {
    state.incr_started_at = now_iso(clock_);
    state.incr_last_id = 0;
  }
  const auto since = *core::parse_iso8601(*state.watermark) - options_.overlap.count();
  std::int64_t last_id = state.incr_last_id.value_or(0);
  while (true) {
    // Each page is a fresh query for ids above the last one written: no offset, so no 10k cap.
    const json body = {
        {"filterGroups",
         {{{"filters",
            {{{"propertyName", spec.modified_property},
              {"operator", "GTE"},
              {"value", std::to_string(since)}},
             {{"propertyName", "hs_object_id"}, {"operator", "GT"}, {"value", std::to_string(last_id)}}}}}}},
        {"sorts", {{{"propertyName", "hs_object_id"}, {"direction", "ASCENDING"}}}},
        {"properties", names(spec)},
        {"limit", options_.search_page}};
    const auto page = client_.search(spec.type, body);
    for (const auto& r : page.results) last_id = std::max(last_id, id_of(r));
    const bool done = page.results.size() < static_cast<std::size_t>(options_.search_page);
    state.incr_last_id = last_id;
    if (done) {
      state.watermark = state.incr_started_at;  // never past this sync's own start
      state.incr_started_at.reset();
      state.incr_last_id.reset();
    }
    write_page(spec, page.results, false, state, report);
    if (done) break;
  }
  flush_associations(spec, true);
  // Search never returns archived records: read them from the list endpoint.
  hubspot::ListQuery q;
  q.archived = true;
  q.properties = names(spec);
  do {
    const auto page = client_.list(spec.type, q);
    write_page(spec, page.results, true, state, report);
    q.after = page.next_after;
  } while (!q.after.empty());
  return report;
}

}  // namespace cshealthd::sync
