// GET /v1/calibrations and /v1/calibrations/{id}: the stored calibrations (cshealthd calibrate and the
// quarterly review), the latest first, and one whole report with its candidate scorecard's text. Read by
// the admin and the dashboard tokens.
#include "cshealthd/validity/calibration.hpp"
#include "resource.hpp"

namespace cshealthd::api {

void add_calibration_routes(http::Router& router, const std::shared_ptr<Context>& ctx) {
  add_stored_report_routes(router, ctx, {"calibration", "calibrations", &validity::CalibrationStore::list,
                                         &validity::CalibrationStore::get});
}

}  // namespace cshealthd::api
