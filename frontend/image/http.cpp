#include "frontend/image/http.h"

#include <stdlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "frontend/image/curl_api.h"

namespace grootfs::frontend::image::http {
namespace {

constexpr std::size_t kMaxBuffered = 1024 * 1024;  // pause the transfer above this
constexpr long kCurlBufferSize = 256 * 1024;
constexpr long kConnectTimeoutSeconds = 30;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// curl_global_init once, and one share (DNS cache and TLS sessions) for every handle.
class Global {
 public:
  static Global& Get() {
    static Global global;
    return global;
  }
  CURLSH* share() const { return share_; }

 private:
  Global() {
    Curl().global_init(CURL_GLOBAL_DEFAULT);
    share_ = Curl().share_init();
    if (share_ != nullptr) {
      Curl().share_setopt(share_, CURLSHOPT_LOCKFUNC, &Lock);
      Curl().share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &Unlock);
      Curl().share_setopt(share_, CURLSHOPT_USERDATA, this);
      Curl().share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
      Curl().share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }
  }
  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
    static_cast<Global*>(self)->mutexes_[static_cast<std::size_t>(data) % 16].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* self) {
    static_cast<Global*>(self)->mutexes_[static_cast<std::size_t>(data) % 16].unlock();
  }

  CURLSH* share_ = nullptr;
  std::array<std::mutex, 16> mutexes_;
};

// One multi handle a thread: its connection cache lets consecutive requests share connections.
struct ThreadMulti {
  CURLM* multi = Curl().multi_init();
  ~ThreadMulti() {
    if (multi != nullptr) Curl().multi_cleanup(multi);
  }
};

CURLM* MultiForThisThread() {
  thread_local ThreadMulti holder;
  if (holder.multi == nullptr) throw Error("cannot initialise libcurl (curl_multi_init failed)");
  return holder.multi;
}

// The system's CA certificates as PEM (SSL_CERT_FILE, else libcurl's default bundle), to which
// extra CAs are appended: CURLOPT_CAINFO_BLOB replaces the bundle rather than adding to it.
const std::string& SystemCaPem() {
  static std::once_flag once;
  static std::string pem;
  std::call_once(once, [] {
    std::string path;
    if (const char* env = getenv("SSL_CERT_FILE"); env != nullptr && *env != '\0') {
      path = env;
    } else if (CURL* probe = Curl().easy_init()) {
      char* cainfo = nullptr;
      if (Curl().easy_getinfo(probe, CURLINFO_CAINFO, &cainfo) == CURLE_OK && cainfo != nullptr) {
        path = cainfo;
      }
      Curl().easy_cleanup(probe);
    }
    if (path.empty()) path = "/etc/ssl/certs/ca-certificates.crt";
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    pem = ss.str();
  });
  return pem;
}

bool IsValidPort(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  unsigned value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value > 0 && value <= 65535;
}

