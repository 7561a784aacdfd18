// Runs in: grootfs-unpack, inside the store's user namespace, confined (unpacker/main.cpp).
// Trusts: nothing in the tar stream.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "helper/fs_at.h"
#include "ipc/codec.h"

namespace grootfs::unpacker {

using helper::Error;
using helper::Result;

// Splits a tar entry name into plain components: "./" and empty components dropped; "..",
// an absolute name, NUL or an over-long name refused (nullopt). An empty result is the root.
std::optional<std::vector<std::string>> CleanEntryPath(std::string_view name);

// Unpacks the plain tar read from `stream` into the directory `layer`, under `base_dir`.
// Nothing is written outside `layer`: every parent is resolved beneath it without following a
// symlink, and the final component is never followed. Devices are skipped; OCI whiteouts
// become overlay whiteouts (0/0 character devices, user.overlay.opaque). File data past
// `budget` bytes (0: no budget) stops the unpack with EDQUOT before it is written.
// `lowers` are the diff directories of the layers below, topmost first, read only to give a
// directory the layer implies (names beneath it, not an entry of its own) their metadata.
Result<ipc::CountReply> UnpackTar(int stream, int layer, const std::vector<std::string>& base_dir,
                                  std::span<const int> lowers, std::uint64_t budget);

}  // namespace grootfs::unpacker
