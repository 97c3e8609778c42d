// Body validation: the content type (decided from the head, before the body
// is read), then the route's schema over the body, parsed in place by
// simdjson. 400 for bodies that are not well-formed JSON objects, 422 for
// schema violations, with errors [{field, code}] and never a rejected value.
#pragma once

#include "pipeline/stage.h"

namespace phigate::pipeline {

/** 415 unless a body route's request says Content-Type: application/json (head time). */
class ContentTypeStage : public Stage {
 public:
  Verdict run(RequestContext& ctx) override;
};

/** The route's schema over the body (body time). */
class ValidateStage : public Stage {
 public:
  /** Recipients without '+' are read as national numbers of `home`. */
  explicit ValidateStage(const PhoneRegion& home = defaultPhoneRegion()) : validator_(home) {}
  Verdict run(RequestContext& ctx) override;

 private:
  BodyValidator validator_;  // one per worker: reuses its parser and buffers
};

}  // namespace phigate::pipeline
