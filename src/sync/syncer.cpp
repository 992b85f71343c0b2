#include "cshealthd/sync/syncer.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <exception>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>

#include "cshealthd/base/handoff.hpp"
#include "cshealthd/base/json_reader.hpp"
#include "cshealthd/base/log.hpp"
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

// The HubSpot properties behind the spec's snapshot metrics: read with their history to back-fill days.
std::vector<std::string> history_names(const ObjectSpec& spec) {
  std::vector<std::string> out;
  for (const auto& m : spec.snapshot_fields) {
    if (const auto* p = spec.by_field(m)) out.push_back(p->name);
  }
  return out;
}

// Writes back-filled days and clears the page's pending row, in one transaction. Asynchronous commit:
// a commit lost in a crash leaves the pending row, and the next sync reads those companies again.
void write_backfill(store::Database& db, const std::string& type, std::int64_t first_id,
                    const std::vector<std::int64_t>& ids, const std::vector<store::SnapshotRow>& rows) {
  db.with_retry("sync_write_backfill", [&](pqxx::connection& c) {
    pqxx::work tx(c, "sync_write_backfill");
    tx.exec("SET LOCAL synchronous_commit = off");
    store::CrmRepository::replace_snapshots(tx, ids, rows);
    store::CrmRepository::finish_backfill(tx, type, first_id);
    tx.commit();
  });
}

bool parses(ValueKind kind, const std::string& v) {
  switch (kind) {
    case ValueKind::kText:
      return true;
    case ValueKind::kNumber:
      return core::parse_hubspot_number(v).has_value();
    case ValueKind::kTimestamp:
      return core::parse_hubspot_timestamp(v).has_value();
    case ValueKind::kBool:
      return v == "true" || v == "false";
  }
  return false;
}

void append_string(std::string& out, std::string_view text) {
  out += '"';
  log::append_json_escaped(out, text);
  out += '"';
}

// Appends the typed JSON value of a well-formed HubSpot string: numbers as numbers, timestamps as ISO
// 8601 (HubSpot sends both epoch milliseconds and ISO text), booleans as booleans.
void append_typed(std::string& out, ValueKind kind, const std::string& v) {
  switch (kind) {
    case ValueKind::kText:
      append_string(out, v);
      return;
    case ValueKind::kNumber: {
      char text[32];
      const auto [end, ec] = std::to_chars(text, text + sizeof text, *core::parse_hubspot_number(v));
      out.append(text, ec == std::errc() ? end : text);
      return;
    }
    case ValueKind::kTimestamp:
      append_string(out, core::format_iso8601(*core::parse_hubspot_timestamp(v)));
      return;
    case ValueKind::kBool:
      out += v == "true" ? "true" : "false";
      return;
  }
}

// PostgreSQL's jsonb cannot hold a NUL character, raw or escaped: such a value is malformed, whatever its
// type.
bool storable(const hubspot::Value& v) {
  switch (v.kind) {
    case hubspot::Value::Kind::kString:
      return v.text.find('\0') == std::string::npos;
    case hubspot::Value::Kind::kJson:
      // Not a string (HubSpot sends only strings): a number beyond double's range, 1E8547758674407 say,
      // is beyond jsonb's numeric too and would fail the page's COPY on every retry. Rare: checked in full.
      if (v.text.find("\\u0000") != std::string::npos) return false;
      try {
        (void)read_json(v.text);
      } catch (const nlohmann::json::parse_error&) {
        return false;
      }
      return true;
    case hubspot::Value::Kind::kNull:
      break;
  }
  return true;
}

// jsonb's order of object keys: shorter first, then bytewise.
bool jsonb_before(std::string_view a, std::string_view b) {
  return a.size() != b.size() ? a.size() < b.size() : a < b;
}

// HubSpot's ids are integers sent as text; anything else is not an id.
std::optional<std::int64_t> integer_id(const std::string& text) {
  std::int64_t id = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, id);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return id;
}

// Ids as the API takes them.
std::vector<std::string> id_texts(const std::vector<std::int64_t>& ids) {
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (const auto id : ids) out.push_back(std::to_string(id));
  return out;
}

// The record's id, when it is one.
std::optional<std::int64_t> id_of(const hubspot::Record& r) {
  return integer_id(r.id);
}

std::string now_iso(Clock& clock) {
  return core::format_iso8601(clock.now_ms());
}

