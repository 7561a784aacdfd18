// The frontend's only user of the wire: starts grootfs-helper over a socketpair and offers one
// typed call per request. Failures are thrown as frontend::Error.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "ipc/codec.h"
#include "ipc/unique_fd.h"

namespace grootfs::frontend {

class HelperClient {
 public:
  // Starts the helper and opens a session on the store (Hello).
  static std::unique_ptr<HelperClient> Start(const std::string& helper_bin,
                                             const std::string& store);
  ~HelperClient();  // ends the session, reaps the helper and relays its stderr to the log
  HelperClient(const HelperClient&) = delete;
  HelperClient& operator=(const HelperClient&) = delete;

  // Unpacks the plain tar read from stream_fd into STORE/tmp/<work>/diff.
  ipc::UnpackLayerReply UnpackLayer(const std::string& work,
                                    const std::vector<std::string>& base_dir, int stream_fd);
  // Mounts <area>/<name>/rootfs from layers (topmost first) with <name>/diff and <name>/work.
  void MountRootfs(ipc::Area area, const std::string& name,
                   const std::vector<std::string>& layer_keys_topmost_first);
  void UnmountRootfs(ipc::Area area, const std::string& name);
  void RemoveTree(ipc::Area area, const std::string& name);

 private:
  HelperClient(ipc::UniqueFd channel, ipc::UniqueFd stderr_pipe, pid_t pid);
  std::vector<std::byte> Call(ipc::Op op, const std::vector<std::byte>& payload, int fd);

  ipc::UniqueFd channel_;
  ipc::UniqueFd stderr_pipe_;
  pid_t pid_;
};

// The helper path: --helper-bin / helper_bin if given, else ../libexec/grootfs/grootfs-helper
// relative to this executable.
std::string DefaultHelperPath();

}  // namespace grootfs::frontend
