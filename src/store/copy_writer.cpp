#include "cshealthd/store/copy_writer.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>

#include <pqxx/tablewriter>

namespace cshealthd::store {
namespace {

constexpr std::size_t kBlock = 256 * 1024;  // bytes sent per block

}  // namespace

// pqxx 6.4 writes raw COPY lines only through tablewriter, deprecated in favour of stream_to, whose raw
// writer is private. A line may hold many rows: it is sent as it is, with one newline added.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
class CopyWriter::Stream {
 public:
  Stream(pqxx::work& tx, const std::string& table, const std::vector<std::string>& columns)
      : writer_(tx, table, columns.begin(), columns.end()) {}
  void write(const std::string& rows) { writer_.write_raw_line(rows); }
  void complete() { writer_.complete(); }

 private:
  pqxx::tablewriter writer_;
};
#pragma GCC diagnostic pop

CopyWriter::CopyWriter(pqxx::work& tx, const std::string& table, const std::vector<std::string>& columns)
    : stream_(std::make_unique<Stream>(tx, table, columns)) {
  buffer_.reserve(kBlock + 4096);
}

CopyWriter::~CopyWriter() = default;

void CopyWriter::separate() {
  if (row_started_) buffer_ += '\t';
  row_started_ = true;
}

CopyWriter& CopyWriter::text(std::string_view value) {
  separate();
  // Backslash, newline, carriage return and tab (the delimiter) are escaped; everything else is data.
  std::size_t run = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c != '\\' && c != '\n' && c != '\r' && c != '\t') continue;
    buffer_.append(value.data() + run, i - run);
    buffer_ += '\\';
    buffer_ += c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : '\\';
    run = i + 1;
  }
  buffer_.append(value.data() + run, value.size() - run);
  return *this;
}

CopyWriter& CopyWriter::number(std::int64_t value) {
  separate();
  char text[24];
  const auto [end, ec] = std::to_chars(text, text + sizeof text, value);
  buffer_.append(text, end);
  return *this;
}

CopyWriter& CopyWriter::number(double value) {
  if (!std::isfinite(value)) throw std::invalid_argument("CopyWriter: a number that is not finite");
  separate();
  char text[32];
  const auto [end, ec] = std::to_chars(text, text + sizeof text, value);
  buffer_.append(text, end);
  return *this;
}

CopyWriter& CopyWriter::boolean(bool value) {
  separate();
  buffer_ += value ? 't' : 'f';
  return *this;
}

CopyWriter& CopyWriter::null() {
  separate();
  buffer_ += "\\N";
  return *this;
}

void CopyWriter::end_row() {
  buffer_ += '\n';
  row_started_ = false;
  if (buffer_.size() >= kBlock) flush();
}

void CopyWriter::flush() {
  if (buffer_.empty()) return;
  buffer_.pop_back();  // the last row's newline: the writer adds one
  stream_->write(buffer_);
  buffer_.clear();
}

void CopyWriter::complete() {
  if (row_started_) end_row();
  flush();
  stream_->complete();
}

}  // namespace cshealthd::store
