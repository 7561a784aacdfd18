// Runs in: both binaries. Trusts: nothing read from the socket: every datagram is checked for
// truncation, size, magic, version, declared length and declared fd count before use.
#include "ipc/channel.h"

#include <sys/socket.h>

#include <array>
#include <cstring>

#include "ipc/limits.h"

namespace grootfs::ipc {
namespace {

constexpr std::size_t kMaxFds = 2;
using Control = std::array<char, CMSG_SPACE(sizeof(int) * kMaxFds)>;

Error Malformed(const char* what) { return Error{EBADMSG, what}; }

template <typename H>
Result<void> SendDatagram(int sock, const H& head, std::span<const std::byte> payload,
                          std::span<const int> fds) {
  if (sizeof head + payload.size() > limits::kMaxMessage || fds.size() > kMaxFds)
    return Error{EMSGSIZE, "message too large"};
  iovec iov[2] = {{const_cast<H*>(&head), sizeof head},
                  {const_cast<std::byte*>(payload.data()), payload.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  alignas(cmsghdr) Control control{};
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    *c = cmsghdr{CMSG_LEN(sizeof(int) * fds.size()), SOL_SOCKET, SCM_RIGHTS};
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return Error::FromErrno("sendmsg");
  return {};
}

struct Datagram {
  std::vector<std::byte> bytes;
  std::vector<UniqueFd> fds;
};

// Every SCM_RIGHTS fd is owned by a UniqueFd before anything is checked, so none can leak.
Result<Datagram> ReceiveDatagram(int sock) {
  Datagram d;
  d.bytes.resize(limits::kMaxMessage + 1);
  iovec iov{d.bytes.data(), d.bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) Control control{};
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); n >= 0 && c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    for (std::size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      d.fds.emplace_back(fd);
    }
  }
  if (n < 0) return Error::FromErrno("recvmsg");
  if (n == 0) return Error{EPIPE, "peer closed the channel"};
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
      static_cast<std::size_t>(n) > limits::kMaxMessage)
    return Malformed("truncated or oversized datagram");
  d.bytes.resize(static_cast<std::size_t>(n));
  return d;
}

// Splits a datagram into its header and payload, checking magic, version and length.
template <typename H>
Result<std::vector<std::byte>> Unframe(const std::vector<std::byte>& bytes, H& head) {
  if (bytes.size() < sizeof head) return Malformed("short header");
  std::memcpy(&head, bytes.data(), sizeof head);
  if (head.magic != kMagic || head.version != kVersion) return Malformed("bad magic");
  if (head.payload_len != bytes.size() - sizeof head) return Malformed("bad length");
  return std::vector<std::byte>(bytes.begin() + sizeof head, bytes.end());
}

}  // namespace

Result<std::pair<UniqueFd, UniqueFd>> SeqpacketPair() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return Error::FromErrno("socketpair");
  return std::pair<UniqueFd, UniqueFd>{UniqueFd(sv[0]), UniqueFd(sv[1])};
}

Result<void> SendRequest(int sock, Op op, std::span<const std::byte> payload,
                         std::span<const int> fds) {
  const Header h{kMagic, kVersion, static_cast<std::uint16_t>(op),
                 static_cast<std::uint32_t>(payload.size()),
                 static_cast<std::uint32_t>(fds.size())};
  return SendDatagram(sock, h, payload, fds);
}

Result<Message> ReceiveRequest(int sock) {
  auto d = ReceiveDatagram(sock);
  if (!d) return d.error();
  Message m;
  m.fds = std::move(d->fds);
  auto payload = Unframe(d->bytes, m.header);
  if (!payload) return payload.error();
  if (m.header.fd_count != m.fds.size()) return Malformed("fd count mismatch");
  m.payload = std::move(*payload);
  return m;
}

Result<void> SendReply(int sock, Op op, int status, std::span<const std::byte> payload) {
  const ReplyHeader h{kMagic, kVersion, static_cast<std::uint16_t>(op), status,
                      static_cast<std::uint32_t>(payload.size())};
  return SendDatagram(sock, h, payload, {});
}

Result<Reply> ReceiveReply(int sock, Op expected) {
  auto d = ReceiveDatagram(sock);
  if (!d) return d.error();
  Reply r;
  auto payload = Unframe(d->bytes, r.header);
  if (!payload) return payload.error();
  if (!d->fds.empty() || r.header.op != static_cast<std::uint16_t>(expected))
    return Malformed("unexpected reply");
  r.payload = std::move(*payload);
  return r;
}

}  // namespace grootfs::ipc
