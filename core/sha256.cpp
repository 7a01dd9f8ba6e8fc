#include "core/sha256.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "core/error.h"

namespace fluxion::core {

Sha256::Sha256() : context_(EVP_MD_CTX_new()) {
  FLUXION_CHECK(context_ && EVP_DigestInit_ex(context_, EVP_sha256(), nullptr) == 1,
                "sha256: OpenSSL could not set up a SHA-256 context");
}

Sha256::~Sha256() { EVP_MD_CTX_free(context_); }

void Sha256::update(const void* data, size_t size) {
  FLUXION_CHECK(EVP_DigestUpdate(context_, data, size) == 1, "sha256: OpenSSL digest update failed");
}

std::string Sha256::hex_digest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  FLUXION_CHECK(EVP_DigestFinal_ex(context_, digest, &length) == 1, "sha256: OpenSSL digest failed");
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

std::string sha256_hex(const std::string& bytes) {
  Sha256 hash;
  hash.update(bytes.data(), bytes.size());
  return hash.hex_digest();
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FLUXION_CHECK(in.good(), path, ": cannot open to check its SHA-256: ", std::strerror(errno));
  Sha256 hash;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() > 0) hash.update(buffer.data(), static_cast<size_t>(in.gcount()));
  }
  FLUXION_CHECK(in.eof(), path, ": read error while checking its SHA-256");
  return hash.hex_digest();
}

bool sha256_matches(const std::string& digest, const std::string& pin) {
  if (pin.empty() || pin.size() > digest.size()) return false;
  return std::equal(pin.begin(), pin.end(), digest.begin(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
}

}  // namespace fluxion::core
