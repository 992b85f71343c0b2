#pragma once
#include "cshealthd/base/secret.hpp"
#include "cshealthd/http/router.hpp"

namespace cshealthd::api {

// Route options for the admin API: the bearer token is checked on the request's headers, before its
// body is read, so an unauthenticated client cannot make the service read (or buffer) a body at all.
// With no token configured the API answers 503 (disabled).
http::RouteOptions admin_route(Secret token);
// The same for what the dashboard reads (KPIs, lists, company pages): the admin token or the read-only
// dashboard token. Neither configured: 503.
http::RouteOptions reader_route(Secret admin, Secret dashboard);
// What writes usage (POST /v1/usage): the admin token or the usage token, which can do nothing else.
http::RouteOptions usage_route(Secret admin, Secret usage);
// What Segment's HTTP Tracking API clients send (POST /v1/segment): the write key as the Basic auth user
// name (the password empty or ignored), as Segment and RudderStack send it, or as a bearer token. Not
// configured: 503.
http::RouteOptions segment_route(Secret write_key);

}  // namespace cshealthd::api