// Runs write(connection, insert) as a retried transaction. While `fresh` (a first full sync, whose rows
// cannot be stored yet) it inserts straight; should a row be stored after all (written by something
// else), the unique violation rolls it back and it runs again merging, as does the rest of the sync.
template <typename Write>
void insert_or_merge(store::Database& db, const char* what, const std::string& type, const char* rows,
                     bool& fresh, Write&& write) {
  const bool insert = fresh;
  try {
    db.with_retry(what, [&](pqxx::connection& c) { write(c, insert); });
  } catch (const store::StoreError& e) {
    if (!insert || e.kind() != store::StoreError::Kind::kConflict) throw;
    spdlog::info("sync: some {} {} were already stored; merging the rest of this sync ({})", type, rows,
                 e.what());
    fresh = false;
    db.with_retry(what, [&](pqxx::connection& c) { write(c, false); });
  }
}

}  // namespace

// A first sync's back-filled days are most of what it writes (about 13 days per company against one
// record). Written inside each page's transaction they doubled the time of every page in the one chain
// a type's full sync is, so they are written here instead, on a thread and connection of their own,
// while the chain reads on. The page commits its ids into sync_pending_backfill; the transaction that
// writes their days deletes that row, and rows a crash leaves are read again by the next sync.
class BackfillWriter {
 public:
  BackfillWriter(store::Database& db, std::string type) : db_(db), type_(std::move(type)) {
    thread_ = std::thread([this] { run(); });
  }
  BackfillWriter(const BackfillWriter&) = delete;
  BackfillWriter& operator=(const BackfillWriter&) = delete;
  // Pages already handed over are still written: they are committed with their pending rows.
  ~BackfillWriter() {
    try {
      finish();
    } catch (const std::exception& e) {
      spdlog::error("sync: back-filled days of some {} were not written: {}; the next sync writes them",
                    type_, e.what());
    }
  }

  // A committed page's days. Waits while kDepth pages wait (memory stays bounded); throws what stopped
  // the writer, so the sync stops with it.
  void add(std::int64_t first_id, std::vector<std::int64_t> ids, std::vector<store::SnapshotRow> rows) {
    jobs_.push({first_id, std::move(ids), std::move(rows)});
  }

  // Waits until every page handed over is written; throws what stopped the writer.
  void finish() {
    jobs_.close();
    if (thread_.joinable()) thread_.join();
    if (const auto error = std::exchange(error_, nullptr)) std::rethrow_exception(error);
  }

 private:
  static constexpr std::size_t kDepth = 4;
  struct Job {
    std::int64_t first_id;
    std::vector<std::int64_t> ids;
    std::vector<store::SnapshotRow> rows;
  };

  void run() {
    try {
      while (const auto job = jobs_.pop()) write_backfill(db_, type_, job->first_id, job->ids, job->rows);
    } catch (...) {
      error_ = std::current_exception();  // read by finish() after the join
      jobs_.close(error_);                // pages still waiting stay pending: the next sync writes them
    }
  }

  store::Database& db_;
  const std::string type_;
  Handoff<Job> jobs_{kDepth};
  std::exception_ptr error_;
  std::thread thread_;
};

const PropertySpec* ObjectSpec::by_field(const std::string& f) const {
  for (const auto& p : properties) {
    if (p.field == f) return &p;
  }
  return nullptr;
}

