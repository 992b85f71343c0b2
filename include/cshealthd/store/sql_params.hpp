#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

namespace cshealthd::store {

// Parameters libpqxx 6 cannot spell itself: array literals, and NULL for an absent value.

// {1,2,3}
std::string bigint_array(const std::vector<std::int64_t>& ids);
// {"a","b \"c\""}: each element quoted and escaped.
std::string text_array(const std::vector<std::string>& items);

// A nullable text parameter: the value as text, or a null pointer (SQL NULL). The pointer lives as long
// as the optional it came from.
inline const char* nullable(const std::optional<std::string>& v) {
  return v ? v->c_str() : nullptr;
}

// An optional number as text in `storage`, or NULL.
inline const char* nullable(const std::optional<std::int64_t>& v, std::string& storage) {
  if (!v) return nullptr;
  storage = std::to_string(*v);
  return storage.c_str();
}

// And the other way: a nullable column as an optional.
inline std::optional<std::int64_t> optional_int(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::int64_t>();
}
inline std::optional<std::string> optional_text(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::string>();
}

// A statement on a hot path (run per company or per item): prepared on the transaction's connection the
// first time it runs there, then only executed. `name` is unique to `sql` across the service.
template <typename... Args>
pqxx::result exec_prepared(pqxx::transaction_base& tx, const char* name, const std::string& sql,
                           Args&&... args) {
  tx.conn().prepare(name, sql);  // the same definition again: nothing to do (libpqxx keeps one per name)
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

}  // namespace cshealthd::store
