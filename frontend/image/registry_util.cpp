#include "frontend/image/registry_util.h"

#include <algorithm>
#include <cctype>

#include "frontend/util/ascii.h"
#include "frontend/util/error.h"

namespace grootfs::frontend::image::registry {
namespace {

bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
         std::string_view("!#$%&'*+-.^_`|~/:").find(c) != std::string_view::npos;
}

std::optional<std::uint64_t> ParseUint(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

// "http://host:port/" -> "host:port"; lowercased host.
std::string NormalizeRegistryEntry(std::string_view entry) {
  if (const std::size_t sep = entry.find("://"); sep != std::string_view::npos) {
    entry = entry.substr(sep + 3);
  }
  while (!entry.empty() && entry.back() == '/') entry.remove_suffix(1);
  return AsciiLower(entry);
}

}  // namespace

namespace {

// Splits at commas outside quoted strings.
std::vector<std::string_view> SplitItems(std::string_view s) {
  std::vector<std::string_view> items;
  std::size_t start = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (quoted && s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      quoted = !quoted;
    } else if (!quoted && s[i] == ',') {
      items.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  items.push_back(s.substr(start));
  return items;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// name=value or name="quoted value"; nullopt when `item` is not a parameter.
std::optional<std::pair<std::string, std::string>> ParseParam(std::string_view item) {
  const std::size_t eq = item.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  const std::string_view name = Trim(item.substr(0, eq));
  if (name.empty() || !std::all_of(name.begin(), name.end(), IsTokenChar)) return std::nullopt;
  std::string_view raw = Trim(item.substr(eq + 1));
  std::string value;
  if (!raw.empty() && raw.front() == '"') {
    for (std::size_t i = 1; i < raw.size() && raw[i] != '"'; ++i) {
      if (raw[i] == '\\' && i + 1 < raw.size()) ++i;
      value += raw[i];
    }
  } else {
    value = std::string(raw);
  }
  return std::make_pair(AsciiLower(name), value);
}

}  // namespace

std::vector<Challenge> ParseWwwAuthenticate(std::string_view header) {
  std::vector<Challenge> challenges;
  for (std::string_view item : SplitItems(header)) {
    item = Trim(item);
    if (item.empty()) continue;
    const std::size_t space = item.find_first_of(" \t");
    const std::string_view first = item.substr(0, space);
    const bool starts_challenge = first.find('=') == std::string_view::npos &&
                                  std::all_of(first.begin(), first.end(), IsTokenChar);
    if (!starts_challenge) {
      if (challenges.empty()) continue;  // a parameter without a challenge: ignored
      if (auto param = ParseParam(item)) challenges.back().params[param->first] = param->second;
      continue;
    }
    Challenge c;
    c.scheme = AsciiLower(first);
    if (space != std::string_view::npos) {
      // The first parameter follows the scheme without a comma (or a token68, ignored).
      if (auto param = ParseParam(item.substr(space + 1))) c.params[param->first] = param->second;
    }
    challenges.push_back(std::move(c));
  }
  return challenges;
}

bool IsInsecure(const std::vector<std::string>& insecure_registries, std::string_view authority) {
  const std::string want = AsciiLower(authority);
  return std::any_of(
      insecure_registries.begin(), insecure_registries.end(),
      [&](const std::string& entry) { return NormalizeRegistryEntry(entry) == want; });
}

std::vector<http::Url> MirrorsFor(const std::vector<std::string>& registry_mirrors,
                                  std::string_view registry) {
  constexpr std::string_view kDockerHub = "registry-1.docker.io";
  std::vector<http::Url> mirrors;
  const std::string want = AsciiLower(registry);
  for (const std::string& entry : registry_mirrors) {
    std::string_view url_text = entry;
    std::string applies_to(kDockerHub);
    const std::size_t eq = entry.find('=');
    if (eq != std::string::npos) {
      applies_to = NormalizeRegistryEntry(std::string_view(entry).substr(0, eq));
      url_text = std::string_view(entry).substr(eq + 1);
      if (applies_to == "docker.io" || applies_to == "index.docker.io") applies_to = kDockerHub;
    }
    std::optional<http::Url> url = http::ParseUrl(url_text);
    if (!url || applies_to.empty()) {
      std::string shown = entry.substr(0, 200);
      for (char& c : shown) {
        if (static_cast<unsigned char>(c) < 0x20) c = '?';
      }
      throw Error("invalid registry mirror '" + shown +
                  "': expected http(s)://HOST[:PORT][/PATH] or REGISTRY=http(s)://HOST[:PORT]");
    }
    if (applies_to != want) continue;
    url->path = url->path.substr(0, url->path.find('?'));
    while (!url->path.empty() && url->path.back() == '/') url->path.pop_back();
    mirrors.push_back(*url);
  }
  return mirrors;
}

ResumeDecision CheckRangeResponse(std::uint64_t offset, long status,
                                  const std::optional<std::string>& content_range,
                                  const std::optional<std::uint64_t>& content_length,
                                  std::int64_t expected_size) {
  ResumeDecision d;
  auto mismatch = [&](std::uint64_t total) {
    d.ok = false;
    d.size_mismatch = true;
    d.error = "the server's blob has " + std::to_string(total) + " bytes, the descriptor says " +
              std::to_string(expected_size);
    return d;
  };
  if (status == 200) {
    if (content_length && expected_size >= 0 &&
        *content_length != static_cast<std::uint64_t>(expected_size)) {
      return mismatch(*content_length);
    }
    d.ok = true;
    d.skip = offset;  // the whole blob again: drop what we already have
    return d;
  }
  if (status != 206) {
    d.error = "unexpected HTTP status " + std::to_string(status);
    return d;
  }
  if (!content_range) {
    d.error = "a partial response without Content-Range";
    return d;
  }
  // bytes START-END/TOTAL (TOTAL may be *)
  std::string_view cr = *content_range;
  if (cr.substr(0, 6) != "bytes ") {
    d.error = "an unsupported Content-Range";
    return d;
  }
  cr.remove_prefix(6);
  const std::size_t dash = cr.find('-');
  const std::size_t slash = cr.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) {
    d.error = "a malformed Content-Range";
    return d;
  }
  const std::optional<std::uint64_t> start = ParseUint(cr.substr(0, dash));
  const std::optional<std::uint64_t> end = ParseUint(cr.substr(dash + 1, slash - dash - 1));
  const std::string_view total_text = cr.substr(slash + 1);
  const std::optional<std::uint64_t> total = ParseUint(total_text);
  if (!start || !end || *end < *start || (!total && total_text != "*")) {
    d.error = "a malformed Content-Range";
    return d;
  }
  if (total && expected_size >= 0 && *total != static_cast<std::uint64_t>(expected_size)) {
    return mismatch(*total);
  }
  if (total && *end >= *total) {
    d.error = "a Content-Range past the end of the blob";
    return d;
  }
  if (*start > offset) {
    d.error = "a partial response starting at byte " + std::to_string(*start) +
              ", after the byte asked for (" + std::to_string(offset) + ")";
    return d;
  }
  if (content_length && *content_length != *end - *start + 1) {
    d.error = "a Content-Length that disagrees with its Content-Range";
    return d;
  }
  d.ok = true;
  d.skip = offset - *start;
  return d;
}

std::optional<std::chrono::milliseconds> RetryBudget::OnFailure(
    Clock::time_point now, std::optional<std::chrono::milliseconds> retry_after) {
  if (failures_ == 0) first_failure_ = now;
  ++failures_;
  if (failures_ > limits_.max_retries) return std::nullopt;
  std::chrono::milliseconds delay = limits_.first_delay;
  for (int i = 1; i < failures_ && delay < limits_.max_delay; ++i) delay *= 2;
  if (retry_after) delay = std::max(delay, *retry_after);
  delay = std::min(delay, limits_.max_delay);
  if (now + delay - first_failure_ > limits_.window) return std::nullopt;
  return delay;
}

std::chrono::milliseconds RetryBudget::Elapsed(Clock::time_point now) const {
  if (failures_ == 0) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(now - first_failure_);
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(const std::optional<std::string>& value) {
  if (!value) return std::nullopt;
  const std::optional<std::uint64_t> seconds = ParseUint(*value);
  if (!seconds) return std::nullopt;
  return std::chrono::milliseconds(std::min<std::uint64_t>(*seconds, 3600) * 1000);
}

bool IsRedirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool IsRetryableStatus(long status) { return status >= 500 || status == 429 || status == 408; }

std::string Seconds(std::chrono::milliseconds ms) {
  const auto tenths = (ms.count() + 50) / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

std::string TransferMessage(const http::TransferError& e, const std::string& host, bool hint) {
  using Kind = http::TransferError::Kind;
  const std::string& detail = e.detail();
  switch (e.kind()) {
    case Kind::kTlsVerify:
      return "the TLS certificate of " + host + " is not trusted (" + detail + ")" +
             (hint ? "; to use it anyway, list it with --insecure-registry " + host : "");
    case Kind::kTls:
      return "TLS with " + host + " failed (" + detail + ")" +
             (hint ? "; if it serves plain HTTP or an untrusted certificate, list it with "
                     "--insecure-registry " +
                         host
                   : "");
    case Kind::kConnect:
      return "cannot connect to " + host + " (" + detail + ")";
    case Kind::kResolve:
      return "cannot resolve " + host + " (" + detail + ")";
    case Kind::kStalled:
      return "no data from " + host + " for too long (" + detail + ")";
    default:
      return "the connection to " + host + " failed (" + detail + ")";
  }
}

}  // namespace grootfs::frontend::image::registry
