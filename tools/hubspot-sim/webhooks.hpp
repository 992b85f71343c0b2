#pragma once
// Webhooks as HubSpot sends them: JSON arrays of events, signed (v3), batched, retried on a non-2xx
// answer or a timeout, in no particular order.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cshealthd/http/client.hpp"

namespace cshealthd::sim {

// Signs `body` for `url` with the v3 scheme and POSTs it. `timestamp_ms` is what the request claims.
http::ClientResponse post_signed(const std::string& url, const std::string& secret, const std::string& body,
                                 std::int64_t timestamp_ms, bool corrupt_signature = false,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(5));

struct WebhookOptions {
  std::string target;
  std::string secret;
  int max_attempts = 10;                         // HubSpot: up to 10 tries over 24 h
  std::chrono::milliseconds first_retry{1'000};  // doubled each time (the simulator compresses the 24 h)
  std::chrono::milliseconds linger{100};         // collect events into one batch this long
  std::size_t max_batch = 100;
};

class WebhookSender {
 public:
  explicit WebhookSender(WebhookOptions options);
  ~WebhookSender();
  void enqueue(nlohmann::json event);
  std::uint64_t delivered() const;  // events answered with 2xx

 private:
  struct Pending {
    std::vector<nlohmann::json> events;
    int attempt = 0;
    std::chrono::steady_clock::time_point due;
  };
  void run();

  WebhookOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<nlohmann::json> fresh_;
  std::deque<Pending> retries_;
  bool stopping_ = false;
  std::uint64_t delivered_ = 0;
  std::thread thread_;
};

}  // namespace cshealthd::sim
