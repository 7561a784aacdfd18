// Runs in: both binaries. Trusts: nothing; every limit the peer can push against, named.
#pragma once

#include <cstddef>
#include <cstdint>

namespace grootfs::ipc::limits {

inline constexpr std::size_t kMaxMessage = 64 * 1024;   // bytes per datagram, header included
inline constexpr std::size_t kMaxReplyText = 256;       // bytes of error text in a reply
inline constexpr std::size_t kMaxName = 255;            // one path component (NAME_MAX)
inline constexpr std::size_t kMaxStorePath = 1024;      // the store path in Hello
inline constexpr std::size_t kMaxLayersPerImage = 500;  // overlay's own stack limit
inline constexpr std::size_t kMaxBaseDirDepth = 32;     // components of a base directory
inline constexpr std::uint64_t kMaxEntriesPerLayer = 1'000'000;
inline constexpr std::size_t kMaxEntryPath = 4095;  // bytes of a tar entry name
inline constexpr unsigned kMaxRequestsPerSession = 100'000;
inline constexpr std::size_t kMaxTreeDepth = 256;  // directory depth RemoveTree descends

}  // namespace grootfs::ipc::limits
