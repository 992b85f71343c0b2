#pragma once
#include <exception>
#include <stdexcept>
#include <string>

namespace cshealthd::store {

// PostgreSQL failures as the rest of the service sees them. Only kTransient is retried; an in-doubt
// commit is reconciled by the caller, never blindly replayed.
class StoreError : public std::runtime_error {
 public:
  // kStale: stored state is not what this process last wrote there (a commit it was told succeeded was
  // lost in a server crash): start again from what is stored.
  enum class Kind { kTransient, kConflict, kInDoubt, kPermanent, kStale };
  StoreError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  Kind kind() const { return kind_; }
  bool transient() const { return kind_ == Kind::kTransient; }

 private:
  Kind kind_;
};

// Maps the exception in flight (a pqxx or std exception) to a StoreError; `what` names the operation
// (a named statement or step) so logs and metrics can say which one failed.
[[noreturn]] void rethrow_as_store_error(const std::string& what);

}  // namespace cshealthd::store
