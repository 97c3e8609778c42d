#include "api/messages.h"

#include <ctime>

#include "api/admission.h"
#include "api/problems.h"
#include "net/worker.h"

namespace phigate::api {

namespace {

void appendIsoTime(Buffer& out, int64_t unix_ms) {
  const time_t secs = static_cast<time_t>(unix_ms / 1000);
  tm t;
  gmtime_r(&secs, &t);
  char buf[32];
  const size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &t);
  out.append(std::string_view(buf, n));
}

void found(CallState& st, const state::AdmitResult& r) {
  net::Exchange& ex = *st.ctx.ex;
  const state::MessageStatus* status = r.message;
  if (status == nullptr) return respondProblem(ex, 404, "not-found", "Not Found", "No such resource.", st.headers());
  Buffer& body = ex.worker().scratch();
  body.clear();
  body.append("{\"id\":\"");
  body.append(std::string_view(st.ids[0].data(), st.ids[0].size()));
  body.append("\",\"status\":\"");
  body.append(status->status);
  body.append("\",\"channel\":\"");
  body.append(status->channel);
  body.append("\",\"created_at\":\"");
  appendIsoTime(body, status->created_unix_ms);
  body.append('"');
  if (status->segments > 0) {
    body.append(",\"segments\":");
    body.appendUint(status->segments);
  }
  body.append('}');
  ex.respond(200, net::kJsonType, body.view(), st.headers());
}

}  // namespace

void handleMessageStatus(Call& call) {
  const std::string_view id = call.params.empty() ? std::string_view{} : call.params[0];
  // Only an id of the server's own format may reach the store (and become
  // part of a Redis key name); anything else cannot exist.
  if (!state::isMessageIdText(id)) return respondNotFound(call.ex());
  CallState& st = call.state;
  MessageId copy;
  std::copy(id.begin(), id.end(), copy.begin());  // params die with this call
  st.ids.push_back(copy);
  const MessageId& kept = st.ids.back();  // outlives an asynchronous lookup
  state::AdmitRequest req;
  req.lookup_message_id = std::string_view(kept.data(), kept.size());
  admitCall(call, req, found);
}

}  // namespace phigate::api
