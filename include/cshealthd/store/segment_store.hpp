#pragma once
// What the Segment-compatible source keeps (tables segment_messages, segment_members, segment_activity,
// segment_dirty): the messageIds seen, each user's companies, each user's days, and the company days whose
// figures must be computed again. Never an event itself. Each call joins the caller's transaction.
#include <cstdint>
#include <vector>

#include <pqxx/pqxx>

#include "cshealthd/core/segment.hpp"
#include "cshealthd/store/usage_store.hpp"

namespace cshealthd::store {

class SegmentStore {
 public:
  // Records the events' messageIds; true for each event not seen before (the first of a messageId
  // repeated within `events` too; an event without one is always new).
  static std::vector<bool> fresh(pqxx::work& tx, const std::vector<core::SegmentEvent>& events);

  // Adds activity (logins add up, features join) and memberships, and marks the company days they
  // change for settling.
  static void add(pqxx::work& tx, const core::SegmentActivity& activity);

  struct Settled {
    std::size_t marks = 0;  // marks taken from segment_dirty (a company day may be marked twice)
    std::size_t days = 0;   // the company days they mark (at most `limit`)
    std::size_t rows = 0;   // company days whose figures were computed
    UsageStore::Stored stored;
  };
  // Takes the marks of up to `limit` company days, the oldest first (only the leading replica settles), and
  // computes the figures of each day they touch up to `today`, each over its 30-day window: active users
  // (distinct users active), logins (when `logins`), features used (distinct, when `features`). Stored as
  // usage from the source "segment" (UsageStore::put: matched to companies, or quarantined).
  static Settled settle(pqxx::work& tx, core::UsageKeyKind group_key, bool logins, bool features,
                        std::int32_t today, std::size_t limit);

  // Forgets what is older than any figure still computed needs: activity before `oldest_day` - 29,
  // messageIds received before `oldest_day`, memberships unused since with no activity left. At most
  // `limit` rows of each; returns how many went.
  static std::size_t prune(pqxx::work& tx, std::int32_t oldest_day, std::size_t limit);

  // Marks of company days waiting to be settled.
  static std::int64_t backlog(pqxx::transaction_base& tx);
};

}  // namespace cshealthd::store
