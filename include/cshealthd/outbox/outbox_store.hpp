#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/outbox/intents.hpp"
#include "cshealthd/store/database.hpp"

namespace cshealthd::outbox {

// An outbox row as operators see it (GET /v1/outbox, `cshealthd outbox`).
struct OutboxItem {
  std::int64_t id = 0;
  std::string key, kind, state;
  std::optional<std::int64_t> company_id, run_id;
  nlohmann::json payload;
  int attempts = 0;
  std::optional<std::string> hubspot_id, error;
  std::string created_at, updated_at;
};

// A row the deliverer is to send, its intent decoded.
struct Pending {
  std::int64_t id = 0;
  std::string key;
  std::int64_t company_id = 0;
  int attempts = 0;
  Intent intent;
};

// A task close whose task has settled: its HubSpot id ("" when it was never created) and body.
struct ReadyClose {
  std::int64_t id = 0;
  bool task_dead = false;
  std::string task_id, body;
};

// The outbox table: every statement on it. `enqueue` joins the caller's transaction (a workflow records
// its plan and its outbox rows atomically); the rest run in transactions of their own.
class OutboxStore {
 public:
  explicit OutboxStore(store::Database& db) : db_(db) {}

  // COPY into a staging table, then one insert: a key already in the outbox is skipped (keys are unique
  // for ever, so a plan recorded twice asks for nothing twice).
  static void enqueue(pqxx::work& tx, const std::vector<Item>& items, std::optional<std::int64_t> run_id);

  // ---- delivery ----
  // Pending rows of `kind` (with `sending` too when `with_sending`), oldest first.
  std::vector<Pending> pending(Kind kind, std::size_t limit, bool with_sending = false);
  // Every pending property update of the next `companies` companies above `after_company`.
  std::vector<Pending> pending_properties(std::size_t companies, std::int64_t after_company = 0);
  // Creates of `kind` sent at least `lag` ago with no answer recorded: in doubt.
  std::vector<Pending> in_doubt(Kind kind, std::chrono::milliseconds lag, std::size_t limit);
  // Milliseconds until the oldest create in doubt is older than `lag` (of tasks when `tasks`, of
  // records when `records`, and deals); nullopt when none is in doubt.
  std::optional<std::int64_t> in_doubt_wait_ms(std::chrono::milliseconds lag, bool tasks, bool records);
  // Pending closes whose task is done or dead.
  std::vector<ReadyClose> ready_closes(std::size_t limit);
  // Pending Slack messages whose backoff (2^attempts s, at most 300 s) has passed.
  std::vector<Pending> slack_due(std::size_t limit);

  // Done, with the HubSpot id of those that have one; `note` kept as the row's error text.
  void mark_done(const std::vector<std::int64_t>& ids,
                 const std::map<std::int64_t, std::string>& hubspot_ids = {}, const std::string& note = {});
  // Dead with `error`; the properties of a dead property update are no longer written
  // (WrittenProperties::forget, in the same transaction).
  void mark_dead(const std::vector<std::int64_t>& ids, const std::string& error);
  // Sent: attempts + 1, in doubt until an answer is recorded.
  void mark_sending(const std::vector<std::int64_t>& ids);
  // A send that created nothing (HubSpot refused the batch): pending again, that attempt not counted.
  void back_to_pending(const std::vector<std::int64_t>& ids);
  // Looked for and not found: pending again, to be created.
  void recreate(const std::vector<std::int64_t>& ids);
  // A failed Slack post: attempts + 1 and the error, for the backoff.
  void failed_attempt(std::int64_t id, const std::string& error);

  // ---- operators ----
  std::vector<OutboxItem> list(const std::optional<std::string>& state, std::size_t limit,
                               std::int64_t before);
  std::optional<OutboxItem> get(std::int64_t id);
  // A dead item back to pending, its attempts reset; nullopt when there is no such dead item.
  std::optional<OutboxItem> retry(std::int64_t id);
  std::map<std::string, std::int64_t> counts();

 private:
  std::vector<Pending> fetch(const char* name, const std::string& sql,
                             const std::vector<std::string>& params);
  void update(const char* name, const std::string& set, const std::vector<std::int64_t>& ids,
              const std::string& also = {});

  store::Database& db_;
};

}  // namespace cshealthd::outbox
