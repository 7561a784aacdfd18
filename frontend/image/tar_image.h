// A plain root filesystem tarball given as IMAGE (/ABSOLUTE/PATH/TO/ROOTFS.tar): one layer.
#pragma once

#include <string>

#include "frontend/image/image_spec.h"

namespace grootfs::frontend::image {

// Checks that tar_path exists and is a regular file (stat, following symlinks, before anything
// opens it: a fifo or device is refused without being read) and sniffs its compression from
// its first bytes. The one layer is unverified; its cache key is "tar-" + the SHA-256 of the
// path and the file's identity (device, inode, size, mtime, ctime), so a changed file is
// unpacked again. Throws Error ("... no such file or directory" when it does not exist).
ImageSpec LoadTarImage(const std::string& tar_path);

}  // namespace grootfs::frontend::image
