#include "frontend/image/http_proxy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

#include "frontend/util/ascii.h"

namespace grootfs::frontend::image::http {
namespace {

// An IPv4 or IPv6 address as 16 bytes (IPv4 in the first 4) and its length in bits.
struct Address {
  std::array<unsigned char, 16> bytes{};
  int bits = 0;
};

std::optional<Address> ParseAddress(std::string_view text) {
  const std::string s(Unbracketed(text));
  Address a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.bits = 32;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    a.bits = 128;
    return a;
  }
  return std::nullopt;
}

bool InRange(const Address& host, const Address& net, int prefix) {
  if (host.bits != net.bits || prefix < 0 || prefix > net.bits) return false;
  for (int i = 0; i < prefix; ++i) {
    const int mask = 0x80 >> (i % 8);
    if ((host.bytes[i / 8] & mask) != (net.bytes[i / 8] & mask)) return false;
  }
  return true;
}

bool EntryMatches(std::string_view entry, const std::string& host) {
  if (const std::optional<Address> address = ParseAddress(host)) {
    const std::size_t slash = entry.find('/');
    const std::optional<Address> net = ParseAddress(entry.substr(0, slash));
    if (!net) return false;
    int prefix = net->bits;
    if (slash != std::string_view::npos) {
      const std::string bits(entry.substr(slash + 1));
      if (bits.empty() || bits.size() > 3 ||
          !std::all_of(bits.begin(), bits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return false;
      }
      prefix = std::stoi(bits);
    }
    return InRange(*address, *net, prefix);
  }
  if (!entry.empty() && entry.front() == '.') entry.remove_prefix(1);
  if (!entry.empty() && entry.back() == '.') entry.remove_suffix(1);
  if (entry.empty()) return false;
  const std::string name = AsciiLower(entry);
  if (host == name) return true;
  return host.size() > name.size() && host[host.size() - name.size() - 1] == '.' &&
         host.compare(host.size() - name.size(), name.size(), name) == 0;
}

// user:password from a proxy URL's user info, percent-decoded.
std::string Decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

bool NoProxyMatches(std::string_view no_proxy, std::string_view host_in) {
  std::string host = AsciiLower(Unbracketed(host_in));
  if (!host.empty() && host.back() == '.') host.pop_back();
  std::size_t start = 0;
  while (start <= no_proxy.size()) {
    std::size_t end = no_proxy.find_first_of(", \t", start);
    if (end == std::string_view::npos) end = no_proxy.size();
    const std::string_view entry = no_proxy.substr(start, end - start);
    if (entry == "*" && no_proxy.find_first_not_of(", \t*") == std::string_view::npos) return true;
    if (!entry.empty() && entry != "*" && EntryMatches(entry, host)) return true;
    start = end + 1;
  }
  return false;
}

std::optional<ProxyRoute> RouteFor(const Url& url, const ProxyConfig& config) {
  if (config.proxy.empty() || NoProxyMatches(config.no_proxy, url.host)) return std::nullopt;
  std::string_view spec = config.proxy;
  const auto bad = [](const std::string& why) {
    return TransferError("proxy", why, TransferError::Kind::kOther);
  };
  if (const std::size_t sep = spec.find("://"); sep != std::string_view::npos) {
    const std::string scheme = AsciiLower(spec.substr(0, sep));
    if (scheme != "http") throw bad("only http:// proxies are supported, not " + scheme + "://");
    spec.remove_prefix(sep + 3);
  }
  spec = spec.substr(0, spec.find_first_of("/?#"));
  ProxyRoute route;
  route.spec = config.proxy;
  if (const std::size_t at = spec.rfind('@'); at != std::string_view::npos) {
    route.authorization = "Basic " + Base64(Decode(spec.substr(0, at)));
    spec.remove_prefix(at + 1);
  }
  const std::optional<Url> parsed = ParseUrl("http://" + std::string(spec) + "/");
  if (!parsed) throw bad("not a proxy URL");
  route.host = std::string(Unbracketed(parsed->host));
  route.port = parsed->port.empty() ? "1080" : parsed->port;
  return route;
}

}  // namespace grootfs::frontend::image::http