std::string ObjectSpec::fingerprint() const {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a: stable across builds and platforms
  auto add = [&](const std::string& text) {
    for (const unsigned char c : text + '\x1f') h = (h ^ c) * 1099511628211ULL;
  };
  add(type);
  for (const auto& p : properties)
    add(p.name + ":" + std::to_string(static_cast<int>(p.kind)) + ":" + p.field);
  for (const auto& m : snapshot_fields) add(m);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::vector<ObjectSpec> specs(const config::MappingConfig& mapping) {
  using K = ValueKind;
  const auto company = [&](const std::string& field, K kind = K::kText) {
    return PropertySpec{mapping.company.at(field), kind, field};
  };
  const auto contact = [&](const std::string& field, K kind) {
    return PropertySpec{mapping.contact.at(field), kind, field};
  };
  std::vector<ObjectSpec> out = {
      {"companies",
       "hs_lastmodifieddate",
       {{"name", K::kText, "name"},
        {"domain", K::kText, "domain"},
        company("owner_id"),
        company("last_contacted", K::kTimestamp),
        company("plan"),
        company("contract_start_date", K::kTimestamp),
        company("renewal_date", K::kTimestamp),
        company("mrr", K::kNumber),
        company("licensed_seats", K::kNumber),
        company("active_users_30d", K::kNumber),
        company("logins_30d", K::kNumber),
        company("features_used", K::kNumber),
        company("goal_status"),
        company("cs_stage"),
        company("churn_reason"),
        company("churn_date", K::kTimestamp),
        company("contract_term")},
       {},
       {"active_users_30d", "logins_30d", "licensed_seats", "features_used", "mrr", "renewal_date",
        "contract_start_date", "last_contacted", "plan", "goal_status", "cs_stage", "contract_term"}},
      {"contacts",
       "lastmodifieddate",
       {{"email", K::kText, "email"},
        {"firstname", K::kText, ""},
        {"lastname", K::kText, ""},
        contact("key_person", K::kBool),
        contact("departed", K::kBool)},
       {"companies"},
       {}},
      {"deals",
       "hs_lastmodifieddate",
       {{"dealname", K::kText, "name"},
        {"dealstage", K::kText, "stage"},
        {"pipeline", K::kText, "pipeline"},
        {"amount", K::kNumber, "amount"},
        {"closedate", K::kTimestamp, "close_date"},
        {"hubspot_owner_id", K::kText, "owner_id"},
        {"dealtype", K::kText, "deal_type"}},
       {"companies"},
       {}},
      {"tickets",
       "hs_lastmodifieddate",
       {{"subject", K::kText, ""},
        {"hs_pipeline", K::kText, "pipeline"},
        {"hs_pipeline_stage", K::kText, "stage"},
        {"hs_ticket_priority", K::kText, "priority"},
        {"hs_ticket_category", K::kText, "category"},
        {"closed_date", K::kTimestamp, "closed_at"},
        {"time_to_close", K::kNumber, "time_to_close_ms"}},
       {"companies"},
       {}},
      {"meetings",
       "hs_lastmodifieddate",
       {{"hs_meeting_start_time", K::kTimestamp, "start_time"},
        {"hs_meeting_outcome", K::kText, "outcome"},
        {"hubspot_owner_id", K::kText, "owner_id"}},
       {"companies"},
       {}},
      {"feedback_submissions",
       "hs_lastmodifieddate",
       {{"hs_survey_type", K::kText, "survey_type"},
        {"hs_value", K::kNumber, "value"},
        {"hs_response_group", K::kText, "response_group"},
        {"hs_submission_timestamp", K::kTimestamp, "submitted_at"}},
       {"contacts", "companies"},
       {}},
  };
  // The company's id in the product, as usage sent to cshealthd may name it: read only when mapped.
  if (const auto it = mapping.company.find("external_id"); it != mapping.company.end() && !it->second.empty())
    out.front().properties.push_back(company("external_id"));
  return out;
}

std::vector<ObjectSpec> default_specs() {
  return specs(config::MappingConfig{});
}

Syncer::Syncer(store::Database& db, hubspot::HubSpotClient& client, Clock& clock, metrics::Registry& metrics,
               SyncOptions options)
    : db_(db), client_(client), clock_(clock), metrics_(metrics), options_(options) {}

// Bad input from HubSpot (text in a number property, an impossible date, a NUL character) is stored as
// null and noted; it never stops the sync.
std::optional<store::CrmRow> record_row(const ObjectSpec& spec, hubspot::Record& record, bool archived,
                                        std::vector<Rejection>& rejected) {
  const auto id = id_of(record);
  if (!id) {  // nothing to store it under
    rejected.push_back({"id", record.id});
    return std::nullopt;
  }
  // Cleaned in place: the page is not needed afterwards.
  auto reject = [&](const std::string& property, hubspot::Value& v) {
    rejected.push_back({property, std::move(v.text)});
    v.kind = hubspot::Value::Kind::kNull;
    v.text.clear();
  };
  std::vector<std::pair<const PropertySpec*, const hubspot::Value*>> typed;
  for (const auto& p : spec.properties) {
    hubspot::Value* v = record.property(p.name);
    if (v == nullptr || !v->is_string() || v->text.empty()) continue;
    if (!storable(*v) || !parses(p.kind, v->text)) {
      reject(p.name, *v);
      continue;
    }
    if (!p.field.empty()) typed.emplace_back(&p, v);
  }
  // Both objects are written with their keys in jsonb's order, which PostgreSQL then only checks
  // instead of sorting (its sort of every object's keys was 1.5% of a first sync's CPU).
  std::sort(typed.begin(), typed.end(),
            [](const auto& a, const auto& b) { return jsonb_before(a.first->field, b.first->field); });
  std::string fields = "{";
  for (const auto& [p, v] : typed) {
    if (fields.size() > 1) fields += ',';
    append_string(fields, p->field);
    fields += ':';
    append_typed(fields, p->kind, v->text);
  }
  fields += '}';
  // HubSpot's properties are flat (strings or null): written here directly, as a generic serializer
  // cost a tenth of the service's CPU in a first sync. Sorted only now: `typed` points into them.
  std::sort(record.properties.begin(), record.properties.end(),
            [](const auto& a, const auto& b) { return jsonb_before(a.first, b.first); });
  record.reindex();
  std::string props;
  props.reserve(64 * record.properties.size() + 2);
  props += '{';
  for (auto& [name, v] : record.properties) {
    if (name.find('\0') != std::string::npos) {
      std::string shown = name;  // a name jsonb cannot hold: the property is left out
      std::replace(shown.begin(), shown.end(), '\0', ' ');
      rejected.push_back({std::move(shown), ""});
      continue;
    }
    if (!storable(v)) reject(name, v);
    if (props.size() > 1) props += ',';
    append_string(props, name);
    props += ':';
    switch (v.kind) {
      case hubspot::Value::Kind::kString:
        append_string(props, v.text);
        break;
      case hubspot::Value::Kind::kJson:
        props += v.text;  // as sent: JSON the reader checked
        break;
      case hubspot::Value::Kind::kNull:
        props += "null";
        break;
    }
  }
  props += '}';
  // createdAt, updatedAt and archivedAt: stored when they are times, else null.
  auto time = [&](const char* name, std::string& text) {
    if (text.empty() || core::parse_iso8601(text)) return std::move(text);
    rejected.push_back({name, std::move(text)});
    return std::string();
  };
  store::CrmRow row;
  row.object_type = spec.type;
  row.id = *id;
  row.properties_json = std::move(props);
  row.fields_json = std::move(fields);
  row.created_at = time("createdAt", record.created_at);
  row.updated_at = time("updatedAt", record.updated_at);
  row.archived = archived || record.archived;
  row.archived_at = time("archivedAt", record.archived_at);
  return row;
}

void snapshot_rows(const ObjectSpec& spec, const hubspot::Record& record, const std::string& today,
                   std::vector<store::SnapshotRow>& out) {
  const auto id = id_of(record);
  if (!id) return;
  for (const auto& field : spec.snapshot_fields) {
    const auto* prop = spec.by_field(field);
    if (prop == nullptr) continue;
    // A value that does not read as its kind is left out (the day keeps the one before it). A date or a
    // text sent empty or null was cleared: recorded as null, so that the day does not keep the old one.
    auto add = [&](const hubspot::Value* v, std::string day, const char* source) {
      if (v == nullptr || v->kind == hubspot::Value::Kind::kJson) return;
      const bool unset = !v->is_string() || v->text.empty();
      if (prop->kind == ValueKind::kNumber) {
        if (unset) return;
        if (const auto value = core::parse_hubspot_number(v->text))
          out.push_back({*id, std::move(day), field, *value, source});
      } else if (unset) {
        out.push_back({*id, std::move(day), field, nullptr, source});
      } else if (prop->kind == ValueKind::kTimestamp) {
        if (const auto ms = core::parse_hubspot_timestamp(v->text))
          out.push_back({*id, std::move(day), field, static_cast<double>(*ms), source});
      } else if (v->text.find('\0') == std::string::npos) {  // unstorable: record_row reports it
        out.push_back({*id, std::move(day), field, v->text, source});
      }
    };
    // HubSpot lists history newest first: oldest first here, so the last value of a day wins.
    if (const auto* entries = record.history_of(prop->name)) {
      for (auto it = entries->rbegin(); it != entries->rend(); ++it) {
        if (const auto ts = core::parse_hubspot_timestamp(it->timestamp))
          add(&it->value, core::format_date(*ts), "backfill");
      }
    }
    add(record.property(prop->name), today, "sync");
  }
}

void Syncer::count_rejected(const std::string& type, const std::string& property) {
  metrics_
      .counter("cshealthd_sync_rejected_values_total",
               "HubSpot values that failed their type and were stored as null",
               {{"object_type", type}, {"property", property}})
      .inc();
}

void Syncer::reject(const ObjectSpec& spec, const hubspot::Record& record, const Rejection& r,
                    TypeReport& report) {
  ++report.rejected_values;
  count_rejected(spec.type, r.property);
  std::string shown = r.value.substr(0, 100);
  std::replace(shown.begin(), shown.end(), '\0', ' ');  // the NUL that made it unstorable, for one
  spdlog::warn("sync: {} {} property {} has malformed value '{}'; stored as null", spec.type, record.id,
               r.property, shown);
}

void Syncer::write_page(const ObjectSpec& spec, std::vector<hubspot::Record>& records, bool archived,
                        store::SyncState& state, TypeReport& report, bool backfill) {
  std::vector<store::CrmRow> rows;
  std::vector<std::int64_t> ids;
  std::vector<store::SnapshotRow> snaps;
  const auto today = this->today();
  std::vector<Rejection> rejected;
  for (auto& r : records) {
    if (!archived && !spec.snapshot_fields.empty()) snapshot_rows(spec, r, today, snaps);
    auto row = record_row(spec, r, archived, rejected);
    for (const auto& x : rejected) reject(spec, r, x, report);
    rejected.clear();
    if (!row) continue;
    ids.push_back(row->id);
    rows.push_back(std::move(*row));
  }
  // Their associations are read later, 1,000 records at a time: the ids wait in the state this page
  // commits.
  if (!archived && !spec.associate_to.empty()) {
    auto& pending = state.pending_associations;
    pending.insert(pending.end(), ids.begin(), ids.end());
    std::sort(pending.begin(), pending.end());
    pending.erase(std::unique(pending.begin(), pending.end()), pending.end());
  }
  // A first full sync reads records not stored yet: they go straight in (see insert_or_merge).
  insert_or_merge(db_, "sync_write_page", spec.type, "records", fresh_,
                  [&](pqxx::connection& c, bool insert) {
                    pqxx::work tx(c, "sync_write_page");
                    // The cursor commits with the rows it covers, so a commit lost in a database crash only
                    // means that page is read again: no need to wait for the WAL flush.
                    tx.exec("SET LOCAL synchronous_commit = off");
                    if (insert) {
                      store::CrmRepository::insert_new(tx, rows);
                    } else {
                      store::CrmRepository::upsert(tx, rows);
                    }
                    if (backfill_ != nullptr) {
                      store::CrmRepository::add_pending_backfill(tx, spec.type, ids);  // days: below
                    } else if (backfill && !spec.snapshot_fields.empty()) {
                      store::CrmRepository::replace_snapshots(tx, ids, snaps);
                    } else {
                      store::CrmRepository::upsert_snapshots(tx, snaps);
                    }
                    store::CrmRepository::save_state(tx, state);
                    tx.commit();
                  });
  state.committed();
  ++report.pages;
  (archived ? report.archived : report.records) += rows.size();
  report.snapshots += snaps.size();
  if (backfill_ != nullptr && !ids.empty()) {
    const auto first_id = *std::min_element(ids.begin(), ids.end());
    backfill_->add(first_id, std::move(ids), std::move(snaps));
  }
  metrics_
      .counter("cshealthd_sync_records_total", "Records written by the sync", {{"object_type", spec.type}})
      .inc(rows.size());
  if (on_page_) on_page_(report);
  if (!archived) flush_associations(spec, state, false);
  if (options_.stop.stop_requested())
    throw Interrupted("sync of " + spec.type + " stopped at a committed page");
}

std::string Syncer::today() {
  static const core::TimeZone kUtc = core::TimeZone::utc();
  return core::format_day(core::service_day(options_.zone ? *options_.zone : kUtc, clock_.now_ms()));
}

void Syncer::recover_backfill(const ObjectSpec& spec) {
  if (spec.snapshot_fields.empty()) return;
  const auto pending = db_.with_connection("sync_pending_backfill", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return store::CrmRepository::pending_backfills(tx, spec.type);
  });
  if (pending.empty()) return;
  std::size_t companies = 0;
  for (const auto& p : pending) companies += p.ids.size();
  spdlog::info(
      "sync: {} {} of an interrupted first sync still lack their back-filled days; reading them "
      "again by id",
      companies, spec.type);
  const auto history = history_names(spec);
  const auto day = today();
  for (const auto& p : pending) {
    // A page is at most 50 records (HubSpot's cap with history), within batch read's 100.
    const auto id_text = id_texts(p.ids);
    std::vector<store::SnapshotRow> snaps;
    for (const auto& r : client_.batch_read(spec.type, id_text, names(spec), history))
      snapshot_rows(spec, r, day, snaps);
    write_backfill(db_, spec.type, p.first_id, p.ids, snaps);
  }
}

