#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "cshealthd/base/clock.hpp"
#include "cshealthd/base/metrics.hpp"
#include "cshealthd/config/config.hpp"
#include "cshealthd/core/schedule.hpp"
#include "cshealthd/hubspot/client.hpp"
#include "cshealthd/store/crm_repository.hpp"
#include "cshealthd/store/database.hpp"

namespace cshealthd::sync {

enum class ValueKind { kText, kNumber, kTimestamp, kBool };

struct PropertySpec {
  std::string name;  // HubSpot's internal name ("cs_mrr")
  ValueKind kind = ValueKind::kText;
  // The canonical name ("mrr") under which the typed value is stored in `fields` and shown by the
  // type's view; empty: kept in the raw properties only.
  std::string field;
};

// What to pull for one object type. Every type goes through the same code; only this differs.
struct ObjectSpec {
  std::string type;               // "companies"
  std::string modified_property;  // "hs_lastmodifieddate" ("lastmodifieddate" for contacts)
  std::vector<PropertySpec> properties;
  std::vector<std::string> associate_to;  // read and stored for each synced record
  // Fields (canonical names) recorded per record and day: a company's metrics, and the dates and texts
  // its score reads, so that a past day is scored on what was known then. The first full sync also
  // back-fills past days from HubSpot's property history.
  std::vector<std::string> snapshot_fields;

  const PropertySpec* by_field(const std::string& field) const;
  // Identifies what records read with this spec hold (properties, kinds, canonical names): when it
  // changes, stored records are stale and the type is read whole again.
  std::string fingerprint() const;
};

// What to pull, with the company and contact inputs named by the config's mapping.
std::vector<ObjectSpec> specs(const config::MappingConfig& mapping);
// The shipped mapping of DOMAIN.md §1.
std::vector<ObjectSpec> default_specs();

// A value HubSpot sent that cannot be stored as it is: stored as null (a record without a usable id is
// not stored at all).
struct Rejection {
  std::string property;  // the property's name, or "id", "createdAt", "updatedAt", "archivedAt"
  std::string value;
};

// The row a record is stored as: its raw properties as JSON (malformed values null), its typed canonical
// fields, times and archived flag. Every value left out is added to `rejected`: text in a number, an
// impossible date, a NUL character (which PostgreSQL's jsonb cannot hold). No row for a record without an
// integer id. Cleans `record` in place.
std::optional<store::CrmRow> record_row(const ObjectSpec& spec, hubspot::Record& record, bool archived,
                                        std::vector<Rejection>& rejected);
// Appends a record's daily metric rows: the days of its property history (the last value of each day)
// under "backfill", and today's values under "sync". Values that are not figures are left out.
void snapshot_rows(const ObjectSpec& spec, const hubspot::Record& record, const std::string& today,
                   std::vector<store::SnapshotRow>& out);

// Why an owner or a pipeline HubSpot listed cannot be stored ("userId: not an integer in range"), or ""
// when it can. Such entries are counted and skipped; they never fail a run.
std::string owner_problem(const nlohmann::json& owner);
std::string pipeline_problem(const nlohmann::json& pipeline);

struct SyncOptions {
  std::chrono::milliseconds overlap{
      5 * 60'000};  // re-read this much before the watermark (clock skew, index lag)
  int search_page = 200;
  // Full syncs first ask search for the record count (one search call per type), for progress ETAs.
  bool count_first = false;
  // Asked to stop (shutdown, a lost job lease): the sync ends after the page it is writing, with its
  // cursor saved, by throwing Interrupted; the next sync resumes there.
  std::stop_token stop;
  // The service's zone (schedule.time_zone): today's values are recorded under its day, the day the
  // scores are computed for (UTC when none is given).
  const core::TimeZone* zone = nullptr;
};

// A sync that stopped because it was asked to, at a committed page: not a failure.
class Interrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TypeReport {
  std::string type;
  std::uint64_t pages = 0, records = 0, archived = 0, rejected_values = 0, snapshots = 0;
  // The id sweep, when one ran: records checked, and found hard-deleted or merged away.
  std::uint64_t swept = 0, deleted = 0, merged = 0;
  bool skipped = false;  // another sync of this type was running (another replica, a cron job)
  bool full = false;
  double seconds = 0;          // wall time of the whole type
  std::int64_t expected = -1;  // records HubSpot says match (-1: unknown), for an ETA
};

class BackfillWriter;

// Pulls HubSpot objects into PostgreSQL. Each page is written in one transaction together with the
// cursor that follows it, so an interrupted sync resumes where it stopped.
class Syncer {
 public:
  Syncer(store::Database& db, hubspot::HubSpotClient& client, Clock& clock, metrics::Registry& metrics,
         SyncOptions options = {});

