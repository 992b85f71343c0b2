#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cshealthd/http/message.hpp"

namespace cshealthd::http {

using Handler = std::function<Response(const Request&)>;

// Routes by method and path pattern; `{name}` matches one path segment and is passed in
// Request::params. The matched pattern (not the raw path) labels metrics, to bound cardinality.
class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler);

  struct Match {
    const Handler* handler = nullptr;  // null: see status
    std::string route;                 // the pattern, or "unmatched"
    std::map<std::string, std::string> params;
    int status = 200;   // 404 no such path, 405 path exists with other methods
    std::string allow;  // for 405: "GET, POST"
  };
  Match match(const std::string& method, const std::string& path) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace cshealthd::http
