#pragma once
// What is written on each company's output properties, as planned (the outbox carries it there): the
// table writeback_companies. Every workflow that writes a company property records it here, in the
// transaction that enqueues it, so the alerts' next plan compares with what HubSpot will hold; a property
// update that is dead-lettered is forgotten again (the next plan plans it anew).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <pqxx/pqxx>

namespace cshealthd::outbox {

class WrittenProperties {
 public:
  using Values = std::map<std::string, std::string>;
  // Each company's written properties become `written` (COPY, then one upsert).
  static void replace(pqxx::work& tx, const std::map<std::int64_t, Values>& written);
  // Adds to (or changes) what is written on one company.
  static void merge(pqxx::work& tx, std::int64_t company_id, const Values& values);
  // Never reached HubSpot: no longer written.
  static void forget(pqxx::work& tx, std::int64_t company_id, const std::vector<std::string>& properties);
};

}  // namespace cshealthd::outbox
