// http::Stream: a request written on a pooled connection, the response's head parsed by
// Boost.Beast, its body read into the caller's buffer (Content-Length) or through the parser
// (chunked, or up to the end of the connection).
#include <stdlib.h>

#include <algorithm>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cctype>
#include <cstring>
#include <limits>

#include "frontend/image/http.h"
#include "frontend/image/http_connection.h"
#include "frontend/util/ascii.h"

namespace grootfs::frontend::image::http {
namespace {

namespace beast = boost::beast;
using Kind = TransferError::Kind;
using Parser = beast::http::response_parser<beast::http::buffer_body>;

constexpr std::chrono::seconds kConnectTimeout{30};
constexpr std::size_t kInputBuffer = 64 * 1024;
constexpr std::uint32_t kHeaderLimit = 64 * 1024;
constexpr std::uint64_t kDrainLimit = 64 * 1024;  // unread body bytes worth reading to reuse

bool HasHeader(const std::vector<std::string>& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(), [&](const std::string& h) {
    const std::size_t colon = h.find(':');
    return colon != std::string::npos &&
           AsciiEqualsNoCase(std::string_view(h).substr(0, colon), name);
  });
}

std::string RequestHead(const Request& request, const std::optional<ProxyRoute>& proxy) {
  const Url& url = request.url;
  const bool absolute = proxy && url.scheme == "http";  // https goes through a tunnel
  std::string head = "GET " + (absolute ? url.ToString() : url.path) + " HTTP/1.1\r\n";
  head += "Host: " + url.Authority() + "\r\n";
  if (absolute && !proxy->authorization.empty()) {
    head += "Proxy-Authorization: " + proxy->authorization + "\r\n";
  }
  if (!HasHeader(request.headers, "user-agent")) head += "User-Agent: grootfs\r\n";
  if (!HasHeader(request.headers, "accept")) head += "Accept: */*\r\n";
  for (const std::string& header : request.headers) {
    if (header.find_first_of("\r\n") != std::string::npos) {
      throw Error("refusing an HTTP header with a line break: " + header.substr(0, 40));
    }
    head += header + "\r\n";
  }
  if (request.range_start > 0) {
    head += "Range: bytes=" + std::to_string(request.range_start) + "-\r\n";
  }
  return head + "\r\n";
}

}  // namespace

struct Stream::Impl {
  std::unique_ptr<Connection> connection;
  std::string where;
  std::chrono::seconds stall{30};
  std::optional<Parser> parser;
  std::vector<char> input = std::vector<char>(kInputBuffer);
  std::size_t begin = 0, end = 0;          // unparsed bytes of input
  std::size_t received = 0;                // bytes of the response so far
  std::optional<std::uint64_t> remaining;  // body bytes still to come when read directly
  bool done = false;
  bool reusable = false;
  bool failed = false;  // a read threw: the connection is in no state to be reused
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;

  // Appends what the connection has to input; 0 when it closed.
  std::size_t Fill() {
    if (begin > 0) {
      std::memmove(input.data(), input.data() + begin, end - begin);
      end -= begin;
      begin = 0;
    }
    if (end == input.size()) throw TransferError(where, "response line too long", Kind::kOther);
    const std::size_t n = connection->ReadSome(input.data() + end, input.size() - end, stall);
    end += n;
    received += n;
    return n;
  }

  std::size_t Feed(beast::error_code& ec) {
    const std::size_t used =
        parser->put(boost::asio::buffer(input.data() + begin, end - begin), ec);
    begin += used;
    if (ec == beast::http::error::need_more || ec == beast::http::error::need_buffer) ec = {};
    return used;
  }

  void ReadHead() {
    while (true) {
      parser.emplace();
      parser->header_limit(kHeaderLimit);
      parser->body_limit(std::numeric_limits<std::uint64_t>::max());
      while (!parser->is_header_done()) {
        beast::error_code ec;
        const std::size_t used = begin < end ? Feed(ec) : 0;
        if (ec) throw TransferError(where, "bad HTTP response: " + ec.message(), Kind::kOther);
        if (used == 0 && Fill() == 0) {
          throw TransferError(where,
                              received == 0 ? "the server sent no response"
                                            : "the connection closed in the response's headers",
                              Kind::kDropped);
        }
      }
      if (parser->get().result_int() >= 200) break;  // 1xx: the final response follows
    }
    const auto& message = parser->get();
    status = message.result_int();
    for (const auto& field : message) {
      std::string name =
          AsciiLower(std::string_view(field.name_string().data(), field.name_string().size()));
      headers.emplace_back(std::move(name),
                           std::string(field.value().data(), field.value().size()));
    }
    if (parser->is_done()) {
      Finish();
    } else if (!parser->chunked() && parser->content_length()) {
      remaining = *parser->content_length();
      if (*remaining == 0) Finish();
    }
  }