store::SyncState Syncer::load_state(const std::string& type) {
  return db_.with_connection("sync_load_state", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return store::CrmRepository::load_state(tx, type);
  });
}

void Syncer::flush_associations(const ObjectSpec& spec, store::SyncState& state, bool all) {
  constexpr std::size_t kBatch = 1000;  // HubSpot's maximum for associations batch read
  if (spec.associate_to.empty()) return;
  auto& pending = state.pending_associations;
  // Full batches as they build up; the final flush takes the rest (and what an interrupted run left).
  while (pending.size() >= kBatch || (all && !pending.empty())) {
    const std::vector<std::int64_t> ids(
        pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(std::min(kBatch, pending.size())));
    // Read before the transaction: no connection is held across API calls.
    const auto id_text = id_texts(ids);
    struct Links {
      std::string to;
      std::vector<std::int64_t> from_ids;  // whose links are replaced: the batch less the failed ids
      std::vector<std::pair<std::int64_t, std::int64_t>> pairs;
    };
    std::vector<Links> links;
    for (const auto& to : spec.associate_to) {
      auto answer = client_.associations(spec.type, to, id_text);
      Links l{to, {}, {}};
      std::vector<std::int64_t> failed;
      for (const auto& f : answer.failed) {
        if (const auto id = integer_id(f)) failed.push_back(*id);
      }
      if (!answer.failed.empty()) {
        count_rejected(spec.type, "associations." + to);
        spdlog::warn(
            "sync: HubSpot could not read the {} links of {} {} (e.g. {}); their stored links are kept", to,
            answer.failed.size(), spec.type, answer.failed.front().substr(0, 32));
      }
      std::sort(failed.begin(), failed.end());
      for (const auto id : ids) {
        if (!std::binary_search(failed.begin(), failed.end(), id)) l.from_ids.push_back(id);
      }
      for (const auto& [from, tos] : answer.links) {
        const auto f = integer_id(from);
        for (const auto& t : tos) {
          const auto to_id = integer_id(t);
          if (f && to_id) {
            l.pairs.emplace_back(*f, *to_id);
            continue;
          }
          // Not an id: counted and left out; the record's other links still count.
          count_rejected(spec.type, "associations." + to);
          spdlog::warn("sync: {} {} has a {} link to '{}', which is not an id; left out", spec.type,
                       from.substr(0, 32), to, t.substr(0, 32));
        }
      }
      links.push_back(std::move(l));
    }
    store::SyncState next = state;
    next.pending_associations.erase(
        next.pending_associations.begin(),
        next.pending_associations.begin() + static_cast<std::ptrdiff_t>(ids.size()));
    // In a first sync nothing of these records is stored yet: their links go straight in as well.
    insert_or_merge(db_, "sync_write_associations", spec.type, "associations", fresh_,
                    [&](pqxx::connection& c, bool insert) {
                      pqxx::work tx(c, "sync_write_associations");
                      tx.exec("SET LOCAL synchronous_commit = off");  // as for pages: lost means read again
                      for (const auto& l : links) {
                        if (insert) {
                          store::CrmRepository::insert_new_associations(tx, spec.type, l.to, l.pairs);
                        } else {
                          store::CrmRepository::replace_associations(tx, spec.type, l.from_ids, l.to,
                                                                     l.pairs);
                        }
                      }
                      store::CrmRepository::save_state(tx, next);
                      tx.commit();
                    });
    next.committed();
    state = std::move(next);
  }
}