  // Full: walks the list endpoint. Resumes an interrupted full sync of this type.
  TypeReport full(const ObjectSpec& spec);
  // Incremental: searches records modified since the watermark (less the overlap), walking
  // hs_object_id so the 10,000-result cap never applies; then marks archived records. Falls back to
  // a full sync for a type never synced.
  TypeReport incremental(const ObjectSpec& spec);
  // Reads the records of `ids` by id (no search lag: what a webhook just said changed) and writes them
  // as a page of the sync, their associations included, into `report`.
  void reread(const ObjectSpec& spec, const std::vector<std::int64_t>& ids, TypeReport& report);

  // Whether the id sweep of this type is due: one is in progress, or the last completed `interval` ago
  // or more (never, with an interval of 0, unless forced).
  bool sweep_due(const std::string& type, std::chrono::milliseconds interval);
  // The id sweep: reads every stored live id back from HubSpot (ids only, 100 per call, on the client's
  // rate budget) and archives what HubSpot no longer has, with deleted_at, or merged_into when the id was
  // merged into another record. Resumable: each batch commits with its progress. Adds to `report`.
  void sweep(const ObjectSpec& spec, TypeReport& report);

  // Owners (the CSMs tasks go to) and the deal and ticket pipelines: small, read whole each time.
  // Returns the number of owners and pipelines stored; malformed entries are counted and skipped.
  struct ReferenceReport {
    std::uint64_t owners = 0, pipelines = 0, rejected = 0;
  };
  ReferenceReport reference_data();

  // Mapped properties the portal does not have ("companies.cs_goal_status"), via the properties API.
  // A missing input lowers the score's coverage; it is reported, never fatal.
  std::vector<std::string> missing_properties(const std::vector<ObjectSpec>& specs);

  // Called after every committed page (for progress displays).
  void on_page(std::function<void(const TypeReport&)> f) { on_page_ = std::move(f); }

 private:
  // backfill: the page of a first full sync, whose snapshots (history and today) replace the stored ones.
  void write_page(const ObjectSpec& spec, std::vector<hubspot::Record>& records, bool archived,
                  store::SyncState& state, TypeReport& report, bool backfill = false);
  // Reads associations for pending ids, 1,000 per call; with `all`, also a final partial batch.
  void flush_associations(const ObjectSpec& spec, store::SyncState& state, bool all);
  store::SyncState load_state(const std::string& type);
  // Writes the back-filled days an interrupted first sync left unwritten (sync_pending_backfill),
  // reading those companies again by id, with their property history.
  void recover_backfill(const ObjectSpec& spec);
  // Records a completed id sweep of `type` (its interval starts again now).
  void finish_sweep(const std::string& type);
  std::string today();  // YYYY-MM-DD: the day today's values are recorded under (the service's day)
  // cshealthd_sync_rejected_values_total{object_type, property}
  void count_rejected(const std::string& type, const std::string& property);
  // Counts and logs a malformed value (stored as null).
  void reject(const ObjectSpec& spec, const hubspot::Record& record, const Rejection& r, TypeReport& report);

  store::Database& db_;
  hubspot::HubSpotClient& client_;
  Clock& clock_;
  metrics::Registry& metrics_;
  SyncOptions options_;
  std::function<void(const TypeReport&)> on_page_;
  // A first full sync whose records, and their associations, are not stored yet: COPYed straight in.
  bool fresh_ = false;
  // During a first full sync of a type with snapshots: writes each page's back-filled days beside the
  // page chain, so a page's transaction holds its records and cursor only.
  BackfillWriter* backfill_ = nullptr;
};

}  // namespace cshealthd::sync
