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
//   UnpackLayer:   name = work dir in tmp/, names = base directory components (0..32),
//                  bytes = the most file data the layer may unpack to (0: no budget),
//                  lowers = the keys of the layers below it, topmost first (0..500)
//   MountRootfs:   area/name = the image's place, names = layer keys topmost first (1..500)
//   SetQuota:      area/name = the image's place, bytes = the limit (0: account only)
//   UnmountRootfs, RemoveTree, ReadQuota: area/name = the place, no names
// Only UnpackLayer may send lowers.
struct Request {
  Area area = Area::kTmp;
  std::string name;
  std::vector<std::string> names;
  std::uint32_t flags = 0;
  std::uint64_t bytes = 0;
  std::vector<std::string> lowers = {};
};

// UnpackLayer: file data written and kLayerRootOpaque; ReadQuota: bytes the place uses.
struct CountReply {
  std::uint64_t bytes = 0;
  std::uint32_t flags = 0;
};

std::vector<std::byte> EncodeHello(std::string_view store_path);
std::vector<std::byte> Encode(const Request& m);
std::vector<std::byte> Encode(const CountReply& m);

// The store path: absolute, at most kMaxStorePath bytes, no NUL.
std::optional<std::string> DecodeHello(std::span<const std::byte> in);
// Checks the shape `op` allows: the number of names, the flags and whether bytes may be set.
std::optional<Request> Decode(Op op, std::span<const std::byte> in);
std::optional<CountReply> DecodeCountReply(std::span<const std::byte> in);

}  // namespace grootfs::ipc
