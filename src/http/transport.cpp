#include "cshealthd/http/transport.hpp"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace cshealthd::http {
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (beast::iequals(k, name)) return v;
  }
  return {};
}

namespace {

struct Origin {
  bool tls = true;
  std::string host, port;
};

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

Origin parse_origin(const std::string& url) {
  Origin o;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    o.tls = false;
    rest = url.substr(7);
  } else {
    throw std::invalid_argument("hubspot.base_url: expected https://…, got '" + url + "'");
  }
  rest = rest.substr(0, rest.find('/'));
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    o.host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    o.port = rest.size() > 1 && rest[0] == ':' ? rest.substr(1) : "";
  } else {
    const auto colon = rest.find(':');
    o.host = rest.substr(0, colon);
    o.port = colon == std::string::npos ? "" : rest.substr(colon + 1);
  }
  if (o.port.empty()) o.port = o.tls ? "443" : "80";
  if (o.host.empty()) throw std::invalid_argument("hubspot.base_url: no host in '" + url + "'");
  if (!o.tls && !is_loopback(o.host)) {
    throw std::invalid_argument("hubspot.base_url: plain http:// is allowed only for loopback hosts, got '" +
                                url + "'");
  }
  return o;
}

// Runs one asynchronous step to completion on the private io_context; every step has a deadline.
template <typename Start>
beast::error_code run_step(net::io_context& ioc, Start&& start) {
  beast::error_code result = net::error::would_block;
  start([&](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

class BeastTransport final : public Transport {
 public:
  explicit BeastTransport(const TransportOptions& o) : options_(o), origin_(parse_origin(o.base_url)) {
    if (origin_.tls) {
      if (options_.ca_file.empty())
        ctx_.set_default_verify_paths();
      else
        ctx_.load_verify_file(options_.ca_file);
      ctx_.set_verify_mode(ssl::verify_peer);
    }
  }

  HttpResponse send(const HttpRequest& request) override {
    try {
      if (!connected_) connect();
      return exchange(request);
    } catch (const TransportError&) {
      close();
      throw;
    }
  }

 private:
  beast::tcp_stream& tcp() { return origin_.tls ? beast::get_lowest_layer(*tls_) : *plain_; }

  [[noreturn]] void fail(const std::string& step, const beast::error_code& ec) {
    throw TransportError(origin_.host + ":" + origin_.port + ": " + step + ": " + ec.message());
  }

  void connect() {
    // One deadline for name resolution and the connection together: a resolver that never answers
    // must not hold a sync (or a shutdown) hostage.
    const auto deadline = std::chrono::steady_clock::now() + options_.connect_timeout;
    const auto endpoints = resolve(deadline);
    if (origin_.tls) {
      tls_.emplace(ioc_, ctx_);
      // SNI, and the certificate must name this host.
      // SSL_set_tlsext_host_name, without the macro's C cast.
      if (!SSL_ctrl(tls_->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                    const_cast<char*>(origin_.host.c_str()))) {
        fail("sni", beast::error_code(static_cast<int>(::ERR_get_error()), net::error::get_ssl_category()));
      }
      tls_->set_verify_callback(ssl::host_name_verification(origin_.host));
    } else {
      plain_.emplace(ioc_);
    }
    tcp().expires_at(deadline);
    auto ec = run_step(ioc_, [&](auto done) { tcp().async_connect(endpoints, done); });
    if (ec) fail("connect", ec);
    if (origin_.tls) {
      ec = run_step(ioc_, [&](auto done) { tls_->async_handshake(ssl::stream_base::client, done); });
      if (ec) fail("tls handshake", ec);
    }
    connected_ = true;
  }

  // getaddrinfo cannot be interrupted (Asio's resolver runs it too, and its cancel waits for it), so it
  // runs on a thread of its own that is left behind when the deadline passes: it ends by itself when
  // the system resolver gives up, and owns what it writes into.
  std::vector<tcp::endpoint> resolve(std::chrono::steady_clock::time_point deadline) {
    struct Lookup {
      std::mutex mutex;
      std::condition_variable done_cv;
      bool done = false;
      int rc = 0;
      std::vector<tcp::endpoint> endpoints;
    };
    auto lookup = std::make_shared<Lookup>();
    std::thread([lookup, host = origin_.host, port = origin_.port] {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_flags = AI_ADDRCONFIG;
      addrinfo* found = nullptr;
      const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
      std::vector<tcp::endpoint> endpoints;
      for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
        if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
        tcp::endpoint e;
        std::memcpy(e.data(), a->ai_addr, a->ai_addrlen);
        e.resize(a->ai_addrlen);
        endpoints.push_back(e);
      }
      if (found != nullptr) ::freeaddrinfo(found);
      std::lock_guard lock(lookup->mutex);
      lookup->rc = rc;
      lookup->endpoints = std::move(endpoints);
      lookup->done = true;
      lookup->done_cv.notify_all();
    }).detach();
    std::unique_lock lock(lookup->mutex);
    if (!lookup->done_cv.wait_until(lock, deadline, [&] { return lookup->done; })) {
      throw TransportError(origin_.host + ":" + origin_.port + ": resolve: no answer within " +
                           std::to_string(options_.connect_timeout.count()) + " ms");
    }
    if (lookup->rc != 0 || lookup->endpoints.empty()) {
      throw TransportError(origin_.host + ":" + origin_.port +
                           ": resolve: " + (lookup->rc != 0 ? ::gai_strerror(lookup->rc) : "no address"));
    }
    return std::move(lookup->endpoints);
  }

  HttpResponse exchange(const HttpRequest& r) {
    bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(r.method), r.target, 11);
    req.set(bhttp::field::host, origin_.host);
    req.set(bhttp::field::user_agent, "cshealthd");
    req.keep_alive(true);
    for (const auto& [k, v] : r.headers) req.set(k, v);
    if (!r.body.empty() || r.method == "POST" || r.method == "PUT" || r.method == "PATCH") {
      req.body() = r.body;
      req.prepare_payload();
    }
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(256u << 20);
    tcp().expires_after(options_.request_timeout);
    auto write_ec = origin_.tls ? run_step(ioc_, [&](auto done) { bhttp::async_write(*tls_, req, done); })
                                : run_step(ioc_, [&](auto done) { bhttp::async_write(*plain_, req, done); });
    if (write_ec) fail(r.method + " " + r.target + ": write", write_ec);
    auto read_ec =
        origin_.tls ? run_step(ioc_, [&](auto done) { bhttp::async_read(*tls_, buffer_, parser, done); })
                    : run_step(ioc_, [&](auto done) { bhttp::async_read(*plain_, buffer_, parser, done); });
    if (read_ec) fail(r.method + " " + r.target + ": read", read_ec);
    auto res = parser.release();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    out.body = std::move(res.body());
    if (!res.keep_alive()) close();
    return out;
  }

  void close() {
    connected_ = false;
    buffer_.clear();
    beast::error_code ec;
    if (tls_) beast::get_lowest_layer(*tls_).socket().close(ec);
    if (plain_) plain_->socket().close(ec);
    tls_.reset();
    plain_.reset();
  }

  TransportOptions options_;
  Origin origin_;
  net::io_context ioc_;
  ssl::context ctx_{ssl::context::tls_client};
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  beast::flat_buffer buffer_;
  bool connected_ = false;
};

}  // namespace

std::unique_ptr<Transport> make_transport(const TransportOptions& options) {
  return std::make_unique<BeastTransport>(options);
}

}  // namespace cshealthd::http
