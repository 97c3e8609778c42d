// ANY /v1/ehospital/{path...}: the eHospital (NIC) / ABDM pass-through
// (docs/EHOSPITAL.md). Two routes share the pattern: GET (and HEAD) need
// ehospital:read, POST, PUT and DELETE ehospital:write and, like every
// state-changing call, X-Timestamp and X-Nonce. What the head decides is
// decided before the body is read: the pipeline's stages (401, 403), then
// checkEhospitalHead: not configured or not on the allow-list (404), and the
// body cap. The handler charges the `ehospital` rate class (and the nonce)
// in the store, then forwards through the worker's upstream::EhospitalProxy.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "api/call.h"

namespace phigate::api {

/** The routes' max_body: the ceiling; checkEhospitalHead lowers it to EHOSPITAL_MAX_REQUEST_BYTES. */
inline constexpr uint64_t kEhospitalMaxBody = 64 * 1024 * 1024;

/** Route::head_check of both routes. */
bool checkEhospitalHead(Services& services, net::Exchange& ex,
                        std::span<const std::string_view> params, pipeline::Rejection* out);

void handleEhospital(Call& call);

}  // namespace phigate::api
