#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <pqxx/pqxx>

namespace cshealthd::store {

// A PostgreSQL session-level advisory lock, on a connection of its own: it is held for as long as a
// sync of one object type runs, while the pool's connections come and go. It is released when this
// object goes, and by PostgreSQL itself when the holder dies (kill -9, a lost connection), so a dead
// replica never keeps it.
class SessionLock {
 public:
  // Tries to take the lock named `name` for up to `wait` (0: once); held() says whether it did.
  SessionLock(const std::string& conninfo, std::string_view name, std::chrono::milliseconds wait);
  ~SessionLock();
  SessionLock(const SessionLock&) = delete;
  SessionLock& operator=(const SessionLock&) = delete;

  bool held() const { return held_; }
  // Is the session (and with it the lock) still there? A round trip; false once it was lost.
  bool alive();
  // The 64-bit key a name maps to (FNV-1a: stable across builds, replicas and versions).
  static std::int64_t key(std::string_view name);

 private:
  std::unique_ptr<pqxx::connection> conn_;  // the lock lives as long as this session
  std::int64_t key_ = 0;
  bool held_ = false;
};

}  // namespace cshealthd::store
