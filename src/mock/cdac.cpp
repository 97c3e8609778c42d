#include "mock/cdac.h"

#include "crypto/hash.h"

namespace phigate::mock {

namespace {

bool allDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// bulkmobno is comma-separated; an empty entry ("a,,b") is an invalid number.
bool splitRecipients(std::string_view list, std::vector<std::string>* out) {
  constexpr size_t kMaxRecipients = 1000;
  for (;;) {
    const size_t comma = list.find(',');
    const std::string_view one = trimControl(list.substr(0, comma));
    if (!validIndianMobile(one) || out->size() == kMaxRecipients) return false;
    out->emplace_back(one);
    if (comma == std::string_view::npos) return true;
    list = list.substr(comma + 1);
  }
}

bool knownServiceType(std::string_view t) {
  return t == "singlemsg" || t == "bulkmsg" || t == "otpmsg" || t == "unicodemsg" ||
         t == "unicodeotpmsg";
}

CdacCheck fail(int code) {
  CdacCheck c;
  c.code = code;
  c.reason = cdacErrorText(code);
  return c;
}

}  // namespace

std::string cdacKey(std::string_view username, std::string_view sender_id,
                    std::string_view content, std::string_view secure_key) {
  std::string joined;
  joined.reserve(username.size() + sender_id.size() + content.size() + secure_key.size());
  joined.append(trimControl(username));
  joined.append(trimControl(sender_id));
  joined.append(trimControl(content));
  joined.append(trimControl(secure_key));
  return sha512Hex(joined);
}

bool validIndianMobile(std::string_view number) {
  const std::string_view n = nationalMobile(number);
  return n.size() == 10 && allDigits(n) && n.front() >= '6';
}

// Order: presence, credentials, key, sender id, recipients -- credentials
// before anything that would tell a stranger more about the account.
CdacCheck checkCdacRequest(const Form& form, const CdacAccount& account) {
  static constexpr std::string_view kRequired[] = {"username", "password", "senderid", "content",
                                                   "smsservicetype", "templateid", "key"};
  for (std::string_view name : kRequired) {
    const std::string* v = form.find(name);
    if (v == nullptr || trimControl(*v).empty()) return fail(404);
  }
  const std::string& type = *form.find("smsservicetype");
  if (!knownServiceType(type)) return fail(404);
  // CDAC's Java sample posts bulkmsg and unicodemsg with bulkmobno (a
  // comma-separated list), every other type with mobileno.
  const bool bulk = type == "bulkmsg" || type == "unicodemsg";
  const std::string* to = form.find(bulk ? "bulkmobno" : "mobileno");
  if (to == nullptr || trimControl(*to).empty()) return fail(404);

  const std::string want_password = sha1Hex(account.password);
  const std::string& password = *form.find("password");
  if (trimControl(*form.find("username")) != account.username || password.size() != want_password.size() ||
      !crypto::constantTimeEqual(password.data(), want_password.data(), password.size())) {
    return fail(401);
  }
  const std::string& content = *form.find("content");
  const std::string want_key =
      cdacKey(*form.find("username"), *form.find("senderid"), content, account.secure_key);
  const std::string& key = *form.find("key");
  if (key.size() != want_key.size() ||
      !crypto::constantTimeEqual(key.data(), want_key.data(), key.size())) {
    return fail(403);
  }
  if (trimControl(*form.find("senderid")) != account.sender_id) return fail(411);

  CdacCheck ok;
  if (!splitRecipients(*to, &ok.recipients) || (!bulk && ok.recipients.size() != 1)) return fail(406);
  ok.code = 402;
  ok.service_type = type;
  ok.content = &content;
  return ok;
}

std::string_view cdacErrorText(int code) {
  switch (code) {
    case 401: return "Credentials Error, may be invalid username or password";
    case 403: return "Invalid key";
    case 404: return "Missing or invalid parameter";
    case 405: return "Internal Networking Error";
    case 406: return "Invalid or Duplicate numbers";
    case 407: return "Network Error on SMSC";
    case 408: return "Network Error on SMSC";
    case 409: return "SMSC response timed out, message will be submitted";
    case 411: return "Sender ID not approved";
    default: return "";
  }
}

std::string cdacError(int code) {
  return "ERROR : " + std::to_string(code) + " " + std::string(cdacErrorText(code));
}

bool isCdacTemporary(int code) { return code == 405 || code == 407 || code == 408 || code == 409; }

bool isCdacPermanent(int code) { return !isCdacTemporary(code) && !cdacErrorText(code).empty(); }

std::string_view nationalMobile(std::string_view n) {
  if (n.size() == 12 && n.substr(0, 2) == "91") n.remove_prefix(2);
  if (n.size() == 11 && n.front() == '0') n.remove_prefix(1);
  return n;
}

}  // namespace phigate::mock
