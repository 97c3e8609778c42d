#include "api/sends.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "api/admission.h"
#include "api/problems.h"
#include "crypto/random.h"
#include "net/problem.h"
#include "net/worker.h"

namespace phigate::api {

namespace {

using pipeline::SmsEncoding;
using pipeline::SmsMessage;

MessageId newMessageId() {
  static constexpr char kHex[] = "0123456789abcdef";
  uint8_t raw[16];
  crypto::pooledRandomBytes(raw, sizeof raw);
  MessageId id;
  for (size_t i = 0; i < sizeof raw; ++i) {
    id[2 * i] = kHex[raw[i] >> 4];
    id[2 * i + 1] = kHex[raw[i] & 0xf];
  }
  return id;
}

std::string_view view(const MessageId& id) { return {id.data(), id.size()}; }

std::string_view encodingName(SmsEncoding e) { return e == SmsEncoding::kGsm7 ? "GSM-7" : "UCS-2"; }

// The plaintext that gets sealed: everything delivery needs, nothing else.
void appendSmsPayload(Buffer& out, const SmsMessage& m, const pipeline::ApiKey& key) {
  out.append("{\"channel\":\"sms\",\"to\":");
  appendJsonString(out, m.to);
  out.append(",\"message\":");
  appendJsonString(out, m.message);
  if (!m.template_id.empty()) {
    out.append(",\"template_id\":");
    appendJsonString(out, m.template_id);
  }
  if (!m.sender_id.empty()) {
    out.append(",\"sender_id\":");
    appendJsonString(out, m.sender_id);
  }
  out.append(m.type == pipeline::SmsType::kOtp ? ",\"type\":\"otp\"" : ",\"type\":\"transactional\"");
  out.append(",\"encoding\":\"");
  out.append(encodingName(m.text.encoding));
  out.append(key.test_mode ? "\",\"test\":true}" : "\",\"test\":false}");
}

void appendEmailPayload(Buffer& out, const pipeline::EmailMessage& m, const pipeline::ApiKey& key) {
  out.append("{\"channel\":\"email\",\"to\":");
  appendJsonString(out, m.to);
  out.append(",\"subject\":");
  appendJsonString(out, m.subject);
  const std::pair<const char*, std::string_view> optional[] = {
      {",\"text\":", m.text}, {",\"html\":", m.html}, {",\"reply_to\":", m.reply_to}};
  for (const auto& [name, value] : optional) {
    if (value.empty()) continue;
    out.append(name);
    appendJsonString(out, value);
  }
  out.append(key.test_mode ? ",\"test\":true}" : ",\"test\":false}");
}

// Seals every plaintext (offsets in `ends`) into state.sealed and builds the
// outbox entries. The associated data binds each ciphertext to its message id
// and key: a blob copied to another record will not open.
void sealAll(CallState& st, const crypto::KeyRing& ring, std::string_view channel,
             std::span<const size_t> ends, std::span<const uint32_t> segments,
             state::Lane lane = state::Lane::kPriority) {
  size_t total = 0, start = 0;
  for (size_t end : ends) {
    total += crypto::KeyRing::sealedSize(end - start);
    start = end;
  }
  st.sealed.clear();
  st.sealed.reserve(total);  // no reallocation below: entries keep views into it
  start = 0;
  char ad[32 + 1 + 64];
  for (size_t i = 0; i < ends.size(); ++i) {
    const std::string_view plain(st.plain.data() + start, ends[i] - start);
    const std::string_view key_id = st.ctx.key->id;
    memcpy(ad, st.ids[i].data(), 32);
    ad[32] = '\n';
    memcpy(ad + 33, key_id.data(), key_id.size());
    const size_t n = crypto::KeyRing::sealedSize(plain.size());
    auto* out = reinterpret_cast<uint8_t*>(st.sealed.prepare(n));
    ring.seal(plain, std::string_view(ad, 33 + key_id.size()), out);
    st.entries.push_back(state::OutboxEntry{view(st.ids[i]), channel,
                                            std::string_view(st.sealed.data() + st.sealed.size(), n),
                                            segments[i], lane});
    st.sealed.commit(n);
    start = ends[i];
  }
  // The plaintext (PHI) is not kept around in a pooled buffer.
  sodium_memzero(st.plain.data(), st.plain.size());
  st.plain.clear();
}

// Every send answers 202 with the body built before admission (so it can be
// kept, sealed, as the idempotency record), plus the rate headers.
void accepted(CallState& st, const state::AdmitResult&) {
  st.ctx.ex->respond(202, net::kJsonType, st.response.view(), st.headers());
}

void buildSmsResponse(CallState& st) {
  const SmsMessage& m = st.ctx.sms;
  Buffer& body = st.response;
  body.append("{\"id\":\"");
  body.append(view(st.ids[0]));
  body.append("\",\"status\":\"queued\",\"segments\":");
  body.appendUint(m.text.segments);
  body.append(",\"encoding\":\"");
  body.append(encodingName(m.text.encoding));
  body.append("\"}");
}

void buildBulkResponse(CallState& st) {
  Buffer& body = st.response;
  body.append("{\"ids\":[");
  uint64_t segments = 0;
  for (size_t i = 0; i < st.ids.size(); ++i) {
    if (i > 0) body.append(',');
    body.append('"');
    body.append(view(st.ids[i]));
    body.append('"');
    segments += st.entries[i].segments;
  }
  body.append("],\"status\":\"queued\",\"count\":");
  body.appendUint(st.ids.size());
  body.append(",\"segments\":");
  body.appendUint(segments);
  body.append('}');
}

void buildEmailResponse(CallState& st) {
  st.response.append("{\"id\":\"");
  st.response.append(view(st.ids[0]));
  st.response.append("\",\"status\":\"queued\"}");
}

void admitEntries(Call& call) {
  state::AdmitRequest req;
  req.entries = call.state.entries;
  admitCall(call, req, accepted);
}

}  // namespace

void handleSms(Call& call) {
  CallState& st = call.state;
  const SmsMessage& m = st.ctx.sms;
  st.ids.push_back(newMessageId());
  appendSmsPayload(st.plain, m, *st.ctx.key);
  const size_t ends[] = {st.plain.size()};
  const uint32_t segments[] = {m.text.segments};
  sealAll(st, call.services.key_ring, "sms", ends, segments);
  buildSmsResponse(st);
  admitEntries(call);
}

void handleSmsBulk(Call& call) {
  CallState& st = call.state;
  size_t ends[CallState::kMaxMessages];
  uint32_t segments[CallState::kMaxMessages];
  const size_t n = std::min(st.ctx.bulk.size(), CallState::kMaxMessages);
  for (size_t i = 0; i < n; ++i) {
    const SmsMessage& m = st.ctx.bulk[i];
    st.ids.push_back(newMessageId());
    appendSmsPayload(st.plain, m, *st.ctx.key);
    ends[i] = st.plain.size();
    segments[i] = m.text.segments;
  }
  // A bulk request's messages travel in the bulk lane: OTPs and single
  // messages never wait behind a campaign.
  sealAll(st, call.services.key_ring, "sms", std::span(ends, n), std::span(segments, n),
          state::Lane::kBulk);
  buildBulkResponse(st);
  admitEntries(call);
}

void handleEmail(Call& call) {
  CallState& st = call.state;
  st.ids.push_back(newMessageId());
  appendEmailPayload(st.plain, st.ctx.email, *st.ctx.key);
  const size_t ends[] = {st.plain.size()};
  const uint32_t segments[] = {0};
  sealAll(st, call.services.key_ring, "email", ends, segments, state::Lane::kEmail);
  buildEmailResponse(st);
  admitEntries(call);
}

}  // namespace phigate::api
