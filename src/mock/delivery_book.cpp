#include "mock/delivery_book.h"

namespace phigate::mock {

namespace {

void appendXmlText(std::string* out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '&': out->append("&amp;"); break;
      case '<': out->append("&lt;"); break;
      case '>': out->append("&gt;"); break;
      case '"': out->append("&quot;"); break;
      default: out->push_back(c);
    }
  }
}

// <tag><no mobNo="91XXXXXXXXXX">STATE</no>...</tag>, or <tag/> when empty.
void appendList(std::string* out, std::string_view tag, const std::vector<std::string_view>& numbers,
                std::string_view state) {
  out->append("<").append(tag);
  if (numbers.empty()) {
    out->append("/>");
    return;
  }
  out->append(">");
  for (std::string_view n : numbers) {
    out->append("<no mobNo=\"91").append(n).append("\">").append(state).append("</no>");
  }
  out->append("</").append(tag).append(">");
}

}  // namespace

void DeliveryBook::accept(std::string_view msgid, std::vector<Recipient> recipients, uint64_t ready_ms) {
  if (entries_.size() >= kMaxTracked) return;
  entries_[std::string(msgid)] = Entry{std::move(recipients), ready_ms};
}

// The shape CDAC's reportXMLNew answers with (as seen in public clients):
// counts, then one list per state; "DELIVRED" is CDAC's spelling.
std::string DeliveryBook::reportXml(std::string_view user, std::string_view msgid, uint64_t now_ms) const {
  std::vector<std::string_view> delivered, failed, submitted;
  if (auto it = entries_.find(std::string(msgid)); it != entries_.end()) {
    for (const Recipient& r : it->second.recipients) {
      if (now_ms < it->second.ready_ms) {
        submitted.push_back(r.number);
      } else {
        (r.delivered ? delivered : failed).push_back(r.number);
      }
    }
  }
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><dept value=\"";
  appendXmlText(&x, user);
  x.append("\"><msgid>");
  appendXmlText(&x, msgid);
  x.append("</msgid><delvSMSCount>").append(std::to_string(delivered.size()));
  x.append("</delvSMSCount><fldSMSCount>").append(std::to_string(failed.size()));
  x.append("</fldSMSCount><subSMSCount>").append(std::to_string(submitted.size()));
  x.append("</subSMSCount><undelv/>");
  appendList(&x, "del", delivered, "DELIVRED");
  appendList(&x, "sub", submitted, "SUBMITTED");
  appendList(&x, "fld", failed, "UNDELIV");
  x.append("</dept>");
  return x;
}

}  // namespace phigate::mock
