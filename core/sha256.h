#pragma once
// SHA-256 through OpenSSL's EVP interface (no hand-written hashing): streamed, so a download is
// hashed while it is written and a 1 GB file is never held in memory. Digests are lowercase hex,
// as sha256sum, Hugging Face's LFS pointers and torch.hub file names write them.
#include <cstddef>
#include <string>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX; its header stays out of fluxion's headers

namespace fluxion::core {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t size);
  // The digest of everything passed to update(); the hasher cannot be used afterwards.
  std::string hex_digest();

 private:
  evp_md_ctx_st* context_;
};

std::string sha256_hex(const std::string& bytes);
// Hashes a file in chunks; throws fluxion::Error naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

// Whether `digest` (full lowercase hex) matches `pin`: the full 64-digit digest, or a prefix of it
// where only a prefix is known (torch.hub's file names carry the first 8 digits). Case-insensitive.
bool sha256_matches(const std::string& digest, const std::string& pin);

}  // namespace fluxion::core