  void Finish() {
    done = true;
    reusable = parser->keep_alive() && begin == end;
  }

  std::size_t ReadDirect(void* buffer, std::size_t size) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size, *remaining));
    std::size_t n = 0;
    if (begin < end) {
      n = std::min(want, end - begin);
      std::memcpy(buffer, input.data() + begin, n);
      begin += n;
    } else {
      n = connection->ReadSome(buffer, want, stall);
      if (n == 0) {
        throw TransferError(where,
                            "the connection closed with " + std::to_string(*remaining) +
                                " bytes of the body still to come",
                            Kind::kDropped);
      }
    }
    *remaining -= n;
    if (*remaining == 0) Finish();
    return n;
  }

  std::size_t ReadParsed(void* buffer, std::size_t size) {
    while (!parser->is_done()) {
      auto& body = parser->get().body();
      body.data = buffer;
      body.size = size;
      beast::error_code ec;
      const std::size_t used = begin < end ? Feed(ec) : 0;
      if (ec) throw TransferError(where, "bad HTTP body: " + ec.message(), Kind::kDropped);
      const std::size_t produced = size - body.size;
      if (produced > 0) return produced;
      if (used > 0) continue;
      if (Fill() == 0) {
        parser->put_eof(ec);
        if (ec) {
          throw TransferError(where, "the connection closed before the end of the body",
                              Kind::kDropped);
        }
        break;
      }
    }
    Finish();
    return 0;
  }

  // Reads a small rest of an unread body so that the connection can serve the next request.
  void Drain() {
    if (done || failed || !remaining || *remaining > kDrainLimit) return;
    try {
      std::vector<char> sink(static_cast<std::size_t>(*remaining));
      stall = std::min(stall, std::chrono::seconds(5));
      while (!done) ReadDirect(sink.data(), sink.size());
    } catch (const std::exception&) {
      reusable = false;
    }
  }
};

Stream::Stream(const Request& request) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.where = request.url.Authority();
  s.stall = std::chrono::seconds(std::max(1L, request.stall_seconds));
  Endpoint endpoint{request.url, request.tls, std::nullopt};
  endpoint.proxy =
      RouteFor(request.url, ProxyFromEnvironment(request.url.scheme, [](const char* n) {
                 return static_cast<const char*>(getenv(n));
               }));
  const std::string head = RequestHead(request, endpoint.proxy);
  const std::string key = endpoint.Key();
  while (true) {
    s.connection = Connection::TakeIdle(key);
    const bool reused = s.connection != nullptr;
    if (!reused) s.connection = Connection::Open(endpoint, kConnectTimeout);
    try {
      s.connection->WriteAll(head, s.stall);
      s.ReadHead();
      return;
    } catch (const TransferError& e) {
      // A kept-alive connection the server closed meanwhile: once more on a new one.
      if (!reused || s.received > 0 || e.kind() != Kind::kDropped) throw;
      s.begin = s.end = 0;
    }
  }
}

Stream::~Stream() {
  Impl& s = *impl_;
  s.Drain();
  if (s.done && s.reusable && !s.failed && s.connection)
    Connection::PutIdle(std::move(s.connection));
}

long Stream::status() const { return impl_->status; }

std::optional<std::string> Stream::Header(std::string_view name) const {
  for (const auto& [key, value] : impl_->headers) {
    if (AsciiEqualsNoCase(key, name)) return value;
  }
  return std::nullopt;
}

std::vector<std::string> Stream::Headers(std::string_view name) const {
  std::vector<std::string> values;
  for (const auto& [key, value] : impl_->headers) {
    if (AsciiEqualsNoCase(key, name)) values.push_back(value);
  }
  return values;
}

std::optional<std::uint64_t> Stream::ContentLength() const {
  const std::optional<std::string> value = Header("content-length");
  if (!value || value->empty() || value->size() > 19) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : *value) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

std::size_t Stream::Read(void* buffer, std::size_t size) {
  Impl& s = *impl_;
  if (size == 0 || s.done) return 0;
  try {
    return s.remaining ? s.ReadDirect(buffer, size) : s.ReadParsed(buffer, size);
  } catch (...) {
    s.failed = true;
    throw;
  }
}

std::string Stream::ReadAll(std::size_t limit, const std::string& what) {
  std::string body;
  std::vector<char> chunk(64 * 1024);
  while (true) {
    const std::size_t n = Read(chunk.data(), chunk.size());
    if (n == 0) return body;
    if (body.size() + n > limit) {
      throw Error(what + " is larger than " + std::to_string(limit) + " bytes; refusing it");
    }
    body.append(chunk.data(), n);
  }
}

}  // namespace grootfs::frontend::image::http