namespace {

// Every check is of what the SQL that stores these entries casts (crm_repository.cpp): a value it
// could not cast would fail the whole reference transaction, every run.
bool int64_text(const json& v) {
  const std::string text = v.is_string() ? v.get<std::string>() : v.is_number_integer() ? v.dump() : "";
  return integer_id(text).has_value();
}
bool optional_of(const json& o, const char* key, bool (*ok)(const json&)) {
  const auto it = o.find(key);
  return it == o.end() || it->is_null() || ok(*it);
}
bool is_string(const json& v) {
  return v.is_string();
}
bool is_bool(const json& v) {
  return v.is_boolean();
}
bool int32_number(const json& v) {
  return v.is_number_integer() && v.get<std::int64_t>() >= INT32_MIN && v.get<std::int64_t>() <= INT32_MAX &&
         !(v.is_number_unsigned() && v.get<std::uint64_t>() > INT32_MAX);
}
bool int64_number(const json& v) {
  return v.is_number_integer() && !(v.is_number_unsigned() && v.get<std::uint64_t>() > INT64_MAX);
}
bool list_of_objects(const json& v) {
  return v.is_array() && std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_object(); });
}

}  // namespace

std::string owner_problem(const json& o) {
  if (!o.is_object()) return "entry: not an object";
  if (!o.contains("id") || !int64_text(o["id"])) return "id: not an integer id";
  if (!optional_of(o, "userId", int64_number)) return "userId: not an integer in range";
  for (const char* k : {"email", "firstName", "lastName"}) {
    if (!optional_of(o, k, is_string)) return std::string(k) + ": not text";
  }
  if (!optional_of(o, "archived", is_bool)) return "archived: not true or false";
  if (!optional_of(o, "teams", list_of_objects)) return "teams: not a list of teams";
  return "";
}

