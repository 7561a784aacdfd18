#include "frontend/helper_client.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "frontend/helper_spawn.h"
#include "frontend/kernel_features.h"
#include "frontend/lifetime.h"
#include "frontend/log.h"
#include "frontend/util/error.h"
#include "ipc/channel.h"

namespace grootfs::frontend {
namespace {

std::string Describe(int code, const std::string& text) {
  std::string s = text.empty() ? std::string("helper request failed") : text;
  return s + ": " + std::strerror(code);
}

}  // namespace

std::string DefaultHelperPath() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "/usr/libexec/grootfs/grootfs-helper";
  return (exe.parent_path().parent_path() / "libexec/grootfs/grootfs-helper").string();
}

std::unique_ptr<HelperClient> HelperClient::Start(const std::string& helper_bin,
                                                  const std::string& store, Hello hello) {
  const std::string path = helper_bin.empty() ? DefaultHelperPath() : helper_bin;
  if (access(path.c_str(), X_OK) != 0)
    throw Error("cannot run grootfs-helper at " + path + ": " + std::strerror(errno));
  auto pair = ipc::SeqpacketPair();
  if (!pair) throw Error("socketpair: " + std::string(std::strerror(pair.error().code)));
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) throw Error("pipe: " + std::string(std::strerror(errno)));
  ipc::UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]);

  const pid_t pid = SpawnHelper(path, pair->second.get(), err_write.get());
  if (pid < 0) throw Error("clone: " + std::string(std::strerror(errno)));
  pair->second.Reset();
  err_write.Reset();
  lifetime::AddHelper(pid, pair->first.get());  // hung up if grootfs is told to stop
  std::unique_ptr<HelperClient> client(
      new HelperClient(std::move(pair->first), std::move(err_read), pid));
  auto payload = ipc::EncodeHello(store);
  if (hello == Hello::kAwait) {
    client->Call(ipc::Op::kHello, payload, -1);
  } else {
    client->hello_pending_ = true;  // from here its stderr is a hint until a request is made
    if (auto sent = ipc::SendRequest(client->channel_.get(), ipc::Op::kHello, payload, {}); !sent)
      throw Error(client->EndReason(sent.error().text));
  }
  return client;
}

std::unique_ptr<HelperClient> HelperClient::StartEarly(const std::string& helper_bin,
                                                       const std::string& store) {
  try {
    return Start(helper_bin, store, Hello::kLater);
  } catch (const std::exception& e) {
    Logger::Get().Debug("helper-not-started-early", {{"error", e.what()}});
    return nullptr;
  }
}

HelperClient::HelperClient(ipc::UniqueFd channel, ipc::UniqueFd stderr_pipe, pid_t pid)
    : channel_(std::move(channel)), stderr_pipe_(std::move(stderr_pipe)), pid_(pid) {}

HelperClient::~HelperClient() {
  Finish();
  std::size_t start = 0;
  while (start < stderr_text_.size()) {
    std::size_t end = stderr_text_.find('\n', start);
    if (end == std::string::npos) end = stderr_text_.size();
    // An early helper that was never asked anything failed no request: its lines are a hint.
    if (end > start && hello_pending_)
      Logger::Get().Debug("helper-stderr", {{"line", stderr_text_.substr(start, end - start)}});
    else if (end > start)
      Logger::Get().Error("helper-stderr", {{"line", stderr_text_.substr(start, end - start)}});
    start = end + 1;
  }
  Logger::Get().Debug("helper-exited",
                      {{"status", WIFEXITED(status_) ? WEXITSTATUS(status_) : -1}});
}

void HelperClient::Hangup() {
  if (!channel_) return;
  lifetime::RemoveHelper(pid_);  // before the channel's fd number can be reused
  channel_.Reset();              // the helper sees EOF and exits
}

