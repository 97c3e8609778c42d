// Lower-case hex digests through OpenSSL EVP, for provider protocols that
// hash with algorithms libsodium does not offer (CDAC Mobile Seva: SHA-1 of
// the password, SHA-512 of the request key). Shared by the delivery adapters
// and the mock provider so both sides of a protocol hash the same way.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace phigate::crypto {

/** Hex digest of `data`; empty on an OpenSSL failure. */
std::string sha1Hex(std::string_view data);
std::string sha256Hex(std::string_view data);
std::string sha512Hex(std::string_view data);

/** SHA-512 hex of the concatenation of `parts`, without building it. */
std::string sha512Hex(std::initializer_list<std::string_view> parts);

}  // namespace phigate::crypto
