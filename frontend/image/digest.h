// SHA-256 hashing, digest syntax and the cache keys under which unpacked layers are stored.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/image/image_spec.h"

struct SHA256state_st;

namespace grootfs::frontend::image {

// Incremental SHA-256 (OpenSSL's SHA256_* functions). HexDigest() finalizes; call Reset() to hash again.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, std::size_t size);
  void Update(std::string_view data) { Update(data.data(), data.size()); }
  // 64 lowercase hex characters. Updating or finalizing again before Reset() throws.
  std::string HexDigest();
  void Reset();

 private:
  SHA256state_st* ctx_;
  bool finalized_ = false;
};

// Lowercase hex SHA-256 of data.
std::string Sha256Hex(std::string_view data);

// "sha256:" followed by exactly 64 lowercase hex characters. Other algorithms are refused.
bool IsValidDigest(std::string_view digest);

// The 64 hex characters of a valid digest; throws Error (naming `what`) if it is not valid.
std::string DigestHex(std::string_view digest, std::string_view what = "digest");

// The cache key of every layer (lowest first), from diff_id, base_directory and verify.
// e_i = diff_id_i, or "sha256:" + Sha256Hex(diff_id_i + "\n" + base_directory_i) when the
// layer has a base directory; chain_0 = e_0, chain_i = "sha256:" + Sha256Hex(chain_{i-1} + " "
// + e_i) (the OCI ChainID when no layer has a base directory). A verified layer's key is the
// chain's hex; a layer that is not verified, or sits on one that is not, gets "unverified-" +
// hex, so it is never served to an image that expects verified content. Throws Error if a
// diff_id is not a valid digest.
std::vector<std::string> ComputeCacheKeys(const std::vector<LayerSpec>& layers);

// Sets layers[i].cache_key = ComputeCacheKeys(layers)[i].
void AssignCacheKeys(std::vector<LayerSpec>& layers);

}  // namespace grootfs::frontend::image
