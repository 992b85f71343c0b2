#include "cshealthd/store/session_lock.hpp"

#include <thread>

#include "cshealthd/store/errors.hpp"

namespace cshealthd::store {

std::int64_t SessionLock::key(std::string_view name) {
  std::uint64_t h = 1469598103934665603ULL;
  for (const unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  return static_cast<std::int64_t>(h);
}

SessionLock::SessionLock(const std::string& conninfo, std::string_view name, std::chrono::milliseconds wait)
    : key_(key(name)) {
  try {
    conn_ = std::make_unique<pqxx::connection>(conninfo);
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (true) {
      pqxx::nontransaction tx(*conn_);
      held_ = tx.exec_params1("SELECT pg_try_advisory_lock($1)", key_)[0].as<bool>();
      if (held_ || std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  } catch (...) {
    rethrow_as_store_error("advisory lock " + std::string(name));
  }
}

bool SessionLock::alive() {
  if (!conn_) return false;
  try {
    pqxx::nontransaction tx(*conn_);
    tx.exec("SELECT 1");
    return true;
  } catch (const std::exception&) {
    conn_.reset();
    held_ = false;
    return false;
  }
}

// Closing the session releases its advisory locks: no statement is sent, so a connection the server
// already dropped (it restarted, say) needs nothing from it.
SessionLock::~SessionLock() = default;

}  // namespace cshealthd::store
