#include "delivery/verdicts.h"

namespace phigate::delivery {

namespace {

struct StatusName {
  long status;
  std::string_view code;
};

// Static strings: a verdict's error_code must outlive any reply.
constexpr StatusName kStatusNames[] = {
    {301, "http-301"}, {302, "http-302"}, {307, "http-307"}, {308, "http-308"},
    {400, "http-400"}, {401, "http-401"}, {403, "http-403"}, {404, "http-404"},
    {405, "http-405"}, {408, "http-408"}, {409, "http-409"}, {410, "http-410"},
    {413, "http-413"}, {415, "http-415"}, {422, "http-422"}, {425, "http-425"},
    {429, "http-429"}, {500, "http-500"}, {501, "http-501"}, {502, "http-502"},
    {503, "http-503"}, {504, "http-504"},
};

SendVerdict verdict(Outcome o, std::string_view code) {
  SendVerdict v;
  v.outcome = o;
  v.error_code = code;
  return v;
}

}  // namespace

SendVerdict transportVerdict(net::HttpError e) {
  switch (e) {
    // The name did not resolve (DNS down or slow): nothing was sent.
    case net::HttpError::kDns: return verdict(Outcome::kRetry, "dns");
    case net::HttpError::kConnect: return verdict(Outcome::kRetry, "connect");
    case net::HttpError::kTimeout: return verdict(Outcome::kRetry, "timeout");
    // A certificate or handshake failure is an operator's problem (an expired
    // or rotated certificate, a clock, a CA bundle); the request never
    // reached the provider, so waiting for the fix loses nothing and cannot
    // duplicate.
    case net::HttpError::kTls: return verdict(Outcome::kRetry, "tls");
    // The provider answered (so it may have sent the SMS) with more than we
    // read; whatever it said is unknown.
    case net::HttpError::kTooLarge: return verdict(Outcome::kRetry, "too-large");
    // Our own refusal (URL scheme or host not allowed, a header with CR/LF):
    // retrying the same request cannot succeed.
    case net::HttpError::kRefused: return verdict(Outcome::kPermanent, "refused");
    // The worker is shutting down; the message waits for the next one.
    case net::HttpError::kCancelled: return verdict(Outcome::kRetry, "cancelled");
    case net::HttpError::kNone:  // not a transport failure; callers do not pass it
    case net::HttpError::kOther: break;
  }
  return verdict(Outcome::kRetry, "network");
}

std::string_view httpStatusCode(long status) {
  for (const StatusName& s : kStatusNames) {
    if (s.status == status) return s.code;
  }
  if (status >= 300 && status < 400) return "http-3xx";
  if (status >= 400 && status < 500) return "http-4xx";
  if (status >= 500 && status < 600) return "http-5xx";
  return "http-other";
}

bool retryableStatus(long status) {
  return status == 408 || status == 425 || status == 429 || (status >= 500 && status < 600);
}

// Any other status is permanent, 404 included: a wrong URL or a refused
// account then fails every message at once with "http-404", which an operator
// sees within minutes; retrying would hide the same misconfiguration behind a
// silently growing queue and a burst of stale messages once it is fixed.
SendVerdict statusVerdict(long status) {
  return verdict(retryableStatus(status) ? Outcome::kRetry : Outcome::kPermanent,
                 httpStatusCode(status));
}

}  // namespace phigate::delivery
