#include "cshealthd/outbox/slack_client.hpp"

#include <nlohmann/json.hpp>

namespace cshealthd::outbox {

SlackClient::SlackClient(Secret webhook_url) : url_(std::move(webhook_url)) {}

void SlackClient::post(const std::string& text) {
  if (!transport_) {
    const std::string url = url_.reveal();
    const auto scheme_end = url.find("://");
    const auto path_start = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
    http::TransportOptions o;
    o.base_url = url.substr(0, path_start);
    o.request_timeout = std::chrono::milliseconds(10'000);
    o.connect_timeout = std::chrono::milliseconds(5'000);
    target_ = path_start == std::string::npos ? "/" : url.substr(path_start);
    transport_ = http::make_transport(o);
  }
  http::HttpRequest req;
  req.method = "POST";
  req.target = target_;
  req.headers = {{"Content-Type", "application/json"}};
  req.body = nlohmann::json{{"text", text}}.dump();
  http::HttpResponse res;
  try {
    res = transport_->send(req);
  } catch (const http::TransportError& e) {
    std::string what = e.what();
    for (auto at = target_.size() > 1 ? what.find(target_) : std::string::npos; at != std::string::npos;
         at = what.find(target_))
      what.replace(at, target_.size(), "<webhook>");
    throw std::runtime_error("no answer: " + what);
  }
  if (res.status != 200)
    throw std::runtime_error("HTTP " + std::to_string(res.status) + ": " + res.body.substr(0, 200));
}

}  // namespace cshealthd::outbox
