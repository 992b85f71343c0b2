#pragma once
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace cshealthd::http {

// A parsed request as handlers see it: no Beast types, so handlers and their tests stay cheap to build.
struct Request {
  std::string method;  // "GET", "POST", …
  std::string target;  // raw request target, path and query
  std::string path;    // percent-decoded path
  std::map<std::string, std::string> query;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::map<std::string, std::string> params;  // from {name} segments of the route
  std::string request_id;

  // The first header with this (case-insensitive) name, or nullptr.
  const std::string* header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  // How the connection ends instead of a normal answer. Used to inject faults (the HubSpot simulator
  // drops connections and truncates bodies the way a flaky network does).
  enum class Abort { kNone, kCloseWithoutResponse, kTruncateBody };
  Abort abort = Abort::kNone;

  static Response json(int status, const nlohmann::json& body);
  static Response text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
  // {"error":{"status":404,"code":"not_found","message":"…"}}
  static Response error(int status, std::string_view code, std::string_view message);
};

std::string percent_decode(std::string_view in, bool plus_as_space);
// Splits "a=1&b=x%20y" into a map (the last of repeated keys wins).
std::map<std::string, std::string> parse_query(std::string_view query);

}  // namespace cshealthd::http
