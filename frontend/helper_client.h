// The frontend's only user of the wire: starts grootfs-helper over a socketpair and offers one
// typed call per request. Failures are thrown as frontend::Error.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "ipc/codec.h"
#include "frontend/util/error.h"
#include "ipc/unique_fd.h"

namespace grootfs::frontend {

// A request the helper refused: its one-line reason and the errno it replied with.
class HelperError : public Error {
 public:
  HelperError(const std::string& message, int code) : Error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

class HelperClient {
 public:
  // kAwait: Start returns once the helper has accepted the session. kLater: Start returns as
  // soon as Hello is sent, so the helper's start-up overlaps the caller's own work; its reply
  // is read (and a refusal thrown) by the first request.
  enum class Hello { kAwait, kLater };
  // Starts the helper and opens a session on the store (Hello).
  static std::unique_ptr<HelperClient> Start(const std::string& helper_bin,
                                             const std::string& store, Hello hello = Hello::kAwait);
  // Start with Hello::kLater for a command that will most likely need the helper; nullptr when
  // it cannot even be started (the caller starts it again when it does need it, which then
  // throws why). An early helper never asked anything logs its stderr at debug level only.
  static std::unique_ptr<HelperClient> StartEarly(const std::string& helper_bin,
                                                  const std::string& store);
  ~HelperClient();  // ends the session, reaps the helper and relays its stderr to the log
  // Returns once the helper has accepted the session (at once unless started with kLater);
  // throws its refusal, or why it ended. Call it before a step that needs the helper to finish.
  void Ready();
  // Ends the session without waiting: the helper exits while the caller goes on, and is reaped
  // by the destructor. A request after this throws.
  void Hangup();
  HelperClient(const HelperClient&) = delete;
  HelperClient& operator=(const HelperClient&) = delete;

  // Unpacks the plain tar read from stream_fd into STORE/tmp/<work>/diff; more than `budget`
  // bytes of file data (0: no budget) stops it with HelperError EDQUOT. `lower_keys` (topmost
  // first) are the layers below, whose directories give implied ones their metadata.
  ipc::CountReply UnpackLayer(const std::string& work, const std::vector<std::string>& base_dir,
                              int stream_fd, std::uint64_t budget,
                              const std::vector<std::string>& lower_keys);
  // Mounts <area>/<name>/rootfs from layers (topmost first) with <name>/diff and <name>/work.
  void MountRootfs(ipc::Area area, const std::string& name,
                   const std::vector<std::string>& layer_keys_topmost_first);
  void UnmountRootfs(ipc::Area area, const std::string& name);
  // Unmounts the store's rootfs mount with this mount id wherever a user moved it (the helper
  // checks it is the store's, by its tag, on an fd pinned to that mount).
  void UnmountMovedMount(std::uint64_t mount_id);
  void RemoveTree(ipc::Area area, const std::string& name);
  // Puts <area>/<name> (still empty, and a subvolume on btrfs) under a quota of `limit` bytes
  // (0: accounted, no limit). HelperError ENOSYS/ESRCH/ENOTSUP: the store has no quotas on.
  void SetQuota(ipc::Area area, const std::string& name, std::uint64_t limit);
  // The bytes <area>/<name> uses by its XFS project quota.
  std::uint64_t ReadQuota(ipc::Area area, const std::string& name);

 private:
  HelperClient(ipc::UniqueFd channel, ipc::UniqueFd stderr_pipe, pid_t pid);
  std::vector<std::byte> Call(ipc::Op op, const std::vector<std::byte>& payload, int fd);
  // Reads the reply to `op`; throws the helper's refusal or why the session ended.
  std::vector<std::byte> AwaitReply(ipc::Op op);
  // Ends the session once: closes the channel, reaps the helper, keeps what it wrote on stderr.
  void Finish();
  // Why the helper ended the session without a reply: the last line it wrote on stderr (its
  // Die line), else the signal that killed it, else its exit status and `seen` (what the
  // channel reported). Finishes the session.
  std::string EndReason(const std::string& seen);

  ipc::UniqueFd channel_;
  ipc::UniqueFd stderr_pipe_;
  pid_t pid_;
  bool finished_ = false;
  bool hello_pending_ = false;  // Hello sent, its reply not read yet
  int status_ = 0;  // waitpid's
  std::string stderr_text_;
};

// The helper path: --helper-bin / helper_bin if given, else ../libexec/grootfs/grootfs-helper
// relative to this executable.
std::string DefaultHelperPath();

}  // namespace grootfs::frontend
