// Dropsonde envelopes (events/*.proto, protobuf-lite) sent over UDP to the loggregator agent.
#pragma once

#include <cstdint>
#include <string>

#include "ipc/unique_fd.h"

namespace grootfs::frontend::metrics {

// The encoded envelopes (exposed for tests).
std::string ValueMetricEnvelope(const std::string& origin, const std::string& name, double value,
                                const std::string& unit, std::int64_t timestamp_ns);
std::string CounterEnvelope(const std::string& origin, const std::string& name, std::uint64_t delta,
                            std::int64_t timestamp_ns);
std::string ErrorEnvelope(const std::string& origin, const std::string& source,
                          const std::string& message, std::int64_t timestamp_ns);

// A non-blocking UDP socket to HOST:PORT ([V6]:PORT too). Unusable (ok() false, reason()
// says why) for an endpoint that does not parse or resolve; then Send does nothing.
class UdpSender {
 public:
  UdpSender() = default;
  explicit UdpSender(const std::string& endpoint);
  bool ok() const { return static_cast<bool>(fd_); }
  const std::string& reason() const { return reason_; }
  // One datagram, MSG_DONTWAIT; a full buffer or an unreachable agent drops it silently.
  void Send(const std::string& datagram) const;

 private:
  ipc::UniqueFd fd_;
  std::string reason_;
};

}  // namespace grootfs::frontend::metrics
