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

// Every request after Hello has this one shape; what each field means, and how many names an
// op takes, is in wire.h and PROTOCOL.md:
//   UnpackLayer:   name = work dir in tmp/, names = base directory components (0..32)
//   MountRootfs:   area/name = the image's place, names = layer keys topmost first (1..500)
//   UnmountRootfs, RemoveTree: area/name = the place, no names
struct Request {
  Area area = Area::kTmp;
  std::string name;
  std::vector<std::string> names;
  std::uint32_t flags = 0;
};

struct UnpackLayerReply {
  std::uint64_t bytes = 0;  // bytes of regular file data written
  std::uint32_t flags = 0;  // kLayerRootOpaque
};

std::vector<std::byte> EncodeHello(std::string_view store_path);
std::vector<std::byte> Encode(const Request& m);
std::vector<std::byte> Encode(const UnpackLayerReply& m);

// The store path: absolute, at most kMaxStorePath bytes, no NUL.
std::optional<std::string> DecodeHello(std::span<const std::byte> in);
// Checks the shape `op` allows: the number of names and the flags.
std::optional<Request> Decode(Op op, std::span<const std::byte> in);
std::optional<UnpackLayerReply> DecodeUnpackLayerReply(std::span<const std::byte> in);

}  // namespace grootfs::ipc
