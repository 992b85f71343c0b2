#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

namespace cshealthd::store {

// COPY … FROM STDIN (text format) with the lines built here, a run of plain text at a time, and sent in
// large blocks. libpqxx 6.4's stream_to escapes every field one character at a time and sends each row
// on its own; in a first sync that escaping alone was 3% of all CPU.
//
//   CopyWriter copy(tx, "crm_objects", {"object_type", "id", "properties"});
//   copy.text(type).number(id).text(json).end_row();
//   copy.complete();
//
// Text must be valid in the connection's encoding (UTF-8): every byte that COPY treats specially is
// ASCII, so escaping byte by byte is safe. A writer destroyed before complete() ends the COPY as well;
// the transaction is failing then anyway.
class CopyWriter {
 public:
  CopyWriter(pqxx::work& tx, const std::string& table, const std::vector<std::string>& columns);
  ~CopyWriter();
  CopyWriter(const CopyWriter&) = delete;
  CopyWriter& operator=(const CopyWriter&) = delete;

  CopyWriter& text(std::string_view value);
  CopyWriter& text_or_null(std::string_view value) { return value.empty() ? null() : text(value); }
  CopyWriter& number(std::int64_t value);
  CopyWriter& number(double value);  // finite values: the shortest text that reads back the same
  CopyWriter& boolean(bool value);
  CopyWriter& null();
  void end_row();
  // Sends what is left and ends the COPY; errors (a constraint, a bad value) surface here at the latest.
  void complete();

 private:
  void separate();
  void flush();

  class Stream;
  std::unique_ptr<Stream> stream_;
  std::string buffer_;
  bool row_started_ = false;
};

}  // namespace cshealthd::store
