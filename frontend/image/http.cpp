#include "frontend/image/http.h"

#include <cctype>

#include "frontend/util/ascii.h"

namespace grootfs::frontend::image::http {
namespace {

bool IsValidPort(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  unsigned value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value > 0 && value <= 65535;
}

}  // namespace

std::string_view Unbracketed(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host.remove_prefix(1);
    host.remove_suffix(1);
  }
  return host;
}

std::string Url::ForLog() const {
  const std::size_t query = path.find('?');
  return scheme + "://" + Authority() + (query == std::string::npos ? path : path.substr(0, query));
}

std::optional<Url> ParseUrl(std::string_view text) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return std::nullopt;
  }
  const std::size_t sep = text.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  Url url;
  url.scheme = AsciiLower(text.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https") return std::nullopt;
  std::string_view rest = text.substr(sep + 3);
  const std::size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view path = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  if (authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos || close < 3) return std::nullopt;
    url.host = AsciiLower(authority.substr(0, close + 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      url.port = std::string(after.substr(1));
    }
  } else {
    const std::size_t colon = authority.find(':');
    url.host = AsciiLower(authority.substr(0, colon));
    if (colon != std::string_view::npos) url.port = std::string(authority.substr(colon + 1));
  }
  if (url.host.empty()) return std::nullopt;
  if (!url.port.empty() && !IsValidPort(url.port)) return std::nullopt;
  if (authority.find(':') != std::string_view::npos && authority.back() == ':') return std::nullopt;
  if (const std::size_t hash = path.find('#'); hash != std::string_view::npos) {
    path = path.substr(0, hash);
  }
  url.path = std::string(path);
  if (url.path.empty() || url.path.front() != '/') url.path = "/" + url.path;
  return url;
}

std::optional<Url> ResolveLocation(const Url& base, std::string_view location) {
  while (!location.empty() && (location.back() == ' ' || location.back() == '\t')) {
    location.remove_suffix(1);
  }
  if (location.empty()) return std::nullopt;
  if (location.find("://") != std::string_view::npos &&
      location.find("://") < location.find_first_of("/?#")) {
    return ParseUrl(location);
  }
  if (location.substr(0, 2) == "//") return ParseUrl(base.scheme + ":" + std::string(location));
  std::string path;
  if (location.front() == '/') {
    path = std::string(location);
  } else if (location.front() == '?') {
    path = base.path.substr(0, base.path.find('?')) + std::string(location);
  } else {
    const std::string base_path = base.path.substr(0, base.path.find('?'));
    path = base_path.substr(0, base_path.rfind('/') + 1) + std::string(location);
  }
  return ParseUrl(base.scheme + "://" + base.Authority() + path);
}

bool SameOrigin(const Url& a, const Url& b) {
  return a.scheme == b.scheme && a.host == b.host && a.EffectivePort() == b.EffectivePort();
}

ProxyConfig ProxyFromEnvironment(std::string_view scheme,
                                 const std::function<const char*(const char*)>& getenv_fn) {
  auto first = [&](std::initializer_list<const char*> names) -> std::string {
    for (const char* name : names) {
      const char* value = getenv_fn(name);
      if (value != nullptr && *value != '\0') return value;
    }
    return "";
  };
  ProxyConfig config;
  if (scheme == "https") {
    config.proxy = first({"https_proxy", "HTTPS_PROXY"});
  } else {
    config.proxy = first({"http_proxy", "HTTP_PROXY"});
  }
  if (config.proxy.empty()) config.proxy = first({"all_proxy", "ALL_PROXY"});
  config.no_proxy = first({"no_proxy", "NO_PROXY"});
  return config;
}

std::string Base64(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(data[i]) << 16) |
                       (static_cast<unsigned char>(data[i + 1]) << 8) |
                       static_cast<unsigned char>(data[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < data.size()) {
    unsigned v = static_cast<unsigned char>(data[i]) << 16;
    if (i + 1 < data.size()) v |= static_cast<unsigned char>(data[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < data.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace grootfs::frontend::image::http
