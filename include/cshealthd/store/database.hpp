#pragma once
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "cshealthd/store/errors.hpp"

namespace cshealthd::store {

struct PoolOptions {
  int size = 4;
  int statement_timeout_ms = 30'000;  // 0 = none
  int connect_timeout_s = 10;
  std::chrono::milliseconds acquire_timeout{30'000};
};

// A small pool of libpqxx connections: each worker thread borrows one for a unit of work. Connections
// are opened lazily, carry a statement_timeout, and a broken one is dropped on return.
class Database {
 public:
  Database(std::string conninfo, PoolOptions options);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  class Lease {
   public:
    Lease(Database* db, std::unique_ptr<pqxx::connection> c) : db_(db), conn_(std::move(c)) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pqxx::connection& operator*() { return *conn_; }
    pqxx::connection* operator->() { return conn_.get(); }

   private:
    Database* db_;
    std::unique_ptr<pqxx::connection> conn_;
  };

  Lease acquire();

  // Runs f(pqxx::connection&) on a pooled connection; every failure leaves as a StoreError naming `what`.
  template <typename F>
  auto with_connection(const std::string& what, F&& f) {
    try {
      Lease lease = acquire();
      return f(*lease);
    } catch (...) {
      rethrow_as_store_error(what);
    }
  }

  // Like with_connection, retrying transient failures (connection lost, serialization failure, server
  // restarting) with bounded exponential backoff. f must be safe to repeat: a whole transaction.
  template <typename F>
  auto with_retry(const std::string& what, F&& f, int attempts = 5) {
    for (int attempt = 1;; ++attempt) {
      try {
        return with_connection(what, f);
      } catch (const StoreError& e) {
        if (!e.transient() || attempt >= attempts) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(50 << std::min(attempt, 6)));
      }
    }
  }

  // SELECT 1 with a short timeout; false when the server cannot be reached.
  bool ping();

  const std::string& conninfo() const { return conninfo_; }

 private:
  std::unique_ptr<pqxx::connection> open();
  void release(std::unique_ptr<pqxx::connection> c);

  std::string conninfo_;
  PoolOptions options_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  int open_count_ = 0;
};

// Adds connect_timeout to a conninfo string or postgresql:// URL unless it already names one.
std::string with_connect_timeout(const std::string& conninfo, int seconds);

}  // namespace cshealthd::store
