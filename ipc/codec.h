// Runs in: both binaries. Trusts: nothing. Pure encoding and decoding of payloads: no I/O.
// Decoders are total: any byte string yields a message or nullopt, and trailing bytes are an
// error. Names are checked here once and again where the helper uses them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ipc/wire.h"

namespace grootfs::ipc {

// A single path component: not empty, at most kMaxName bytes, no '/', no NUL, not "." or "..".
bool IsPlainName(std::string_view s);

struct HelloRequest {
  std::string store_path;  // absolute, normalised, no NUL
};
struct UnpackLayerRequest {
  std::string work;                   // STORE/tmp/<work> exists; the layer goes to <work>/diff
  std::vector<std::string> base_dir;  // components of the directory entries unpack under
};
struct UnpackLayerReply {
  std::uint64_t bytes = 0;  // bytes of regular file data written
  std::uint32_t flags = 0;  // kLayerRootOpaque
};
struct MountRootfsRequest {
  Area area = Area::kTmp;
  std::string name;                     // <area>/<name>/{rootfs,diff,work}
  std::vector<std::string> layer_keys;  // STORE/layers/<key>/diff, topmost first
  std::uint32_t flags = 0;
};
struct PlaceRequest {  // UnmountRootfs and RemoveTree
  Area area = Area::kTmp;
  std::string name;
};

std::vector<std::byte> Encode(const HelloRequest& m);
std::vector<std::byte> Encode(const UnpackLayerRequest& m);
std::vector<std::byte> Encode(const UnpackLayerReply& m);
std::vector<std::byte> Encode(const MountRootfsRequest& m);
std::vector<std::byte> Encode(const PlaceRequest& m);

std::optional<HelloRequest> DecodeHello(std::span<const std::byte> in);
std::optional<UnpackLayerRequest> DecodeUnpackLayer(std::span<const std::byte> in);
std::optional<UnpackLayerReply> DecodeUnpackLayerReply(std::span<const std::byte> in);
std::optional<MountRootfsRequest> DecodeMountRootfs(std::span<const std::byte> in);
std::optional<PlaceRequest> DecodePlace(std::span<const std::byte> in);

}  // namespace grootfs::ipc
