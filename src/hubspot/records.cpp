#include "cshealthd/hubspot/records.hpp"

#include <charconv>

#include <nlohmann/json.hpp>

#include "cshealthd/base/json_reader.hpp"

namespace cshealthd::hubspot {
namespace {

using cshealthd::JsonCursor;
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

  // HubSpot ends a walk by leaving `paging` out (or sending only `prev`). A `paging` with a `next` that
  // has no cursor, or with neither, would read as the end of the data: a malformed answer instead.
  void paging(std::string& next_after) {
    if (in_.peek() == Kind::kNull) return in_.null();
    if (!expect(Kind::kObject, "paging is not an object")) return;
    bool next = false, prev = false;
    in_.object([&](std::string_view key) {
      if (key == "prev") {
        prev = true;
        in_.skip();
      } else if (key == "next") {
        next = true;
        next_after.clear();
        object_or_skip([&](std::string_view k) { k == "after" ? text(next_after) : void(in_.skip()); });
      } else {
        in_.skip();
      }
    });
    if (next && next_after.empty()) note("paging.next has no after cursor");
    if (!next && !prev) note("paging has no next page and no previous one");
  }

  void note(const char* what) {
    if (malformed_.empty()) malformed_ = what;
  }

 private:
  JsonCursor in_;
  std::string malformed_;
};

}  // namespace

std::optional<std::size_t> Record::find(std::string_view name) const {
  if (index_.empty()) {
    for (std::size_t i = 0; i < properties.size(); ++i) {
      if (properties[i].first == name) return i;
    }
    return std::nullopt;
  }
  const auto [first, last] = index_.equal_range(std::hash<std::string_view>{}(name));
  for (auto it = first; it != last; ++it) {
    if (properties[it->second].first == name) return it->second;
  }
  return std::nullopt;
}

const Value* Record::property(std::string_view name) const {
  const auto i = find(name);
  return i ? &properties[*i].second : nullptr;
}

Value* Record::property(std::string_view name) {
  const auto i = find(name);
  return i ? &properties[*i].second : nullptr;
}

void Record::set(std::string name, Value value) {
  if (Value* v = property(name)) {
    *v = std::move(value);
    return;
  }
  properties.emplace_back(std::move(name), std::move(value));
  if (!index_.empty()) {
    index_.emplace(std::hash<std::string_view>{}(properties.back().first), properties.size() - 1);
  } else if (properties.size() >= kIndexFrom) {
    reindex();
  }
}

void Record::reindex() {
  index_.clear();
  if (properties.size() < kIndexFrom) return;
  index_.reserve(properties.size());
  for (std::size_t i = 0; i < properties.size(); ++i)
    index_.emplace(std::hash<std::string_view>{}(properties[i].first), i);
}

const std::vector<HistoryEntry>* Record::history_of(std::string_view name) const {
  for (const auto& [n, entries] : history) {
    if (n == name) return &entries;
  }
  return nullptr;
}

std::string next_cursor(const nlohmann::json* paging) {
  if (paging == nullptr || paging->is_null()) return "";
  if (!paging->is_object()) throw MalformedAnswer("paging is not an object");
  const auto next = paging->find("next");
  if (next == paging->end()) {
    if (paging->contains("prev")) return "";
    throw MalformedAnswer("paging has no next page and no previous one");
  }
  if (next->is_object()) {
    const auto after = next->find("after");
    if (after != next->end() && after->is_string() && !after->get<std::string>().empty())
      return after->get<std::string>();
    if (after != next->end() && after->is_number_integer()) return after->dump();
  }
  throw MalformedAnswer("paging.next has no after cursor");
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

AssociationsAnswer parse_associations(std::string_view body) {
  Reader r(body);
  AssociationsAnswer out;
  bool unnamed = false;
  // One error of a 207: ids whose links are unknown, unless HubSpot says they simply have none.
  auto error = [&] {
    std::string sub_category;
    std::vector<std::string> ids;
    r.object_or_skip([&](std::string_view k) {
      if (k == "subCategory") {
        r.text(sub_category);
      } else if (k == "context") {
        r.object_or_skip([&](std::string_view c) {
          if ((c == "fromObjectId" || c == "ids") && r.in().peek() == Kind::kArray) {
            r.in().array([&] {
              std::string id;
              r.text(id);
              if (!id.empty()) ids.push_back(std::move(id));
            });
          } else {
            r.in().skip();
          }
        });
      } else {
        r.in().skip();
      }
    });
    const bool none = sub_category.find("NO_ASSOCIATIONS_FOUND") != std::string::npos;
    for (auto& id : ids) {
      if (none) {
        out.links.emplace_back(std::move(id), std::vector<std::string>{});
      } else {
        out.failed.push_back(std::move(id));
      }
    }
  };
  r.document([&] {
    r.in().object([&](std::string_view key) {
      if (key == "errors" && r.in().peek() == Kind::kArray) {
        r.in().array(error);
        return;
      }
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
        out.links.emplace_back(std::move(from), std::move(to));
      });
    });
  });
  if (unnamed) throw MalformedAnswer("an association result names no from id");
  return out;
}

}  // namespace cshealthd::hubspot
