#include "api/messages.h"

#include <ctime>

#include "api/admission.h"
#include "api/problems.h"
#include "common/json_text.h"
#include "net/problem.h"
#include "net/worker.h"

namespace phigate::api {

namespace {

// A string member, or null while it has no value yet.
void appendOptional(Buffer& out, std::string_view name, std::string_view value) {
  out.append(",\"");
  out.append(name);
  out.append("\":");
  if (value.empty()) {
    out.append("null");
  } else {
    appendJsonString(out, value);
  }
}

// The record as the API shows it: no recipient, no text. Provider ids and
// error codes are sanitised or fixed text (delivery/sms_adapter.h).
void appendMessage(Buffer& body, std::string_view id, const state::MessageStatus& s) {
  body.append("{\"id\":\"");
  body.append(id);
  body.append("\",\"channel\":\"");
  body.append(s.channel);
  body.append("\",\"status\":\"");
  body.append(s.status);
  body.append("\",\"attempts\":");
  body.appendUint(s.attempts);
  appendOptional(body, "provider", s.provider);
  appendOptional(body, "provider_message_id", s.provider_message_id);
  body.append(",\"created_at\":\"");
  appendIsoTime(body, s.created_unix_ms);
  body.append("\",\"updated_at\":\"");
  appendIsoTime(body, s.updated_unix_ms);
  body.append('"');
  if (!s.error_code.empty()) {
    body.append(",\"error_code\":");
    appendJsonString(body, s.error_code);
  }
  if (s.segments > 0) {
    body.append(",\"segments\":");
    body.appendUint(s.segments);
  }
  body.append('}');
}

std::string_view keptId(const CallState& st) { return {st.ids[0].data(), st.ids[0].size()}; }

void found(CallState& st, const state::AdmitResult& r) {
  net::Exchange& ex = *st.ctx.ex;
  if (r.message == nullptr) return respondProblem(ex, 404, "not-found", "Not Found", "No such resource.", st.headers());
  Buffer& body = ex.worker().scratch();
  body.clear();
  appendMessage(body, keptId(st), *r.message);
  ex.respond(200, net::kJsonType, body.view(), st.headers());
}

void cancelled(CallState& st, const state::AdmitResult& r) {
  net::Exchange& ex = *st.ctx.ex;
  if (r.message == nullptr) return respondProblem(ex, 404, "not-found", "Not Found", "No such resource.", st.headers());
  Buffer& body = ex.worker().scratch();
  body.clear();
  if (!r.cancelled) {
    // Already on its way (or done): say where it is, so the client knows
    // whether it went out.
    const net::ProblemMember members[] = {net::ProblemMember::str("message_status", r.message->status)};
    net::writeProblem(body,
                      net::Problem{.status = 409,
                                   .type = "message-not-cancellable",
                                   .title = "Message not cancellable",
                                   .detail = "Only a message that is still queued can be cancelled; "
                                             "`message_status` says where this one is.",
                                   .members = members},
                      ex.ensureRequestId());
    ex.respond(409, net::kProblemType, body.view(), st.headers());
    return;
  }
  appendMessage(body, keptId(st), *r.message);
  ex.respond(200, net::kJsonType, body.view(), st.headers());
}

// Only an id of the server's own format may reach the store (and become part
// of a Redis key name); anything else cannot exist.
bool keepId(Call& call) {
  const std::string_view id = call.params.empty() ? std::string_view{} : call.params[0];
  if (!state::isMessageIdText(id)) return false;
  MessageId copy;
  std::copy(id.begin(), id.end(), copy.begin());  // params die with this call
  call.state.ids.push_back(copy);
  return true;
}

}  // namespace

void handleMessageStatus(Call& call) {
  if (!keepId(call)) return respondNotFound(call.ex());
  state::AdmitRequest req;
  req.lookup_message_id = keptId(call.state);  // outlives an asynchronous lookup
  admitCall(call, req, found);
}

void handleMessageCancel(Call& call) {
  if (!keepId(call)) return respondNotFound(call.ex());
  state::AdmitRequest req;
  req.lookup_message_id = keptId(call.state);
  req.cancel = true;
  admitCall(call, req, cancelled);
}

}  // namespace phigate::api
