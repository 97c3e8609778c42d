// What an HTTP exchange's outcome means for a send, shared by every adapter
// so transport failures and HTTP statuses are classified alike (and named
// with the same fixed strings). docs/PROVIDERS.md has the table.
#pragma once

#include <string_view>

#include "delivery/sms_adapter.h"
#include "net/http_client.h"

namespace phigate::delivery {

/**
 * A request that got no usable response (`e` != kNone). Every class but
 * kRefused (our own configuration: the URL or a header was refused before
 * any connection) is retried. kTimeout and kOther may come after the provider
 * received the request: a retry can then send the SMS twice.
 */
SendVerdict transportVerdict(net::HttpError e);

/** "http-503" for the common statuses, else "http-3xx" / "http-4xx" / "http-5xx" / "http-other". */
std::string_view httpStatusCode(long status);

/** 408, 425, 429 and every 5xx: the provider asks us to come back later. */
bool retryableStatus(long status);

/** A status that is not the protocol's success: kRetry when retryableStatus(), else kPermanent. */
SendVerdict statusVerdict(long status);

}  // namespace phigate::delivery
