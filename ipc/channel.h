// Runs in: both binaries. Trusts: nothing read from the socket.
// One SOCK_SEQPACKET datagram per message; fds travel with SCM_RIGHTS.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "ipc/result.h"
#include "ipc/unique_fd.h"
#include "ipc/wire.h"

namespace grootfs::ipc {

struct Message {
  Header header{};
  std::vector<std::byte> payload;
  std::vector<UniqueFd> fds;  // owned from the moment they arrive
};

struct Reply {
  ReplyHeader header{};
  std::vector<std::byte> payload;
};

// A connected SOCK_SEQPACKET pair, both ends close-on-exec.
Result<std::pair<UniqueFd, UniqueFd>> SeqpacketPair();

Result<void> SendRequest(int sock, Op op, std::span<const std::byte> payload,
                         std::span<const int> fds);
// EPIPE-like errors and EOF are errors; a malformed datagram is an error with EBADMSG.
// Any fds that arrived are closed when the Message (or the error) goes away.
Result<Message> ReceiveRequest(int sock);

Result<void> SendReply(int sock, Op op, int status, std::span<const std::byte> payload);
Result<Reply> ReceiveReply(int sock, Op expected);

}  // namespace grootfs::ipc
