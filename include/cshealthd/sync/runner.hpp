#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cshealthd/hubspot/client_factory.hpp"
#include "cshealthd/sync/syncer.hpp"

namespace cshealthd::sync {

struct RunOptions {
  bool full = false;
  int parallelism = 3;  // object types synced at once; they share the client budget
  SyncOptions sync;
  std::chrono::milliseconds sweep_interval{0};  // the id sweep runs when its last one is this old (0: never)
  bool sweep_now = false;                       // run the id sweep of every type whatever its age
  // Another process syncing a type: wait this long for it, then skip the type (reported, not a failure).
  std::chrono::milliseconds lock_wait{0};
  // Records to read by id after a type's incremental sync, under its lock (type -> ids): changes a
  // webhook announced, which HubSpot's search may not show yet.
  std::map<std::string, std::vector<std::int64_t>> reread;
};

struct RunReport {
  std::vector<TypeReport> types;  // in the order of the specs
  Syncer::ReferenceReport reference;
  std::vector<std::string> missing_properties;
  hubspot::HubSpotClient::Stats api;
  std::vector<std::string> failures;     // "tickets: <error>" for each type that failed; the others finished
  std::vector<std::string> skipped;      // types another process was syncing
  std::vector<std::string> interrupted;  // types stopped at a committed page (options.sync.stop)
  bool ok() const { return failures.empty(); }
  bool complete() const { return failures.empty() && interrupted.empty(); }
};

// A whole sync run: checks the mapping, refreshes owners and pipelines, then syncs the object types on
// `parallelism` workers, each with its own client and database connection. A type that fails is
// reported and leaves its cursor where it stopped; the other types still finish.
class Runner {
 public:
  Runner(store::Database& db, hubspot::ClientFactory clients, Clock& clock, metrics::Registry& metrics);

  // `on_page` is called after every committed page, from worker threads, one call at a time.
  RunReport run(const std::vector<ObjectSpec>& specs, const RunOptions& options,
                std::function<void(const TypeReport&)> on_page = {});

 private:
  void release_usage();

  store::Database& db_;
  hubspot::ClientFactory clients_;
  Clock& clock_;
  metrics::Registry& metrics_;
};

}  // namespace cshealthd::sync
