#pragma once
#include "cshealthd/base/secret.hpp"
#include "cshealthd/http/router.hpp"

namespace cshealthd::api {

// Route options for the admin API: the bearer token is checked on the request's headers, before its
// body is read, so an unauthenticated client cannot make the service read (or buffer) a body at all.
// With no token configured the API answers 503 (disabled).
http::RouteOptions admin_route(Secret token);

}  // namespace cshealthd::api
