// Runs in: both binaries. Trusts: nothing; constants and trivially copyable types only.
//
// The wire format between grootfs (the unprivileged frontend) and grootfs-helper. One
// SOCK_SEQPACKET datagram per request and one per reply; see ipc/PROTOCOL.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace grootfs::ipc {

inline constexpr std::uint32_t kMagic = 0x47524f54;  // "GROT"
inline constexpr std::uint16_t kVersion = 2;
inline constexpr int kHelperChannelFd = 3;  // the helper's end of the socketpair

enum class Op : std::uint16_t {
  kHello = 1,          // payload: store path. Must come first, once.
  kUnpackLayer = 2,    // fds: [tar stream]; payload: work name, base directory, byte budget
  kMountRootfs = 3,    // payload: place of the image, layer keys topmost first
  kUnmountRootfs = 4,  // payload: place of the image
  kRemoveTree = 5,     // payload: place to remove
  kSetQuota = 6,       // payload: place of the image, limit in bytes (0: account only)
  kReadQuota = 7,      // payload: place of the image; reply: bytes used (XFS)
};

// Where in the store a request points. The helper builds "<area>/<name>" itself from this
// enum and a checked plain name; no path string from the peer ever reaches a syscall.
enum class Area : std::uint8_t {
  kTmp = 1,     // STORE/tmp/NAME: work in progress, trash
  kImages = 2,  // STORE/images/NAME: finished images
  kLayers = 3,  // STORE/layers/NAME: the shared layer cache
};

struct Header {
  std::uint32_t magic;
  std::uint16_t version;
  std::uint16_t op;
  std::uint32_t payload_len;  // bytes after the header
  std::uint32_t fd_count;     // SCM_RIGHTS fds that must come with this datagram
};
static_assert(sizeof(Header) == 16 && std::is_trivially_copyable_v<Header>);

struct ReplyHeader {
  std::uint32_t magic;
  std::uint16_t version;
  std::uint16_t op;           // the op this answers
  std::int32_t status;        // 0 or an errno value
  std::uint32_t payload_len;  // on failure: a short text; on success: op-specific
};
static_assert(sizeof(ReplyHeader) == 16 && std::is_trivially_copyable_v<ReplyHeader>);

// UnmountRootfs flag: also unmount the store's mount whose id is the request's byte count,
// wherever a user moved it.
inline constexpr std::uint32_t kMovedMount = 1;

// CountReply flags (UnpackLayer).
inline constexpr std::uint32_t kLayerRootOpaque = 1;  // the layer's root had an opaque whiteout

}  // namespace grootfs::ipc
