// Problem+json answers shared by the handlers (types under
// https://phigate.dev/problems/, DESIGN §8).
#pragma once

#include <span>
#include <string_view>

#include "net/exchange.h"
#include "pipeline/stage.h"

namespace phigate::api {

/** Sends a problem with a static description. */
void respondProblem(net::Exchange& ex, int status, std::string_view type, std::string_view title,
                    std::string_view detail, std::span<const net::HeaderField> extra = {});

/** 409: the nonce was already used by this key. */
void respondReplayed(pipeline::RequestContext& ctx);

/** 503 + Retry-After: the state store cannot decide; nothing was done. */
void respondStoreUnavailable(net::Exchange& ex);

void respondNotFound(net::Exchange& ex);

}  // namespace phigate::api
