// Runs in: grootfs-helper (privileged). Trusts: nothing from the peer.
// One handler per request type, given the request already decoded and shape-checked for its
// op (ipc::Decode). Each returns the reply payload or an Error (a reply too).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "helper/session.h"
#include "ipc/codec.h"

namespace grootfs::helper {

using Payload = std::vector<std::byte>;

using Handler = Result<Payload> (*)(Session&, const ipc::Request&, std::span<UniqueFd>);

Result<Payload> HandleUnpackLayer(Session& s, const ipc::Request& req, std::span<UniqueFd> fds);
Result<Payload> HandleMountRootfs(Session& s, const ipc::Request& req, std::span<UniqueFd> fds);
Result<Payload> HandleUnmountRootfs(Session& s, const ipc::Request& req, std::span<UniqueFd> fds);
Result<Payload> HandleRemoveTree(Session& s, const ipc::Request& req, std::span<UniqueFd> fds);
Result<Payload> HandleSetQuota(Session& s, const ipc::Request& req, std::span<UniqueFd> fds);
Result<Payload> HandleReadQuota(Session& s, const ipc::Request& req, std::span<UniqueFd> fds);

// A quota of `bytes` in XFS's 512-byte basic blocks, rounded up, never wrapping to 0 ("none").
inline std::uint64_t BasicBlocks(std::uint64_t bytes) { return bytes / 512 + (bytes % 512 != 0); }

}  // namespace grootfs::helper
