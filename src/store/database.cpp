#include "cshealthd/store/database.hpp"

namespace cshealthd::store {

std::string with_connect_timeout(const std::string& conninfo, int seconds) {
  if (conninfo.find("connect_timeout") != std::string::npos) return conninfo;
  const std::string kv = "connect_timeout=" + std::to_string(seconds);
  if (conninfo.rfind("postgresql://", 0) == 0 || conninfo.rfind("postgres://", 0) == 0) {
    return conninfo + (conninfo.find('?') == std::string::npos ? "?" : "&") + kv;
  }
  return conninfo + (conninfo.empty() ? "" : " ") + kv;
}

Database::Database(std::string conninfo, PoolOptions options)
    : conninfo_(with_connect_timeout(conninfo, options.connect_timeout_s)), options_(options) {}

Database::~Database() = default;

Database::Lease::~Lease() {
  if (db_ && conn_) db_->release(std::move(conn_));
}

std::unique_ptr<pqxx::connection> Database::open() {
  auto c = std::make_unique<pqxx::connection>(conninfo_);
  pqxx::nontransaction tx(*c);
  tx.exec("SET application_name = 'cshealthd'");
  tx.exec("SET statement_timeout = " + std::to_string(options_.statement_timeout_ms));
  return c;
}

Database::Lease Database::acquire() {
  std::unique_lock lock(mutex_);
  while (true) {
    while (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      if (c->is_open()) return Lease(this, std::move(c));
      --open_count_;
    }
    if (open_count_ < options_.size) {
      ++open_count_;
      lock.unlock();
      try {
        return Lease(this, open());
      } catch (...) {
        lock.lock();
        --open_count_;
        available_.notify_one();
        throw;
      }
    }
    if (available_.wait_for(lock, options_.acquire_timeout) == std::cv_status::timeout && idle_.empty() &&
        open_count_ >= options_.size) {
      throw StoreError(StoreError::Kind::kTransient, "database pool: no connection free within the timeout");
    }
  }
}

void Database::release(std::unique_ptr<pqxx::connection> c) {
  std::lock_guard lock(mutex_);
  if (c->is_open()) {
    idle_.push_back(std::move(c));
  } else {
    --open_count_;
  }
  available_.notify_one();
}

bool Database::ping() {
  try {
    with_connection("ping", [](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      tx.exec("SELECT 1");
    });
    return true;
  } catch (const StoreError&) {
    return false;
  }
}

}  // namespace cshealthd::store
