#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cshealthd/http/message.hpp"

namespace cshealthd::http {

using Handler = std::function<Response(const Request&)>;
// Runs when a request's headers have arrived, before its body is read: a response it returns is sent
// instead of running the handler, and the body is never read (e.g. a missing bearer token).
using Precheck = std::function<std::optional<Response>(const Request&)>;

struct RouteOptions {
  // kInline: answered on the I/O thread, never queued behind handlers that wait for the database. Only
  // for handlers that do not block (liveness, metrics).
  enum class Dispatch { kWorker, kInline };
  Dispatch dispatch = Dispatch::kWorker;
  Precheck precheck;
};

// The methods metrics and logs name; any other token is "other", so clients cannot mint series.
const std::string& method_label(const std::string& method);

// Routes by method and path pattern; `{name}` matches one path segment and is passed in
// Request::params. The matched pattern (not the raw path) labels metrics, to bound cardinality.
class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler, RouteOptions options = {});

  struct Match {
    const Handler* handler = nullptr;  // null: see status
    const RouteOptions* options = nullptr;
    std::string route;  // the pattern, or "unmatched"
    std::map<std::string, std::string> params;
    int status = 200;   // 404 no such path, 405 path exists with other methods
    std::string allow;  // for 405: "GET, POST"
  };
  Match match(const std::string& method, const std::string& path) const;
  // Every route as (method, pattern), in the order added: what the API description is checked against.
  std::vector<std::pair<std::string, std::string>> routes() const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
    RouteOptions options;
  };
  std::vector<Route> routes_;
};

}  // namespace cshealthd::http
