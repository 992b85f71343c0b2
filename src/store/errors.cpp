#include "cshealthd/store/errors.hpp"

#include <pqxx/pqxx>

#include "cshealthd/base/secret.hpp"

namespace cshealthd::store {
namespace {

StoreError::Kind classify_sqlstate(const std::string& state) {
  if (state.rfind("08", 0) == 0) return StoreError::Kind::kTransient;             // connection exception
  if (state == "40001" || state == "40P01") return StoreError::Kind::kTransient;  // serialization, deadlock
  if (state == "57P01" || state == "57P02" || state == "57P03")
    return StoreError::Kind::kTransient;                      // shutdown
  if (state == "57014") return StoreError::Kind::kTransient;  // statement timeout / cancel
  if (state == "53300") return StoreError::Kind::kTransient;  // too many connections
  if (state == "23505") return StoreError::Kind::kConflict;   // unique violation
  return StoreError::Kind::kPermanent;
}

}  // namespace

// libpq may quote the connection string it was given (a malformed URL, say): never a password.
void rethrow_as_store_error(const std::string& what) {
  try {
    throw;
  } catch (const StoreError&) {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    throw StoreError(StoreError::Kind::kInDoubt,
                     what + ": commit outcome unknown: " + redact_passwords(e.what()));
  } catch (const pqxx::broken_connection& e) {
    throw StoreError(StoreError::Kind::kTransient, what + ": connection lost: " + redact_passwords(e.what()));
  } catch (const pqxx::sql_error& e) {
    throw StoreError(classify_sqlstate(e.sqlstate()), what + ": " + redact_passwords(e.what()));
  } catch (const std::exception& e) {
    throw StoreError(StoreError::Kind::kPermanent, what + ": " + redact_passwords(e.what()));
  }
}

}  // namespace cshealthd::store
