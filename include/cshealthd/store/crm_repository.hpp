#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <pqxx/pqxx>

namespace cshealthd::store {

struct CrmRow {
  std::string object_type;
  std::int64_t id = 0;
  std::string properties_json;         // a JSON object: the raw properties
  std::string fields_json = "{}";      // a JSON object: the typed canonical fields
  std::string created_at, updated_at;  // ISO 8601; "" = unknown
  bool archived = false;
  std::string archived_at;
};

// One field of a company as seen on one day: a number (a metric; a date as epoch milliseconds), a text, or
// null (a date or text the record no longer holds: cleared in HubSpot).
struct SnapshotRow {
  std::int64_t company_id = 0;
  std::string day;  // YYYY-MM-DD (UTC)
  std::string field;
  using Value = std::variant<double, std::string, std::nullptr_t>;
  Value value;
  std::string source;  // sync | backfill
};

struct SyncState {
  std::string object_type;
  std::optional<std::string> watermark;  // ISO 8601
  std::optional<std::string> full_cursor;
  std::optional<std::string> full_started_at;
  std::optional<std::int64_t> incr_last_id;
  std::optional<std::string> incr_started_at;
  std::optional<std::string> spec_fingerprint;  // the ObjectSpec the stored records were read with
  // Records written whose associations are still to be read (ascending, unique). They commit with the
  // page that wrote the records and leave with the association batch that read theirs.
  std::vector<std::int64_t> pending_associations;
  // The stored row's version (migration 0013) and whether there is one: save_state() writes only over
  // the version it was loaded (or last saved) with.
  std::int64_t version = 0;
  bool stored = false;
  // After the transaction that saved this state committed: it is the stored row's next version.
  void committed() {
    version = stored ? version + 1 : 1;
    stored = true;
  }
};

// Named SQL for the synced CRM data. Bulk writes stream rows (COPY) into a temporary table and merge
// them with one INSERT … ON CONFLICT, never row by row.
class CrmRepository {
 public:
  static void upsert(pqxx::work& tx, const std::vector<CrmRow>& rows);
  // The won deal stages: closedwon, `extra` (onboarding.won_stages), and each deal pipeline's closed
  // stage with probability 1.0 as the sync last read them.
  static std::set<std::string> won_stages(pqxx::transaction_base& tx, const std::set<std::string>& extra);
  // An owner's name for task texts: "First Last", else the email, else the id.
  static std::string owner_name(pqxx::transaction_base& tx, const std::string& id);
  // The companies a sync since `since` (a timestamptz) wrote, or wrote a record associated with,
  // ascending.
  static std::vector<std::int64_t> companies_changed_since(pqxx::transaction_base& tx,
                                                           const std::string& since);
  // An owner's team ids, the primary team first.
  static std::vector<std::string> owner_teams(pqxx::transaction_base& tx, const std::string& id);
  // The active owners of `ids` and of `teams`, in id order; archived ones never.
  static std::vector<std::string> active_owners(pqxx::transaction_base& tx,
                                                const std::vector<std::int64_t>& ids,
                                                const std::vector<std::string>& teams);
  // Whether the owner is archived; nullopt when the sync has not read it (yet).
  static std::optional<bool> owner_archived(pqxx::transaction_base& tx, std::int64_t id);
  // The company's owner id; "" when it has none (or is not stored).
  static std::string company_owner(pqxx::transaction_base& tx, std::int64_t company_id);
  // Records not stored yet (a first full sync), COPYed straight into crm_objects: no staging, no
  // conflict checks. A record that is stored after all fails the transaction with a unique violation
  // (StoreError kConflict once translated); the caller then writes the page with upsert().
  static void insert_new(pqxx::work& tx, const std::vector<CrmRow>& rows);
  // Replaces the associations from `from_ids` (of from_type) to to_type with `pairs`.
  static void replace_associations(pqxx::work& tx, const std::string& from_type,
                                   const std::vector<std::int64_t>& from_ids, const std::string& to_type,
                                   const std::vector<std::pair<std::int64_t, std::int64_t>>& pairs);
  // Links of records just inserted (a first full sync), COPYed straight in; duplicates in `pairs` are
  // written once. A link stored after all fails with a unique violation, as insert_new() does.
  static void insert_new_associations(pqxx::work& tx, const std::string& from_type,
                                      const std::string& to_type,
                                      std::vector<std::pair<std::int64_t, std::int64_t>> pairs);
  // Merges into the companies' days: a later row for the same (company, metric, day) replaces an earlier
  // one; a back-filled value never replaces one the sync recorded itself.
  static void upsert_snapshots(pqxx::work& tx, const std::vector<SnapshotRow>& rows);
  // A first sync: the companies' snapshots become exactly `rows` (their history and today), written by
  // COPY straight into the table. This is most of what a first full sync writes.
  static void replace_snapshots(pqxx::work& tx, const std::vector<std::int64_t>& company_ids,
                                const std::vector<SnapshotRow>& rows);
  // The companies of a first sync's page whose back-filled days are still to be written (see migration
  // 0010): added with the page, finished with the days; a key is the page's lowest id.
  struct PendingBackfill {
    std::int64_t first_id = 0;
    std::vector<std::int64_t> ids;
  };
  static void add_pending_backfill(pqxx::work& tx, const std::string& object_type,
                                   const std::vector<std::int64_t>& ids);
  static void finish_backfill(pqxx::work& tx, const std::string& object_type, std::int64_t first_id);
  static std::vector<PendingBackfill> pending_backfills(pqxx::transaction_base& tx,
                                                        const std::string& object_type);
  // Owners as HubSpot lists them (a JSON array, ids numeric); owners no longer listed are marked archived.
  static void replace_owners(pqxx::work& tx, const std::string& owners_json);
  // One object type's pipelines (a JSON array); pipelines no longer listed are marked archived.
  static void replace_pipelines(pqxx::work& tx, const std::string& object_type,
                                const std::string& pipelines_json);
  // The id sweep (migration 0012). Ids of records stored as live, ascending, after `after_id`.
  static std::vector<std::int64_t> live_ids(pqxx::transaction_base& tx, const std::string& object_type,
                                            std::int64_t after_id, int limit);
  // Records HubSpot no longer has: archived, with deleted_at, and merged_into where one was merged.
  static void mark_gone(pqxx::work& tx, const std::string& object_type,
                        const std::vector<std::int64_t>& deleted,
                        const std::vector<std::pair<std::int64_t, std::int64_t>>& merged);
  // Records HubSpot has archived since they were last read.
  static void mark_archived(pqxx::work& tx, const std::string& object_type,
                            const std::vector<std::int64_t>& ids);
  struct SweepState {
    std::optional<std::int64_t> last_id;          // a sweep in progress: checked up to here
    std::optional<std::int64_t> finished_age_ms;  // since the last sweep completed
  };
  static SweepState load_sweep(pqxx::transaction_base& tx, const std::string& object_type);
  // Progress (last_id) or, with nullopt, a completed sweep.
  static void save_sweep(pqxx::work& tx, const std::string& object_type, std::optional<std::int64_t> last_id);
  static SyncState load_state(pqxx::transaction_base& tx, const std::string& object_type);
  // Writes `s` over the stored row of version s.version (or as the first row); throws StoreError kStale
  // when the stored row is not that one. The caller moves s.version on once the transaction commits.
  static void save_state(pqxx::work& tx, const SyncState& s);
};

}  // namespace cshealthd::store
