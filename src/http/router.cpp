#include "cshealthd/http/router.hpp"

#include <set>

namespace cshealthd::http {
namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 1;  // paths start with '/'
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    const auto end = slash == std::string::npos ? path.size() : slash;
    out.push_back(path.substr(start, end - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

bool is_param(const std::string& seg) {
  return seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
}

}  // namespace

const std::string& method_label(const std::string& method) {
  static const std::string kKnown[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  static const std::string kOther = "other";
  for (const auto& m : kKnown) {
    if (m == method) return m;
  }
  return kOther;
}

void Router::add(std::string method, std::string pattern, Handler handler, RouteOptions options) {
  auto segments = split_path(pattern);
  routes_.push_back(
      {std::move(method), std::move(pattern), std::move(segments), std::move(handler), std::move(options)});
}

Router::Match Router::match(const std::string& method, const std::string& path) const {
  Match m;
  m.route = "unmatched";
  m.status = 404;
  if (path.empty() || path.front() != '/') return m;
  const auto segments = split_path(path);
  std::set<std::string> allowed;
  for (const auto& r : routes_) {
    if (r.segments.size() != segments.size()) continue;
    std::map<std::string, std::string> params;
    bool ok = true;
    for (std::size_t i = 0; i < segments.size() && ok; ++i) {
      if (is_param(r.segments[i])) {
        if (segments[i].empty())
          ok = false;
        else
          params[r.segments[i].substr(1, r.segments[i].size() - 2)] = segments[i];
      } else {
        ok = r.segments[i] == segments[i];
      }
    }
    if (!ok) continue;
    if (r.method == method) {
      m.handler = &r.handler;
      m.options = &r.options;
      m.route = r.pattern;
      m.params = std::move(params);
      m.status = 200;
      return m;
    }
    allowed.insert(r.method);
    m.route = r.pattern;
  }
  if (!allowed.empty()) {
    m.status = 405;
    for (const auto& a : allowed) m.allow += (m.allow.empty() ? "" : ", ") + a;
  }
  return m;
}

std::vector<std::pair<std::string, std::string>> Router::routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& r : routes_) out.emplace_back(r.method, r.pattern);
  return out;
}

}  // namespace cshealthd::http
