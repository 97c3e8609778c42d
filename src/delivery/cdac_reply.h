// What CDAC Mobile Seva's answers mean: the send reply ("402,MsgID = ..." or
// "ERROR : <code> ...") and the XML delivery report. Pure functions over the
// body; only fixed strings and sanitized ids come out (a reply may echo the
// number or the text).
#pragma once

#include <string_view>

#include "delivery/sms_adapter.h"

namespace phigate::delivery {

/** The verdict for an HTTP 200 send reply body (docs/PROVIDERS.md has the table). */
SendVerdict cdacReplyVerdict(std::string_view body);

/** The verdict for "ERROR : <code>": "cdac-<code>" from a fixed table, "cdac-unknown" else. */
SendVerdict cdacErrorVerdict(int code);

/**
 * One report (reportXMLNew's <dept> document) into `item`: delivered when
 * delvSMSCount > 0; undelivered when fldSMSCount > 0 or <fld>/<undelv> list
 * a number; else pending (submitted, or not known yet). False when the body
 * is not such a document (an error line, HTML, no <msgid>).
 */
bool parseCdacReport(std::string_view body, ReportItem* item);

}  // namespace phigate::delivery