TransferError::Kind KindOf(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return TransferError::Kind::kResolve;
    case CURLE_COULDNT_CONNECT:
      return TransferError::Kind::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      return TransferError::Kind::kStalled;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      return TransferError::Kind::kTlsVerify;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
      return TransferError::Kind::kTls;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return TransferError::Kind::kDropped;
    default:
      return TransferError::Kind::kOther;
  }
}

}  // namespace

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
  url.scheme = Lower(text.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https") return std::nullopt;
  std::string_view rest = text.substr(sep + 3);
  const std::size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view path = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  if (authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos || close < 3) return std::nullopt;
    url.host = Lower(authority.substr(0, close + 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      url.port = std::string(after.substr(1));
    }
  } else {
    const std::size_t colon = authority.find(':');
    url.host = Lower(authority.substr(0, colon));
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

struct Stream::Impl {
  CURLM* multi = nullptr;
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  std::string where;  // host[:port] for messages
  char errbuf[CURL_ERROR_SIZE] = {};
  std::vector<char> buffer;
  std::size_t pos = 0;
  bool paused = false;
  bool done = false;
  bool headers_done = false;
  CURLcode result = CURLE_OK;
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;

  ~Impl() {
    if (easy != nullptr) {
      if (multi != nullptr) Curl().multi_remove_handle(multi, easy);
      Curl().easy_cleanup(easy);
    }
    if (header_list != nullptr) Curl().slist_free_all(header_list);
  }

  static size_t OnHeader(char* data, size_t size, size_t count, void* user) {
    auto* self = static_cast<Impl*>(user);
    const std::size_t length = size * count;
    std::string_view line(data, length);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (line.substr(0, 5) == "HTTP/") {
      self->headers.clear();
      self->status = 0;
      const std::size_t space = line.find(' ');
      if (space != std::string_view::npos) {
        self->status = std::strtol(std::string(line.substr(space + 1, 3)).c_str(), nullptr, 10);
      }
    } else if (line.empty()) {
      if (self->status >= 200 || self->status < 100) self->headers_done = true;
    } else if (const std::size_t colon = line.find(':'); colon != std::string_view::npos) {
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
      }
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
      self->headers.emplace_back(Lower(line.substr(0, colon)), std::string(value));
    }
    return length;
  }

  static size_t OnWrite(char* data, size_t size, size_t count, void* user) {
    auto* self = static_cast<Impl*>(user);
    const std::size_t length = size * count;
    self->headers_done = true;
    if (self->buffer.size() - self->pos >= kMaxBuffered) {
      self->paused = true;
      return CURL_WRITEFUNC_PAUSE;
    }
    if (self->pos > 0) {
      self->buffer.erase(self->buffer.begin(),
                         self->buffer.begin() + static_cast<std::ptrdiff_t>(self->pos));
      self->pos = 0;
    }
    self->buffer.insert(self->buffer.end(), data, data + length);
    return length;
  }

  bool Buffered() const { return pos < buffer.size(); }

  void CollectMessages() {
    int left = 0;
    while (CURLMsg* message = Curl().multi_info_read(multi, &left)) {
      if (message->msg != CURLMSG_DONE) continue;
      Impl* owner = nullptr;
      Curl().easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&owner));
      if (owner != nullptr) {
        owner->done = true;
        owner->result = message->data.result;
      }
    }
  }

  // Runs the transfer until ready() or the transfer ends.
  template <typename Ready>
  void Pump(Ready ready) {
    while (!ready() && !done) {
      if (paused && !Buffered()) {
        paused = false;
        Curl().easy_pause(easy, CURLPAUSE_CONT);
        CollectMessages();
        continue;
      }
      int running = 0;
      const CURLMcode mc = Curl().multi_perform(multi, &running);
      if (mc != CURLM_OK) {
        throw TransferError(where, Curl().multi_strerror(mc), TransferError::Kind::kOther);
      }
      CollectMessages();
      if (ready() || done) break;
      (void)Curl().multi_poll(multi, nullptr, 0, 1000, nullptr);
    }
  }

  [[noreturn]] void Fail() const {
    std::string detail = errbuf[0] != '\0' ? errbuf : Curl().easy_strerror(result);
    while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.pop_back();
    TransferError::Kind kind = KindOf(result);
    // A peer that refuses our certificate (or lack of one) says so with an alert after the
    // handshake: that is a TLS failure, not a dropped connection worth retrying.
    if ((result == CURLE_RECV_ERROR || result == CURLE_SEND_ERROR) &&
        detail.find(" alert ") != std::string::npos) {
      kind = TransferError::Kind::kTls;
    }
    throw TransferError(where, detail, kind);
  }
};