std::string pipeline_problem(const json& p) {
  if (!p.is_object()) return "entry: not an object";
  if (!p.contains("id") || !p["id"].is_string() || p["id"].get<std::string>().empty()) return "id: not an id";
  if (!optional_of(p, "label", is_string)) return "label: not text";
  if (!optional_of(p, "displayOrder", int32_number)) return "displayOrder: not an integer in range";
  if (!optional_of(p, "archived", is_bool)) return "archived: not true or false";
  if (!optional_of(p, "stages", list_of_objects)) return "stages: not a list of stages";
  return "";
}

Syncer::ReferenceReport Syncer::reference_data() {
  ReferenceReport report;
  auto reject = [&](const char* what, const json& entry, const std::string& problem) {
    ++report.rejected;
    count_rejected(what, problem.substr(0, problem.find(':')));
    spdlog::warn("sync: skipped a malformed {} entry ({}): {}", what, problem,
                 entry.dump(-1, ' ', false, json::error_handler_t::replace).substr(0, 200));
  };
  json owners = json::array();
  for (const auto& o : client_.owners()) {
    if (const auto problem = owner_problem(o); !problem.empty()) {
      reject("owners", o, problem);
      continue;
    }
    owners.push_back(o);
  }
  std::vector<std::pair<std::string, json>> pipelines;
  for (const std::string type : {"deals", "tickets"}) {
    json list = json::array();
    for (const auto& p : client_.pipelines(type)) {
      if (const auto problem = pipeline_problem(p); !problem.empty()) {
        reject("pipelines", p, problem);
        continue;
      }
      list.push_back(p);
    }
    report.pipelines += list.size();
    pipelines.emplace_back(type, std::move(list));
  }
  report.owners = owners.size();
  db_.with_retry("sync_reference_data", [&](pqxx::connection& c) {
    pqxx::work tx(c, "sync_reference_data");
    store::CrmRepository::replace_owners(tx, owners.dump());
    for (const auto& [type, list] : pipelines) store::CrmRepository::replace_pipelines(tx, type, list.dump());
    tx.commit();
  });
  return report;
}

