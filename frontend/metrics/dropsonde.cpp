#include "frontend/metrics/dropsonde.h"

#include <netdb.h>
#include <sys/socket.h>

#include <cstring>

#include "events/envelope.pb.h"

namespace grootfs::frontend::metrics {
namespace {

events::Envelope Base(const std::string& origin, events::Envelope::EventType type,
                      std::int64_t timestamp_ns) {
  events::Envelope e;
  e.set_origin(origin);
  e.set_eventtype(type);
  e.set_timestamp(timestamp_ns);
  return e;
}

}  // namespace

std::string ValueMetricEnvelope(const std::string& origin, const std::string& name, double value,
                                const std::string& unit, std::int64_t timestamp_ns) {
  events::Envelope e = Base(origin, events::Envelope::ValueMetric, timestamp_ns);
  auto* m = e.mutable_valuemetric();
  m->set_name(name);
  m->set_value(value);
  m->set_unit(unit);
  return e.SerializeAsString();
}

std::string CounterEnvelope(const std::string& origin, const std::string& name, std::uint64_t delta,
                            std::int64_t timestamp_ns) {
  events::Envelope e = Base(origin, events::Envelope::CounterEvent, timestamp_ns);
  auto* c = e.mutable_counterevent();
  c->set_name(name);
  c->set_delta(delta);
  return e.SerializeAsString();
}

std::string ErrorEnvelope(const std::string& origin, const std::string& source,
                          const std::string& message, std::int64_t timestamp_ns) {
  events::Envelope e = Base(origin, events::Envelope::Error, timestamp_ns);
  auto* err = e.mutable_error();
  err->set_source(source);
  err->set_code(0);
  err->set_message(message);
  return e.SerializeAsString();
}

UdpSender::UdpSender(const std::string& endpoint) {
  const auto colon = endpoint.rfind(':');
  if (colon == std::string::npos || colon + 1 == endpoint.size()) {
    reason_ = "metron_endpoint " + endpoint + " is not HOST:PORT";
    return;
  }
  std::string host = endpoint.substr(0, colon);
  const std::string port = endpoint.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    reason_ = "metron_endpoint " + endpoint + ": " + gai_strerror(rc);
    return;
  }
  for (addrinfo* a = found; a != nullptr && !fd_; a = a->ai_next) {
    ipc::UniqueFd fd(socket(a->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    // connect() on UDP only fixes the peer: no packet, no wait.
    if (fd && connect(fd.get(), a->ai_addr, a->ai_addrlen) == 0)
      fd_ = std::move(fd);
    else
      reason_ = "metron_endpoint " + endpoint + ": " + std::strerror(errno);
  }
  freeaddrinfo(found);
}

void UdpSender::Send(const std::string& datagram) const {
  if (fd_) (void)send(fd_.get(), datagram.data(), datagram.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

}  // namespace grootfs::frontend::metrics
