// The CDAC Mobile Seva protocol as the mock provider speaks it, as plain
// functions over a decoded form (no I/O), so unit tests can drive them.
//
// Answers (text/plain, HTTP 200 like the real gateway; the body says it all):
//   402,MsgID = <id>           accepted
//   ERROR : 401 ...            invalid username or password (password is not
//                              lower-case hex SHA-1 of the configured one)
//   ERROR : 403 ...            invalid key (not SHA-512 of the trimmed
//                              username + senderid + content + secure key)
//   ERROR : 404 ...            missing or invalid parameter (also a malformed
//                              form or an unknown smsservicetype)
//   ERROR : 405 ...            temporary: internal networking error  } only
//   ERROR : 407 ...            temporary: network error on SMSC      } when
//   ERROR : 408 ...            temporary: network error on SMSC      } asked
//   ERROR : 409 ...            temporary: SMSC response timed out    } (--fail-next)
//   ERROR : 406 ...            invalid mobile number (mobileno; bulkmobno for
//                              bulkmsg and unicodemsg, as CDAC's Java sample sends them)
//   ERROR : 411 ...            sender id not approved (not the configured one)
// docs/MOCK_PROVIDER.md has the same table.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/ascii.h"
#include "crypto/digest_hex.h"
#include "mock/form.h"

namespace phigate::mock {

/** What the mock accepts: the account a hospital was given. */
struct CdacAccount {
  std::string username;
  std::string password;    // in clear; clients send its SHA-1 hex
  std::string secure_key;  // the account's key for the request hash
  std::string sender_id;
};

// The digests (OpenSSL EVP) and Java's trim() are shared with the delivery
// adapter (crypto/digest_hex.h, common/ascii.h): both sides hash alike.
using crypto::sha1Hex;
using crypto::sha256Hex;
using crypto::sha512Hex;

/** The `key` field a client must send: SHA-512 hex of the four trimmed values. */
std::string cdacKey(std::string_view username, std::string_view sender_id,
                    std::string_view content, std::string_view secure_key);

/** True for a 10-digit Indian mobile (6-9 first) with an optional 91 or 0 prefix. */
bool validIndianMobile(std::string_view number);

/** The outcome of checking one request. */
struct CdacCheck {
  int code = 0;             // 402 accepted, else the error code
  std::string_view reason;  // static text for the error line
  std::vector<std::string> recipients;
  std::string service_type;
  const std::string* content = nullptr;  // into the form, valid while it lives
};

/** Checks a decoded form against the account (no temporary errors: the app adds those). */
CdacCheck checkCdacRequest(const Form& form, const CdacAccount& account);

/** "ERROR : <code> <text>" for an error code (any code of the table above). */
std::string cdacError(int code);

/** The text that goes with an error code ("" when the code is not in the table). */
std::string_view cdacErrorText(int code);

/** True for the codes --fail-next may choose (405, 407, 408, 409). */
bool isCdacTemporary(int code);

/** True for the codes --permanent-next may choose (401, 403, 404, 406, 411). */
bool isCdacPermanent(int code);

/** The 10-digit number without a 91 or 0 prefix (`number` as it is when it has neither). */
std::string_view nationalMobile(std::string_view number);

}  // namespace phigate::mock
