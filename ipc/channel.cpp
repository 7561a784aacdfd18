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

Error Malformed(const char* what) { return Error{EBADMSG, what}; }

Result<void> SendDatagram(int sock, const void* head, std::size_t head_len,
                          std::span<const std::byte> payload, std::span<const int> fds) {
  if (head_len + payload.size() > limits::kMaxMessage || fds.size() > kMaxFds)
    return Error{EMSGSIZE, "message too large"};
  std::vector<std::byte> buf(head_len + payload.size());
  std::memcpy(buf.data(), head, head_len);
  if (!payload.empty()) std::memcpy(buf.data() + head_len, payload.data(), payload.size());
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * kMaxFds)> control{};
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return Error::FromErrno("sendmsg");
  return {};
}

// Wraps every SCM_RIGHTS fd in a UniqueFd first, so none leaks whatever follows.
std::vector<UniqueFd> TakeRights(msghdr& msg) {
  std::vector<UniqueFd> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds.emplace_back(fd);
    }
  }
  return fds;
}

struct Datagram {
  std::vector<std::byte> bytes;
  std::vector<UniqueFd> fds;
};

Result<Datagram> ReceiveDatagram(int sock) {
  Datagram d;
  d.bytes.resize(limits::kMaxMessage + 1);
  iovec iov{d.bytes.data(), d.bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * kMaxFds)> control{};
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  d.fds = TakeRights(msg);
  if (n < 0) return Error::FromErrno("recvmsg");
  if (n == 0) return Error{EPIPE, "peer closed the channel"};
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) return Malformed("truncated datagram");
  if (static_cast<std::size_t>(n) > limits::kMaxMessage) return Malformed("oversized datagram");
  d.bytes.resize(static_cast<std::size_t>(n));
  return d;
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
                 static_cast<std::uint32_t>(payload.size()), static_cast<std::uint32_t>(fds.size())};
  return SendDatagram(sock, &h, sizeof h, payload, fds);
}

Result<Message> ReceiveRequest(int sock) {
  auto d = ReceiveDatagram(sock);
  if (!d) return d.error();
  Message m;
  m.fds = std::move(d->fds);
  if (d->bytes.size() < sizeof(Header)) return Malformed("short header");
  std::memcpy(&m.header, d->bytes.data(), sizeof(Header));
  if (m.header.magic != kMagic || m.header.version != kVersion) return Malformed("bad magic");
  if (m.header.payload_len != d->bytes.size() - sizeof(Header)) return Malformed("bad length");
  if (m.header.fd_count != m.fds.size()) return Malformed("fd count mismatch");
  m.payload.assign(d->bytes.begin() + sizeof(Header), d->bytes.end());
  return m;
}

Result<void> SendReply(int sock, Op op, int status, std::span<const std::byte> payload) {
  if (payload.size() > limits::kMaxMessage - sizeof(ReplyHeader))
    return Error{EMSGSIZE, "reply too large"};
  const ReplyHeader h{kMagic, kVersion, static_cast<std::uint16_t>(op), status,
                      static_cast<std::uint32_t>(payload.size())};
  return SendDatagram(sock, &h, sizeof h, payload, {});
}

Result<Reply> ReceiveReply(int sock, Op expected) {
  auto d = ReceiveDatagram(sock);
  if (!d) return d.error();
  Reply r;
  if (!d->fds.empty()) return Malformed("unexpected fds in reply");
  if (d->bytes.size() < sizeof(ReplyHeader)) return Malformed("short reply");
  std::memcpy(&r.header, d->bytes.data(), sizeof(ReplyHeader));
  if (r.header.magic != kMagic || r.header.version != kVersion ||
      r.header.op != static_cast<std::uint16_t>(expected))
    return Malformed("bad reply header");
  if (r.header.payload_len != d->bytes.size() - sizeof(ReplyHeader)) return Malformed("bad length");
  r.payload.assign(d->bytes.begin() + sizeof(ReplyHeader), d->bytes.end());
  return r;
}

}  // namespace grootfs::ipc