bool Syncer::sweep_due(const std::string& type, std::chrono::milliseconds interval) {
  const auto s = db_.with_connection("sync_sweep_state", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return store::CrmRepository::load_sweep(tx, type);
  });
  if (s.last_id) return true;  // one was interrupted: finish it
  if (interval.count() <= 0) return false;
  return !s.finished_age_ms || *s.finished_age_ms >= interval.count();
}

void Syncer::sweep(const ObjectSpec& spec, TypeReport& report) {
  constexpr int kBatch = 100;  // batch read's limit
  auto state = db_.with_connection("sync_sweep_state", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return store::CrmRepository::load_sweep(tx, spec.type);
  });
  std::int64_t last_id = state.last_id.value_or(0);
  if (state.last_id) spdlog::info("sync: resuming the id sweep of {} after id {}", spec.type, last_id);
  auto& deleted_total = metrics_.counter("cshealthd_sync_gone_total",
                                         "Records found gone from HubSpot by the id sweep, by reason",
                                         {{"object_type", spec.type}, {"reason", "deleted"}});
  auto& merged_total =
      metrics_.counter("cshealthd_sync_gone_total", "", {{"object_type", spec.type}, {"reason", "merged"}});
  while (true) {
    const auto ids = db_.with_connection("sync_sweep_ids", [&](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      return store::CrmRepository::live_ids(tx, spec.type, last_id, kBatch);
    });
    if (ids.empty()) break;
    // An id merged away reads as its survivor, which lists it in hs_merged_object_ids.
    std::set<std::int64_t> present;
    std::map<std::int64_t, std::int64_t> merged_into;
    for (const auto& r :
         client_.batch_read(spec.type, id_texts(ids), {"hs_object_id", "hs_merged_object_ids"})) {
      const auto id = id_of(r);
      if (!id) continue;
      present.insert(*id);
      if (const auto* m = r.property("hs_merged_object_ids"); m && m->is_string()) {
        std::string_view rest = m->text;
        while (!rest.empty()) {
          const auto cut = rest.find(';');
          if (const auto old = integer_id(std::string(rest.substr(0, cut)))) merged_into[*old] = *id;
          rest.remove_prefix(cut == std::string_view::npos ? rest.size() : cut + 1);
        }
      }
    }
    std::vector<std::pair<std::int64_t, std::int64_t>> merged;
    std::vector<std::int64_t> unaccounted;
    for (const auto id : ids) {
      if (present.count(id)) continue;
      if (const auto it = merged_into.find(id); it != merged_into.end()) {
        merged.emplace_back(id, it->second);
      } else {
        unaccounted.push_back(id);
      }
    }
    // Not live: archived since the last sync (the incremental archive walk would see it too), or gone.
    std::vector<std::int64_t> archived, deleted;
    if (!unaccounted.empty()) {
      std::set<std::int64_t> in_archive;
      for (const auto& r : client_.batch_read(spec.type, id_texts(unaccounted), {"hs_object_id"}, {}, true)) {
        if (const auto id = id_of(r)) in_archive.insert(*id);
      }
      for (const auto id : unaccounted) (in_archive.count(id) ? archived : deleted).push_back(id);
    }
    last_id = ids.back();
    db_.with_retry("sync_sweep_write", [&](pqxx::connection& c) {
      pqxx::work tx(c, "sync_sweep_write");
      store::CrmRepository::mark_gone(tx, spec.type, deleted, merged);
      store::CrmRepository::mark_archived(tx, spec.type, archived);
      store::CrmRepository::save_sweep(tx, spec.type, last_id);
      tx.commit();
    });
    for (const auto id : deleted)
      spdlog::info("sync: {} {} was deleted in HubSpot; archived here", spec.type, id);
    for (const auto& [id, into] : merged)
      spdlog::info("sync: {} {} was merged into {} in HubSpot; archived here", spec.type, id, into);
    report.swept += ids.size();
    report.deleted += deleted.size();
    report.merged += merged.size();
    report.archived += archived.size();
    deleted_total.inc(deleted.size());
    merged_total.inc(merged.size());
  }
  finish_sweep(spec.type);
}

