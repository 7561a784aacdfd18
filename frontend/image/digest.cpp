#include "frontend/image/digest.h"

// The low-level functions, deprecated in OpenSSL 3 in favour of EVP: EVP's provider machinery
// (the algorithm name map, openssl.cnf) took about 1 ms at every command, more than hashing an
// image's metadata. These run the same assembly (SHA extensions where the CPU has them).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <new>

#include "frontend/util/error.h"

namespace grootfs::frontend::image {
namespace {

constexpr std::string_view kSha256Prefix = "sha256:";
constexpr std::size_t kSha256HexLength = 64;

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

Sha256::Sha256() : ctx_(new SHA256_CTX) { Reset(); }

Sha256::~Sha256() { delete ctx_; }

void Sha256::Reset() {
  if (SHA256_Init(ctx_) != 1) throw Error("cannot initialise SHA-256 (OpenSSL SHA256_Init)");
  finalized_ = false;
}

void Sha256::Update(const void* data, std::size_t size) {
  if (finalized_) throw Error("internal error: SHA-256 updated after it was finalized");
  if (size == 0) return;
  if (SHA256_Update(ctx_, data, size) != 1) throw Error("SHA-256 update failed (OpenSSL)");
}

std::string Sha256::HexDigest() {
  if (finalized_) throw Error("internal error: SHA-256 finalized twice");
  unsigned char md[SHA256_DIGEST_LENGTH];
  const unsigned int length = SHA256_DIGEST_LENGTH;
  if (SHA256_Final(md, ctx_) != 1) throw Error("SHA-256 final failed (OpenSSL)");
  finalized_ = true;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[md[i] >> 4]);
    hex.push_back(kHex[md[i] & 0x0f]);
  }
  return hex;
}

std::string Sha256Hex(std::string_view data) {
  Sha256 hash;
  hash.Update(data);
  return hash.HexDigest();
}

bool IsValidDigest(std::string_view digest) {
  if (digest.size() != kSha256Prefix.size() + kSha256HexLength) return false;
  if (digest.substr(0, kSha256Prefix.size()) != kSha256Prefix) return false;
  for (char c : digest.substr(kSha256Prefix.size())) {
    if (!IsLowerHex(c)) return false;
  }
  return true;
}

std::string DigestHex(std::string_view digest, std::string_view what) {
  if (!IsValidDigest(digest)) {
    std::string shown(digest.substr(0, 100));
    throw Error(std::string(what) + " '" + shown +
                "' is not a valid digest (expected sha256: and 64 lowercase hex digits)");
  }
  return std::string(digest.substr(kSha256Prefix.size()));
}

std::vector<std::string> ComputeCacheKeys(const std::vector<LayerSpec>& layers) {
  std::vector<std::string> keys;
  keys.reserve(layers.size());
  std::string chain;
  bool all_verified = true;
  for (const LayerSpec& layer : layers) {
    (void)DigestHex(layer.diff_id, "layer diff_id");
    std::string element = layer.diff_id;
    if (!layer.base_directory.empty()) {
      element = std::string(kSha256Prefix) + Sha256Hex(layer.diff_id + "\n" + layer.base_directory);
    }
    chain = chain.empty() ? element : std::string(kSha256Prefix) + Sha256Hex(chain + " " + element);
    all_verified = all_verified && layer.verify;
    const std::string hex = chain.substr(kSha256Prefix.size());
    keys.push_back(all_verified ? hex : "unverified-" + hex);
  }
  return keys;
}

void AssignCacheKeys(std::vector<LayerSpec>& layers) {
  const std::vector<std::string> keys = ComputeCacheKeys(layers);
  for (std::size_t i = 0; i < layers.size(); ++i) layers[i].cache_key = keys[i];
}

}  // namespace grootfs::frontend::image
