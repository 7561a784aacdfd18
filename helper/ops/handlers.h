// Runs in: grootfs-helper (privileged). Trusts: nothing from the peer.
// One handler per request type. Each returns the reply payload or an Error (a reply too).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "helper/session.h"
#include "ipc/codec.h"

namespace grootfs::helper {

using Payload = std::vector<std::byte>;

Result<Payload> HandleUnpackLayer(Session& s, std::span<const std::byte> in,
                                  std::span<UniqueFd> fds);
Result<Payload> HandleMountRootfs(Session& s, std::span<const std::byte> in,
                                  std::span<UniqueFd> fds);
Result<Payload> HandleUnmountRootfs(Session& s, std::span<const std::byte> in,
                                    std::span<UniqueFd> fds);
Result<Payload> HandleRemoveTree(Session& s, std::span<const std::byte> in,
                                 std::span<UniqueFd> fds);

}  // namespace grootfs::helper