void Syncer::finish_sweep(const std::string& type) {
  db_.with_retry("sync_sweep_done", [&](pqxx::connection& c) {
    pqxx::work tx(c, "sync_sweep_done");
    store::CrmRepository::save_sweep(tx, type, std::nullopt);
    tx.commit();
  });
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
  TypeReport report;
  report.type = spec.type;
  report.full = true;
  if (options_.count_first) {
    const json body = {{"limit", 1}, {"properties", json::array({"hs_object_id"})}};
    report.expected = client_.search(spec.type, body).total.value_or(-1);
  }
  recover_backfill(spec);
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
  const bool backfill = !state.watermark;
  fresh_ = backfill;
  if (backfill) q.properties_with_history = history_names(spec);
  std::optional<BackfillWriter> writer;
  if (backfill && !spec.snapshot_fields.empty()) writer.emplace(db_, spec.type);
  backfill_ = writer ? &*writer : nullptr;
  struct Detach {
    BackfillWriter*& writer;
    ~Detach() { writer = nullptr; }
  } detach{backfill_};
  hubspot::CursorGuard cursors("objects.list " + spec.type);
  while (true) {
    q.after = *state.full_cursor;
    auto page = client_.list(spec.type, q);
    cursors.next(page.next_after);
    if (page.next_after.empty()) {
      // Done: the next incremental sync starts from when this one began, never later.
      state.watermark = state.full_started_at;
      state.full_cursor.reset();
      state.full_started_at.reset();
      state.spec_fingerprint = spec.fingerprint();
    } else {
      state.full_cursor = page.next_after;
    }
    write_page(spec, page.results, false, state, report, backfill);
    if (page.next_after.empty()) break;
  }
  if (writer) writer->finish();
  flush_associations(spec, state, true);
  if (backfill) {
    // A first sync has just read every record: nothing stored can be gone yet, so the id sweep's
    // interval starts now instead of sweeping what was read a moment ago.
    finish_sweep(spec.type);
  }
  return report;
}

void Syncer::reread(const ObjectSpec& spec, const std::vector<std::int64_t>& ids, TypeReport& report) {
  if (ids.empty()) return;
  auto state = load_state(spec.type);
  constexpr std::size_t kBatch = 100;  // HubSpot's batch/read maximum
  for (std::size_t i = 0; i < ids.size(); i += kBatch) {
    const std::vector<std::int64_t> chunk(
        ids.begin() + static_cast<std::ptrdiff_t>(i),
        ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + kBatch)));
    auto records = client_.batch_read(spec.type, id_texts(chunk), names(spec));
    write_page(spec, records, false, state, report, false);
  }
  flush_associations(spec, state, true);
}

TypeReport Syncer::incremental(const ObjectSpec& spec) {
  auto state = load_state(spec.type);
  if (!state.watermark || state.full_cursor) return full(spec);
  if (state.spec_fingerprint != spec.fingerprint()) {
    // The mapping changed (or the records predate the typed fields): what is stored was read with
    // other properties, and only a whole re-read makes it right. History is not back-filled again.
    spdlog::warn("sync: the property mapping of {} changed since it was last read; reading it whole again",
                 spec.type);
    return full(spec);
  }
  fresh_ = false;
  recover_backfill(spec);
  TypeReport report;
  report.type = spec.type;
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
    auto page = client_.search(spec.type, body);
    if (report.expected < 0 && page.total) report.expected = *page.total;
    const std::int64_t floor = last_id;
    for (const auto& r : page.results) {
      const auto id = id_of(r);
      // A search that ignored the filter would hand back the same ids forever.
      if (id && *id <= floor) {
        throw hubspot::ApiError(hubspot::ApiError::Kind::kRejected, 200, "", "",
                                "objects.search " + spec.type +
                                    ": HubSpot ignored the filter hs_object_id > " + std::to_string(floor) +
                                    " (it returned " + r.id +
                                    "); stopping instead of reading the same records forever");
      }
      last_id = std::max(last_id, id.value_or(0));
    }
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
  flush_associations(spec, state, true);
  // Search never returns archived records: read them from the list endpoint.
  hubspot::ListQuery q;
  q.archived = true;
  q.properties = names(spec);
  hubspot::CursorGuard cursors("objects.list " + spec.type + " (archived)");
  do {
    auto page = client_.list(spec.type, q);
    cursors.next(page.next_after);
    write_page(spec, page.results, true, state, report);
    q.after = page.next_after;
  } while (!q.after.empty());
  return report;
}

}  // namespace cshealthd::sync