Stream::Stream(const Request& request) : impl_(std::make_unique<Impl>()) {
  Global& global = Global::Get();
  Impl& s = *impl_;
  s.where = request.url.Authority();
  s.multi = MultiForThisThread();
  s.easy = Curl().easy_init();
  if (s.easy == nullptr) throw Error("cannot initialise libcurl (curl_easy_init failed)");
  CURL* e = s.easy;
  const std::string url = request.url.ToString();
  Curl().easy_setopt(e, CURLOPT_URL, url.c_str());
  Curl().easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  Curl().easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  Curl().easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  Curl().easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  Curl().easy_setopt(e, CURLOPT_CONNECTTIMEOUT, kConnectTimeoutSeconds);
  Curl().easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  Curl().easy_setopt(e, CURLOPT_LOW_SPEED_TIME, request.stall_seconds);
  Curl().easy_setopt(e, CURLOPT_USERAGENT, "grootfs");
  Curl().easy_setopt(e, CURLOPT_BUFFERSIZE, kCurlBufferSize);
  Curl().easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  Curl().easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  Curl().easy_setopt(e, CURLOPT_ERRORBUFFER, s.errbuf);
  Curl().easy_setopt(e, CURLOPT_PRIVATE, &s);
  Curl().easy_setopt(e, CURLOPT_HEADERFUNCTION, &Impl::OnHeader);
  Curl().easy_setopt(e, CURLOPT_HEADERDATA, &s);
  Curl().easy_setopt(e, CURLOPT_WRITEFUNCTION, &Impl::OnWrite);
  Curl().easy_setopt(e, CURLOPT_WRITEDATA, &s);
  if (global.share() != nullptr) Curl().easy_setopt(e, CURLOPT_SHARE, global.share());

  const ProxyConfig proxy = ProxyFromEnvironment(
      request.url.scheme, [](const char* name) { return static_cast<const char*>(getenv(name)); });
  Curl().easy_setopt(e, CURLOPT_PROXY, proxy.proxy.c_str());  // "" = none, env not consulted
  if (!proxy.no_proxy.empty()) Curl().easy_setopt(e, CURLOPT_NOPROXY, proxy.no_proxy.c_str());

  const TlsConfig& tls = request.tls;
  if (!tls.verify) {
    Curl().easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    Curl().easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  } else if (!tls.extra_ca_pem.empty()) {
    std::string pem = SystemCaPem() + "\n" + tls.extra_ca_pem;
    curl_blob blob{pem.data(), pem.size(), CURL_BLOB_COPY};
    Curl().easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
  } else {
    if (const char* file = getenv("SSL_CERT_FILE"); file != nullptr && *file != '\0') {
      Curl().easy_setopt(e, CURLOPT_CAINFO, file);
    }
    if (const char* dir = getenv("SSL_CERT_DIR"); dir != nullptr && *dir != '\0') {
      Curl().easy_setopt(e, CURLOPT_CAPATH, dir);
    }
  }
  if (!tls.client_cert.empty()) {
    Curl().easy_setopt(e, CURLOPT_SSLCERT, tls.client_cert.c_str());
    Curl().easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    Curl().easy_setopt(e, CURLOPT_SSLKEY, tls.client_key.c_str());
  }

  for (const std::string& header : request.headers) {
    curl_slist* next = Curl().slist_append(s.header_list, header.c_str());
    if (next == nullptr) throw Error("cannot build an HTTP request: out of memory");
    s.header_list = next;
  }
  if (s.header_list != nullptr) Curl().easy_setopt(e, CURLOPT_HTTPHEADER, s.header_list);
  const std::string range = std::to_string(request.range_start) + "-";
  if (request.range_start > 0) Curl().easy_setopt(e, CURLOPT_RANGE, range.c_str());

  if (Curl().multi_add_handle(s.multi, e) != CURLM_OK) {
    throw Error("cannot start an HTTP request to " + s.where);
  }
  s.Pump([&] { return s.headers_done; });
  if (!s.headers_done) {
    if (s.done && s.result != CURLE_OK) s.Fail();
    throw TransferError(s.where, "the server sent no response", TransferError::Kind::kDropped);
  }
}

Stream::~Stream() = default;

long Stream::status() const { return impl_->status; }

std::optional<std::string> Stream::Header(std::string_view name) const {
  for (const auto& [key, value] : impl_->headers) {
    if (EqualsNoCase(key, name)) return value;
  }
  return std::nullopt;
}

std::vector<std::string> Stream::Headers(std::string_view name) const {
  std::vector<std::string> values;
  for (const auto& [key, value] : impl_->headers) {
    if (EqualsNoCase(key, name)) values.push_back(value);
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
  if (size == 0) return 0;
  s.Pump([&] { return s.Buffered(); });
  if (s.Buffered()) {
    const std::size_t n = std::min(size, s.buffer.size() - s.pos);
    std::memcpy(buffer, s.buffer.data() + s.pos, n);
    s.pos += n;
    return n;
  }
  if (s.result != CURLE_OK) s.Fail();
  return 0;
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
