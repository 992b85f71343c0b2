#include "cshealthd/workflow/participant.hpp"

#include "cshealthd/store/session_lock.hpp"

namespace cshealthd::workflow {

void lock_planning(pqxx::work& tx) {
  tx.exec_params("SELECT pg_advisory_xact_lock($1)", store::SessionLock::key("cshealthd.writeback.plan"));
}

}  // namespace cshealthd::workflow
