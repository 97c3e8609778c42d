// The mock's delivery outcomes for CDAC sends, and the report document
// CDAC's reportXMLNew answers with (docs/MOCK_PROVIDER.md, docs/PROVIDERS.md).
// Each accepted MsgID is decided once, at acceptance, per recipient:
// undelivered for the magic number 9000000009 or at --undelivered-rate,
// delivered otherwise; reported as submitted until --report-delay-ms passed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace phigate::mock {

/** The recipient (10-digit national form) that is never delivered. */
inline constexpr std::string_view kUndeliveredNumber = "9000000009";

class DeliveryBook {
 public:
  /** At most this many MsgIDs are tracked; later ones report as unknown (all counts 0). */
  static constexpr size_t kMaxTracked = 500'000;

  struct Recipient {
    std::string number;  // 10-digit national form
    bool delivered;
  };

  /** Records `msgid`'s outcome, final from `ready_ms` (loop time) on. */
  void accept(std::string_view msgid, std::vector<Recipient> recipients, uint64_t ready_ms);

  /** The reportXMLNew document for `msgid` at loop time `now_ms` (`user` goes in dept/@value). */
  std::string reportXml(std::string_view user, std::string_view msgid, uint64_t now_ms) const;

 private:
  struct Entry {
    std::vector<Recipient> recipients;
    uint64_t ready_ms;
  };
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace phigate::mock
