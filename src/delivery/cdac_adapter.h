// CDAC Mobile Seva (msdgweb.mgov.gov.in), the Government of India's SMS
// gateway: the DLT send form and the XML delivery report, as an SmsAdapter
// (pure functions, no I/O). docs/PROVIDERS.md describes the protocol field by
// field, with its sources; the mock provider (src/mock/cdac.*) speaks the
// same protocol and the unit tests hold the two to each other.
#pragma once

#include <string>

#include "delivery/sms_adapter.h"

namespace phigate::delivery {

struct CdacOptions {
  std::string url = "https://msdgweb.mgov.gov.in/esms/sendsmsrequestDLT";
  std::string username;
  /** In clear. Sends carry its SHA-1 only; report polls need it in clear (CDAC's API). */
  std::string password;
  /** The account's approved sender id, for messages that carry none. */
  std::string sender_id;
  /** The department's secure key, the last part of each request's SHA-512 key. */
  std::string secure_key;
  /** The delivery report endpoint (GET, one MsgID per request); empty: no reports. */
  std::string report_url = "https://msdgweb.mgov.gov.in/XMLForReportG/reportXMLNew";
};

class CdacAdapter final : public SmsAdapter {
 public:
  explicit CdacAdapter(const CdacOptions& opts);
  ~CdacAdapter() override;
  CdacAdapter(const CdacAdapter&) = delete;
  CdacAdapter& operator=(const CdacAdapter&) = delete;

  std::string_view name() const override { return "cdac"; }
  /**
   * Permanent failures: "no-template" (CDAC requires a DLT template id),
   * "not-indian-mobile" (anything but +91 and a 10-digit mobile),
   * "empty-text", "bad-text" (not UTF-8, for the unicode form).
   */
  bool build(const SmsToSend& m, OutboundRequest* out, std::string_view* error_code) const override;
  SendVerdict classify(const net::HttpResult& r) const override;

  bool hasReports() const override { return !report_prefix_.empty(); }
  /** CDAC's report API takes one MsgID per request. */
  size_t maxReportBatch() const override { return 1; }
  void buildReport(std::span<const std::string_view> provider_ids, OutboundRequest* out) const override;
  bool parseReport(const net::HttpResult& r, std::vector<ReportItem>* out) const override;

 private:
  std::string url_;
  std::string username_;       // trimmed, as CDAC's sample client sends it
  std::string password_sha1_;  // lower-case hex, computed once
  std::string sender_id_;      // trimmed
  std::string secure_key_;     // trimmed
  // "<report_url>?userid=..&password=..&msgid=" with the values form-encoded;
  // empty when reports are off (then the clear password is not kept at all).
  std::string report_prefix_;
  // build()'s content buffer (wiped after each build), its capacity reused:
  // one adapter serves one worker's loop.
  mutable std::string content_;
};

}  // namespace phigate::delivery
