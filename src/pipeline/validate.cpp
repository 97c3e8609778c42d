#include "pipeline/validate.h"

namespace phigate::pipeline {

namespace {
// application/json, optionally with parameters (charset=utf-8).
bool isJson(std::string_view ct) {
  const size_t semi = ct.find(';');
  std::string_view type = ct.substr(0, semi);
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  return equalsLower(type, "application/json");
}
}  // namespace

Verdict ContentTypeStage::run(RequestContext& ctx) {
  if (ctx.policy->body == BodyKind::kNone || isJson(ctx.request().header("content-type"))) {
    return Verdict::kContinue;
  }
  Rejection r;
  r.status = 415;
  r.type = "unsupported-media-type";
  r.title = "Unsupported Media Type";
  r.detail = "Send the body as application/json (Content-Type: application/json).";
  r.event = obs::SecurityEvent::kValidationFailure;
  r.reason = "content_type";
  return ctx.reject(r);
}

Verdict ValidateStage::run(RequestContext& ctx) {
  const std::string_view body = ctx.request().body;
  BodyStatus st = BodyStatus::kOk;
  switch (ctx.policy->body) {
    case BodyKind::kNone: return Verdict::kContinue;
    case BodyKind::kSms: st = validator_.validateSms(body, &ctx.sms); break;
    case BodyKind::kBulk: st = validator_.validateBulk(body, &ctx.bulk); break;
    case BodyKind::kEmail: st = validator_.validateEmail(body, &ctx.email); break;
  }
  if (st == BodyStatus::kOk) return Verdict::kContinue;
  Rejection r;
  r.status = st == BodyStatus::kMalformed ? 400 : 422;
  r.type = "validation";
  r.title = st == BodyStatus::kMalformed ? "Malformed body" : "Validation failed";
  r.detail = st == BodyStatus::kMalformed ? "The body is not a well-formed JSON object."
                                          : "The body does not match the schema.";
  r.event = obs::SecurityEvent::kValidationFailure;
  r.reason = st == BodyStatus::kMalformed ? "malformed_body" : "schema";
  r.errors = validator_.errors();
  return ctx.reject(r);
}

}  // namespace phigate::pipeline
