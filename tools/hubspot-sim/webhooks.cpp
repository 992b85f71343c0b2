#include "webhooks.hpp"

#include <algorithm>
#include <random>

#include <spdlog/spdlog.h>

#include "cshealthd/hubspot/signature.hpp"

namespace cshealthd::sim {

http::ClientResponse post_signed(const std::string& url, const std::string& secret, const std::string& body,
                                 std::int64_t timestamp_ms, bool corrupt_signature,
                                 std::chrono::milliseconds timeout) {
  const std::string ts = std::to_string(timestamp_ms);
  std::string signature = hubspot::signature_v3(secret, "POST", url, body, ts);
  if (corrupt_signature) signature[0] = signature[0] == 'A' ? 'B' : 'A';
  http::ClientRequest req;
  req.method = "POST";
  req.url = url;
  req.body = body;
  req.timeout = timeout;
  req.headers = {{"Content-Type", "application/json"},
                 {"X-HubSpot-Signature-v3", signature},
                 {"X-HubSpot-Request-Timestamp", ts},
                 {"X-HubSpot-Signature-Version", "v3"}};
  return http::fetch(req);
}

WebhookSender::WebhookSender(WebhookOptions options) : options_(std::move(options)) {
  thread_ = std::thread([this] { run(); });
}

WebhookSender::~WebhookSender() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void WebhookSender::enqueue(nlohmann::json event) {
  {
    std::lock_guard lock(mutex_);
    fresh_.push_back(std::move(event));
  }
  wake_.notify_all();
}

std::uint64_t WebhookSender::delivered() const {
  std::lock_guard lock(mutex_);
  return delivered_;
}

void WebhookSender::run() {
  std::mt19937_64 rng(0x5eed);
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.linger);
    if (stopping_) break;
    std::vector<Pending> due;
    // Fresh events go out in batches of up to max_batch, in an order of their own.
    if (!fresh_.empty()) {
      std::shuffle(fresh_.begin(), fresh_.end(), rng);
      for (std::size_t i = 0; i < fresh_.size(); i += options_.max_batch) {
        Pending p;
        p.events.assign(fresh_.begin() + static_cast<long>(i),
                        fresh_.begin() + static_cast<long>(std::min(fresh_.size(), i + options_.max_batch)));
        due.push_back(std::move(p));
      }
      fresh_.clear();
    }
    const auto now = std::chrono::steady_clock::now();
    for (auto it = retries_.begin(); it != retries_.end();) {
      if (it->due <= now) {
        due.push_back(std::move(*it));
        it = retries_.erase(it);
      } else {
        ++it;
      }
    }
    lock.unlock();
    for (auto& p : due) {
      nlohmann::json body = nlohmann::json::array();
      for (auto& e : p.events) {
        e["attemptNumber"] = p.attempt;
        body.push_back(e);
      }
      const auto ts = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
      const auto res = post_signed(options_.target, options_.secret, body.dump(), ts);
      std::lock_guard relock(mutex_);
      if (res.status >= 200 && res.status < 300) {
        delivered_ += p.events.size();
        continue;
      }
      spdlog::warn("webhook delivery attempt {} failed: {}", p.attempt + 1,
                   res.status ? "HTTP " + std::to_string(res.status) : res.error);
      if (++p.attempt >= options_.max_attempts) {
        spdlog::error("webhook: giving up on {} event(s) after {} attempts", p.events.size(), p.attempt);
        continue;
      }
      p.due = std::chrono::steady_clock::now() + options_.first_retry * (1 << std::min(p.attempt - 1, 10));
      retries_.push_back(std::move(p));
    }
    lock.lock();
  }
}

}  // namespace cshealthd::sim
