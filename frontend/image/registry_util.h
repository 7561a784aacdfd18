// The pure pieces of the registry client: challenge parsing, which hosts may be insecure, the
// mirror rule, resume bookkeeping, the retry budget, which statuses mean what and the words for
// a failed transfer. No I/O, so unit tests cover them.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/image/http.h"

namespace grootfs::frontend::image::registry {

// One challenge of a WWW-Authenticate header: `Bearer realm="...",service="...",scope="..."`.
// The scheme is lowercased, and so are parameter names; values are unquoted.
struct Challenge {
  std::string scheme;
  std::map<std::string, std::string> params;
};
// Every challenge of one header value (RFC 7235: challenges and their parameters are both
// comma-separated; a token after a comma that is not followed by '=' starts a new challenge).
std::vector<Challenge> ParseWwwAuthenticate(std::string_view header);

// Whether host[:port] is listed (exactly, host compared case-insensitively; an entry may be
// written as a URL, whose scheme and trailing '/' are ignored). An entry without a port
// matches only the host without a port: 127.0.0.1 does not cover 127.0.0.1:5000.
bool IsInsecure(const std::vector<std::string>& insecure_registries, std::string_view authority);

// The mirrors to try, in order, before `registry` (host[:port], "registry-1.docker.io" for
// Docker Hub). Entries of create.registry_mirrors are
//   URL                 a Docker Hub mirror, as in docker's registry-mirrors;
//   HOST[:PORT]=URL     a mirror of that registry only.
// URL is http:// or https:// with an optional path prefix; writing http:// is the operator's
// consent to plain HTTP for that mirror. Throws Error for a malformed entry.
std::vector<http::Url> MirrorsFor(const std::vector<std::string>& registry_mirrors,
                                  std::string_view registry);

// What to do with the response to a blob request that asked for the bytes from `offset` on
// (offset 0: no Range header was sent).
struct ResumeDecision {
  bool ok = false;
  std::uint64_t skip = 0;      // leading body bytes to discard (a server that ignored Range)
  bool size_mismatch = false;  // the server's blob has another size than the descriptor says
  std::string error;           // when !ok: why, in words
};
// status is 200 or 206; content_range is the Content-Range header ("bytes 10-99/100"),
// content_length this response's Content-Length; expected_size is the descriptor's size (-1:
// unknown).
ResumeDecision CheckRangeResponse(std::uint64_t offset, long status,
                                  const std::optional<std::string>& content_range,
                                  const std::optional<std::uint64_t>& content_length,
                                  std::int64_t expected_size);

// Retries with exponential backoff (250 ms doubling, at most 8 s apart), at most 5 retries, and
// none that would start more than 60 s after the first failure. Progress (a byte received)
// starts a fresh budget.
class RetryBudget {
 public:
  using Clock = std::chrono::steady_clock;
  struct Limits {
    int max_retries = 5;
    std::chrono::milliseconds first_delay{250};
    std::chrono::milliseconds max_delay{8000};
    std::chrono::milliseconds window{60000};
  };
  RetryBudget() = default;
  explicit RetryBudget(Limits limits) : limits_(limits) {}

  // A failure at `now`; the delay before the next attempt, or nullopt to give up. A server's
  // Retry-After (seconds) is honoured up to max_delay.
  std::optional<std::chrono::milliseconds> OnFailure(
      Clock::time_point now, std::optional<std::chrono::milliseconds> retry_after = std::nullopt);
  void OnProgress() { failures_ = 0; }
  int failures() const { return failures_; }
  // Time since the first failure of the current budget.
  std::chrono::milliseconds Elapsed(Clock::time_point now) const;

 private:
  Limits limits_;
  int failures_ = 0;
  Clock::time_point first_failure_{};
};

// "Retry-After: N" in seconds (HTTP dates are ignored).
std::optional<std::chrono::milliseconds> ParseRetryAfter(const std::optional<std::string>& value);

// 301, 302, 303, 307 or 308.
bool IsRedirect(long status);
// Worth another attempt: 5xx, 429 and 408.
bool IsRetryableStatus(long status);

// "1.5 s": a duration rounded to a tenth of a second, for messages.
std::string Seconds(std::chrono::milliseconds ms);

// One line about a failed transfer to `host`, with what to do about it: with `hint`, a TLS
// failure names --insecure-registry.
std::string TransferMessage(const http::TransferError& e, const std::string& host, bool hint);

}  // namespace grootfs::frontend::image::registry
