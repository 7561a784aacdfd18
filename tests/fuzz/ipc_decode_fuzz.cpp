// Fuzzes the protocol's decoders (ipc/codec.h) with arbitrary payloads. Every decoder must be
// total (a message or nullopt, never a crash), return only what its op allows, and be exact:
// whatever decodes re-encodes to the very bytes it came from.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "ipc/codec.h"
#include "ipc/limits.h"

namespace {

namespace ipc = grootfs::ipc;

void Require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "ipc_decode_fuzz: %s\n", what);
  std::abort();
}

bool SameBytes(const std::vector<std::byte>& encoded, std::span<const std::byte> in) {
  return std::equal(encoded.begin(), encoded.end(), in.begin(), in.end());
}

// The names and flags each op may carry (PROTOCOL.md).
struct Allowed {
  std::size_t min_names, max_names;
  std::uint32_t flags;
  bool bytes = false;          // whether a non-zero byte count is allowed
  std::size_t max_lowers = 0;  // lower layer keys (UnpackLayer only)
};

Allowed AllowedFor(std::uint16_t op) {
  switch (static_cast<ipc::Op>(op)) {
    case ipc::Op::kUnpackLayer:
      return {0, ipc::limits::kMaxBaseDirDepth, 0, true, ipc::limits::kMaxLayersPerImage};
    case ipc::Op::kMountRootfs:
      return {1, ipc::limits::kMaxLayersPerImage, 0};
    case ipc::Op::kSetQuota:
      return {0, 0, 0, true};
    case ipc::Op::kUnmountRootfs:  // kMovedMount: the byte count is a mount id
      return {0, 0, ipc::kMovedMount, true};
    case ipc::Op::kRemoveTree:
    case ipc::Op::kReadQuota:
      return {0, 0, 0};
    case ipc::Op::kHello:
      break;
  }
  Require(false, "Decode accepted an op that has no request shape");
  return {};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);

  if (auto path = ipc::DecodeHello(in)) {
    Require(!path->empty() && path->front() == '/', "Hello accepted a relative store path");
    Require(path->size() <= ipc::limits::kMaxStorePath, "Hello accepted an over-long path");
    Require(path->find('\0') == std::string::npos, "Hello accepted a NUL");
    Require(SameBytes(ipc::EncodeHello(*path), in), "Hello does not round-trip");
  }

  for (std::uint16_t op = 0; op <= 9; ++op) {
    auto request = ipc::Decode(static_cast<ipc::Op>(op), in);
    if (!request) continue;
    const Allowed allowed = AllowedFor(op);
    Require(request->area == ipc::Area::kTmp || request->area == ipc::Area::kImages ||
                request->area == ipc::Area::kLayers,
            "Decode accepted an unknown area");
    Require(ipc::IsPlainName(request->name), "Decode accepted a name that is not plain");
    Require(
        request->names.size() >= allowed.min_names && request->names.size() <= allowed.max_names,
        "Decode accepted a name count the op does not allow");
    for (const std::string& name : request->names)
      Require(ipc::IsPlainName(name), "Decode accepted a listed name that is not plain");
    Require((request->flags & ~allowed.flags) == 0, "Decode accepted flags the op does not allow");
    Require(request->bytes == 0 || allowed.bytes, "Decode accepted a byte count the op does not take");
    Require(request->lowers.size() <= allowed.max_lowers,
            "Decode accepted lower layers the op does not take");
    for (const std::string& name : request->lowers)
      Require(ipc::IsPlainName(name), "Decode accepted a lower layer key that is not plain");
    Require(SameBytes(ipc::Encode(*request), in), "a request does not round-trip");
  }

  if (auto reply = ipc::DecodeCountReply(in))
    Require(SameBytes(ipc::Encode(*reply), in), "an UnpackLayer reply does not round-trip");
  return 0;
}