void HelperClient::Finish() {
  if (finished_) return;
  finished_ = true;
  Hangup();
  while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
  }
  // The helper is gone; whatever it wrote is in the pipe. Non-blocking, so a child of the helper
  // that still holds the pipe's other end cannot hang us.
  (void)fcntl(stderr_pipe_.get(), F_SETFL, O_NONBLOCK);
  char buf[4096];
  ssize_t n;
  while ((n = read(stderr_pipe_.get(), buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) stderr_text_.append(buf, buf + n);
}

std::string HelperClient::EndReason(const std::string& seen) {
  Finish();
  std::string last;
  std::size_t start = 0;
  while (start < stderr_text_.size()) {
    std::size_t end = stderr_text_.find('\n', start);
    if (end == std::string::npos) end = stderr_text_.size();
    if (end > start) last = stderr_text_.substr(start, end - start);
    start = end + 1;
  }
  // Die's lines are "grootfs-helper: WHY"; a WHY that names the helper itself reads once.
  const std::string prefix = "grootfs-helper: ";
  if (last.rfind(prefix + "grootfs-helper ", 0) == 0) last.erase(0, prefix.size());
  if (!last.empty()) return last.rfind("grootfs-helper", 0) == 0 ? last : prefix + last;
  if (WIFSIGNALED(status_))
    return "grootfs-helper was killed by signal " + std::to_string(WTERMSIG(status_)) + " (" +
           strsignal(WTERMSIG(status_)) + ")";
  return "grootfs-helper ended the session without a reason (exit status " +
         std::to_string(WIFEXITED(status_) ? WEXITSTATUS(status_) : -1) +
         (seen.empty() ? "" : "; the channel said: " + seen) + ")";
}

std::vector<std::byte> HelperClient::Call(ipc::Op op, const std::vector<std::byte>& payload,
                                          int fd) {
  if (finished_ || !channel_) throw Error(EndReason(""));
  std::vector<int> fds;
  if (fd >= 0) fds.push_back(fd);
  // A helper that died (at start-up, or on a request) wrote its reason on stderr: that is the
  // error, in one line, with or without a log file. The request may follow a Hello whose reply
  // is still to come: the helper reads it only once it has accepted the session, and a refused
  // Hello ends the session before it.
  if (auto sent = ipc::SendRequest(channel_.get(), op, payload, fds); !sent) {
    if (hello_pending_) Ready();  // the refusal, if that is why
    throw Error(EndReason(sent.error().text));
  }
  Ready();
  return AwaitReply(op);
}

void HelperClient::Ready() {
  if (finished_) throw Error(EndReason(""));
  if (!hello_pending_) return;
  hello_pending_ = false;
  (void)AwaitReply(ipc::Op::kHello);
}

std::vector<std::byte> HelperClient::AwaitReply(ipc::Op op) {
  auto reply = ipc::ReceiveReply(channel_.get(), op);
  if (!reply) throw Error(EndReason(reply.error().text));
  if (reply->header.status != 0) {
    std::string text(reinterpret_cast<const char*>(reply->payload.data()), reply->payload.size());
    throw HelperError(Describe(reply->header.status, text), reply->header.status);
  }
  return std::move(reply->payload);
}

ipc::CountReply HelperClient::UnpackLayer(const std::string& work,
                                          const std::vector<std::string>& base_dir, int stream_fd,
                                          std::uint64_t budget,
                                          const std::vector<std::string>& lower_keys) {
  LogLandlockOnce();
  auto out = Call(ipc::Op::kUnpackLayer,
                  ipc::Encode(ipc::Request{ipc::Area::kTmp, work, base_dir, 0, budget, lower_keys}),
                  stream_fd);
  auto reply = ipc::DecodeCountReply(out);
  if (!reply) throw Error("grootfs-helper sent a malformed reply");
  return *reply;
}

void HelperClient::SetQuota(ipc::Area area, const std::string& name, std::uint64_t limit) {
  (void)Call(ipc::Op::kSetQuota, ipc::Encode(ipc::Request{area, name, {}, 0, limit}), -1);
}

std::uint64_t HelperClient::ReadQuota(ipc::Area area, const std::string& name) {
  auto out = Call(ipc::Op::kReadQuota, ipc::Encode(ipc::Request{area, name, {}, 0, 0}), -1);
  auto reply = ipc::DecodeCountReply(out);
  if (!reply) throw Error("grootfs-helper sent a malformed reply");
  return reply->bytes;
}

void HelperClient::MountRootfs(ipc::Area area, const std::string& name,
                               const std::vector<std::string>& layer_keys_topmost_first) {
  ipc::Request req{area, name, layer_keys_topmost_first, 0};
  (void)Call(ipc::Op::kMountRootfs, ipc::Encode(req), -1);
}

void HelperClient::UnmountRootfs(ipc::Area area, const std::string& name) {
  (void)Call(ipc::Op::kUnmountRootfs, ipc::Encode(ipc::Request{area, name, {}, 0}), -1);
}

void HelperClient::UnmountMovedMount(std::uint64_t mount_id) {
  // The place is a fresh name, so only the moved mount is looked for.
  ipc::Request req{ipc::Area::kTmp, "moved-mount-" + std::to_string(getpid()), {}, ipc::kMovedMount,
                   mount_id};
  (void)Call(ipc::Op::kUnmountRootfs, ipc::Encode(req), -1);
}

void HelperClient::RemoveTree(ipc::Area area, const std::string& name) {
  (void)Call(ipc::Op::kRemoveTree, ipc::Encode(ipc::Request{area, name, {}, 0}), -1);
}

}  // namespace grootfs::frontend
