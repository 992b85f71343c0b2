#include "cshealthd/http/client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace cshealthd::http {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

namespace {

struct ParsedUrl {
  std::string host, port, target;
  std::string authority;  // host[:port] as the URL has it: the Host header (RFC 9110 §7.2)
};

bool parse_url(const std::string& url, ParsedUrl& out) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return false;
  const auto rest = url.substr(scheme.size());
  const auto slash = rest.find('/');
  const auto authority = rest.substr(0, slash);
  out.authority = authority;
  out.target = slash == std::string::npos ? "/" : rest.substr(slash);
  const auto colon = authority.rfind(':');
  if (colon == std::string::npos) {
    out.host = authority;
    out.port = "80";
  } else {
    out.host = authority.substr(0, colon);
    out.port = authority.substr(colon + 1);
  }
  return !out.host.empty();
}

}  // namespace

std::string ClientResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (beast::iequals(k, name)) return v;
  }
  return {};
}

ClientResponse fetch(const ClientRequest& request) {
  ClientResponse out;
  ParsedUrl url;
  if (!parse_url(request.url, url)) {
    out.error = "unsupported URL (plain http:// only): " + request.url;
    return out;
  }
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::flat_buffer buffer;
  bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(request.method), url.target, 11);
  req.set(bhttp::field::host, url.authority);
  req.set(bhttp::field::user_agent, "cshealthd");
  for (const auto& [k, v] : request.headers) req.set(k, v);
  req.body() = request.body;
  req.prepare_payload();
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64u << 20);

  net::ip::tcp::resolver resolver(ioc);
  stream.expires_after(request.timeout);  // one deadline for the whole exchange
  resolver.async_resolve(
      url.host, url.port, [&](beast::error_code ec, net::ip::tcp::resolver::results_type r) {
        if (ec) return void(out.error = "resolve: " + ec.message());
        stream.async_connect(r, [&](beast::error_code ec2, auto) {
          if (ec2) return void(out.error = "connect: " + ec2.message());
          bhttp::async_write(stream, req, [&](beast::error_code ec3, std::size_t) {
            if (ec3) return void(out.error = "write: " + ec3.message());
            bhttp::async_read(stream, buffer, parser, [&](beast::error_code ec4, std::size_t) {
              if (ec4) return void(out.error = "read: " + ec4.message());
              auto res = parser.release();
              out.status = static_cast<int>(res.result_int());
              for (const auto& f : res)
                out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
              out.body = std::move(res.body());
              beast::error_code ignored;
              stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
            });
          });
        });
      });
  ioc.run();
  return out;
}

}  // namespace cshealthd::http
