// Runs in: grootfs-helper (privileged). Trusts: nothing from the channel.
#include "helper/dispatch.h"

#include <unistd.h>

#include <algorithm>
#include <optional>

#include "helper/die.h"
#include "helper/ops/handlers.h"
#include "ipc/channel.h"
#include "ipc/codec.h"
#include "ipc/limits.h"

namespace grootfs::helper {
namespace {

struct OpSpec {
  ipc::Op op;
  std::size_t fds;  // exact number of fds the datagram must carry
  Handler handle;
};

// Every request but Hello. Hello is handled by Serve itself: first, once, no fds.
constexpr OpSpec kOps[] = {
    {ipc::Op::kUnpackLayer, 1, &HandleUnpackLayer},
    {ipc::Op::kMountRootfs, 0, &HandleMountRootfs},
    {ipc::Op::kUnmountRootfs, 0, &HandleUnmountRootfs},
    {ipc::Op::kRemoveTree, 0, &HandleRemoveTree},
    {ipc::Op::kSetQuota, 0, &HandleSetQuota},
    {ipc::Op::kReadQuota, 0, &HandleReadQuota},
};

// Receives the next request; a closed channel is the normal end (nullopt).
std::optional<ipc::Message> Next(int channel) {
  auto m = ipc::ReceiveRequest(channel);
  if (m) return std::move(*m);
  if (m.error().code == EPIPE || m.error().code == ECONNRESET) return std::nullopt;
  Die(m.error().text);
}

void Answer(int channel, ipc::Op op, const Result<Payload>& r) {
  Result<void> sent;
  if (r) {
    sent = ipc::SendReply(channel, op, 0, *r);
  } else {
    const std::string& text = r.error().text;
    const auto* p = reinterpret_cast<const std::byte*>(text.data());
    const std::size_t n = std::min(text.size(), ipc::limits::kMaxReplyText);
    sent = ipc::SendReply(channel, op, r.error().code == 0 ? EIO : r.error().code, {p, n});
  }
  if (!sent) _exit(kExitRefused);  // the peer is gone: nobody is left to answer
}

}  // namespace

int Serve(UniqueFd channel) {
  const int ch = channel.get();
  auto hello = Next(ch);
  if (!hello) return kExitRefused;
  if (hello->header.op != static_cast<std::uint16_t>(ipc::Op::kHello) || !hello->fds.empty())
    Die("the first request must be Hello");
  auto store_path = ipc::DecodeHello(hello->payload);
  if (!store_path) Die("malformed Hello");
  auto session = OpenSession(*store_path, getuid());
  if (!session) {
    Answer(ch, ipc::Op::kHello, session.error());
    return kExitRefused;
  }
  Answer(ch, ipc::Op::kHello, Payload{});

  bool refused = false;
  for (unsigned count = 0;; ++count) {
    auto m = Next(ch);
    if (!m) return refused ? kExitRefused : kExitOk;
    if (count >= ipc::limits::kMaxRequestsPerSession) Die("too many requests");
    const OpSpec* spec = std::ranges::find(kOps, static_cast<ipc::Op>(m->header.op), &OpSpec::op);
    if (spec == std::end(kOps)) Die("unknown or repeated op");
    if (spec->fds != m->fds.size()) Die("wrong number of fds");
    auto req = ipc::Decode(spec->op, m->payload);
    if (!req) Die("malformed request");
    Result<Payload> r = spec->handle(*session, *req, m->fds);
    refused = refused || !r;
    Answer(ch, spec->op, r);
  }
}

}  // namespace grootfs::helper
