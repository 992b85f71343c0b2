#include "cshealthd/hubspot/records.hpp"

#include <charconv>

#include "cshealthd/http/json_reader.hpp"

namespace cshealthd::hubspot {
namespace {

using http::JsonCursor;
using Kind = JsonCursor::Kind;

// Reads an answer whose shape may be wrong. The first shape error is kept and the value skipped, so
// the whole text is still checked: a truncated answer is a parse error (retried), whatever its shape.
class Reader {
 public:
  explicit Reader(std::string_view body) : in_(body) {}

  JsonCursor& in() { return in_; }

  // Reads the document through `read` (called when the answer is an object), then throws the first
  // shape error, if any.
  template <typename Read>
  void document(Read&& read) {
    if (expect(Kind::kObject, "the answer is not an object")) read();
    in_.finish();
    if (!malformed_.empty()) throw MalformedAnswer(malformed_);
  }

  // True when the next value is of `kind`; otherwise notes `what`, skips the value and returns false.
  bool expect(Kind kind, const char* what) {
    if (in_.peek() == kind) return true;
    if (malformed_.empty()) malformed_ = what;
    in_.skip();
    return false;
  }

  // Text, or an id sent as a number; anything else reads as "".
  void text(std::string& out) {
    switch (in_.peek()) {
      case Kind::kString:
        in_.string(out);
        return;
      case Kind::kNumber:
        out = in_.number();
        return;
      default:
        in_.skip();
        out.clear();
    }
  }

  Value value() {
    Value v;
    switch (in_.peek()) {
      case Kind::kString:
        v.kind = Value::Kind::kString;
        in_.string(v.text);
        break;
      case Kind::kNull:
        in_.null();
        break;
      default:
        v.kind = Value::Kind::kJson;
        v.text = in_.skip();
    }
    return v;
  }

  // An object read leniently: anything else (null included) is skipped and reads as empty.
  template <typename Member>
  void object_or_skip(Member&& member) {
    if (in_.peek() == Kind::kObject) {
      in_.object(member);
    } else {
      in_.skip();
    }
  }

  Record record() {
    Record r;
    if (!expect(Kind::kObject, "a result is not an object")) return r;
    in_.object([&](std::string_view key) {
      if (key == "id") {
        text(r.id);
      } else if (key == "properties") {
        object_or_skip([&](std::string_view name) {
          std::string n(name);  // before the value: reading it may reuse the key's buffer
          r.set(std::move(n), value());
        });
      } else if (key == "propertiesWithHistory") {
        object_or_skip([&](std::string_view name) { history(r, std::string(name)); });
      } else if (key == "createdAt") {
        text(r.created_at);
      } else if (key == "updatedAt") {
        text(r.updated_at);
      } else if (key == "archivedAt") {
        text(r.archived_at);
      } else if (key == "archived") {
        r.archived = in_.peek() == Kind::kTrue;
        in_.skip();
      } else {
        in_.skip();
      }
    });
    return r;
  }

  void history(Record& r, std::string name) {
    std::vector<HistoryEntry> entries;
    if (in_.peek() == Kind::kArray) {
      in_.array([&] {
        HistoryEntry e;
        bool is_entry = false;
        object_or_skip([&](std::string_view key) {
          is_entry = true;
          if (key == "value") {
            e.value = value();
          } else if (key == "timestamp") {
            text(e.timestamp);
          } else {
            in_.skip();
          }
        });
        if (is_entry) entries.push_back(std::move(e));
      });
    } else {
      in_.skip();
    }
    for (auto& [n, list] : r.history) {
      if (n == name) {
        list = std::move(entries);  // the last of duplicate names
        return;
      }
    }
    r.history.emplace_back(std::move(name), std::move(entries));
  }

  void paging(std::string& next_after) {
    object_or_skip([&](std::string_view key) {
      if (key != "next") {
        in_.skip();
        return;
      }
      object_or_skip([&](std::string_view k) { k == "after" ? text(next_after) : void(in_.skip()); });
    });
  }

 private:
  JsonCursor in_;
  std::string malformed_;
};

}  // namespace

const Value* Record::property(std::string_view name) const {
  for (const auto& [n, v] : properties) {
    if (n == name) return &v;
  }
  return nullptr;
}

Value* Record::property(std::string_view name) {
  for (auto& [n, v] : properties) {
    if (n == name) return &v;
  }
  return nullptr;
}

void Record::set(std::string name, Value value) {
  if (Value* v = property(name)) {
    *v = std::move(value);
  } else {
    properties.emplace_back(std::move(name), std::move(value));
  }
}

const std::vector<HistoryEntry>* Record::history_of(std::string_view name) const {
  for (const auto& [n, entries] : history) {
    if (n == name) return &entries;
  }
  return nullptr;
}

Page parse_page(std::string_view body) {
  Reader r(body);
  Page page;
  bool has_results = false;
  r.document([&] {
    r.in().object([&](std::string_view key) {
      if (key == "results") {
        has_results = true;
        page.results.clear();
        if (r.expect(Kind::kArray, "results is not a list"))
          r.in().array([&] { page.results.push_back(r.record()); });
      } else if (key == "paging") {
        r.paging(page.next_after);
      } else if (key == "total" && r.in().peek() == Kind::kNumber) {
        const auto text = r.in().number();
        std::int64_t n = 0;
        if (const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
            ec == std::errc() && end == text.data() + text.size())
          page.total = n;
      } else {
        r.in().skip();
      }
    });
  });
  // Without results a list would look finished: an answer that lacks them is not a page.
  if (!has_results) throw MalformedAnswer("the answer has no results");
  return page;
}

std::vector<std::pair<std::string, std::vector<std::string>>> parse_associations(std::string_view body) {
  Reader r(body);
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  bool unnamed = false;
  r.document([&] {
    r.in().object([&](std::string_view key) {
      if (key != "results") {
        r.in().skip();
        return;
      }
      if (!r.expect(Kind::kArray, "results is not a list")) return;
      r.in().array([&] {
        std::string from;
        std::vector<std::string> to;
        if (!r.expect(Kind::kObject, "a result is not an object")) return;
        r.in().object([&](std::string_view k) {
          if (k == "from") {
            r.object_or_skip([&](std::string_view f) { f == "id" ? r.text(from) : void(r.in().skip()); });
          } else if (k == "to" && r.in().peek() == Kind::kArray) {
            r.in().array([&] {
              std::string id;
              r.object_or_skip(
                  [&](std::string_view t) { t == "toObjectId" ? r.text(id) : void(r.in().skip()); });
              if (!id.empty()) to.push_back(std::move(id));
            });
          } else {
            r.in().skip();
          }
        });
        if (from.empty()) {
          unnamed = true;
          return;
        }
        out.emplace_back(std::move(from), std::move(to));
      });
    });
  });
  if (unnamed) throw MalformedAnswer("an association result names no from id");
  return out;
}

}  // namespace cshealthd::hubspot
