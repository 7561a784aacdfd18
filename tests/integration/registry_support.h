// Support for the registry tests: Debian's docker-registry started on a free port of 127.0.0.1
// (plain, htpasswd, TLS, pull-through mirror), skopeo pushes, certificates made with openssl,
// and small HTTP servers written here (threads + sockets) that play a registry with injected
// faults, a token service, blob storage or a proxy, counting every request they get.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/utsname.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "tests/integration/support.h"

namespace grootfs_it {

inline constexpr const char* kDockerRegistryBin = "/usr/bin/docker-registry";

inline bool HaveProgram(const std::string& name) {
  const std::string path = detail::ResolveExecutable(name);
  return path.find('/') != std::string::npos && access(path.c_str(), X_OK) == 0;
}

inline bool HaveRegistryTools() {
  return access(kDockerRegistryBin, X_OK) == 0 && HaveProgram("skopeo");
}

// A port of 127.0.0.1 that nothing listens on right now.
inline int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = -1;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) close(fd);
  return port;
}

inline bool PortAccepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// Starts argv in its own process group with stdout and stderr appended to `log`.
inline pid_t Spawn(const std::vector<std::string>& argv, const std::string& log) {
  const std::string exe = detail::ResolveExecutable(argv[0]);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    dup2(devnull, 0);
    dup2(out, 1);
    dup2(out, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    execve(exe.c_str(), cargv.data(), environ);
    _exit(127);
  }
  close(out);
  close(devnull);
  if (pid > 0) setpgid(pid, pid);
  return pid;
}

// SIGTERM to the process group, SIGKILL after 5 s; reaps it.
inline void StopPid(pid_t pid) {
  if (pid <= 0) return;
  kill(-pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(50ms);
  }
  kill(-pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

// ---------------------------------------------------------------------------------------------
// Certificates

// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
struct TestCerts {
  fs::path dir;
  fs::path ca_crt, ca_key, server_crt, server_key, client_cert, client_key;

  bool Make(const fs::path& where) {
    dir = where;
    fs::create_directories(dir);
    ca_crt = dir / "ca.crt";
    ca_key = dir / "ca.key";
    server_crt = dir / "server.crt";
    server_key = dir / "server.key";
    client_cert = dir / "client.cert";
    client_key = dir / "client.key";
    WriteFile(dir / "server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    WriteFile(dir / "client.ext", "extendedKeyUsage=clientAuth\n");
    const std::vector<std::vector<std::string>> steps = {
        {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "2", "-subj", "/CN=grootfs test CA"},
        {"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", server_key, "-out", dir / "server.csr", "-subj", "/CN=127.0.0.1"},
        {"openssl", "x509", "-req", "-in", dir / "server.csr", "-CA", ca_crt, "-CAkey", ca_key,
         "-CAcreateserial", "-out", server_crt, "-days", "2", "-extfile", dir / "server.ext"},
        {"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", client_key, "-out", dir / "client.csr", "-subj", "/CN=grootfs client"},
        {"openssl", "x509", "-req", "-in", dir / "client.csr", "-CA", ca_crt, "-CAkey", ca_key,
         "-CAcreateserial", "-out", client_cert, "-days", "2", "-extfile", dir / "client.ext"},
    };
    for (const auto& step : steps) {
      auto r = RunCmd(step, 60s);
      if (!r.ok()) {
        ADD_FAILURE() << "openssl: " << r.Describe();
        return false;
      }
    }
    return true;
  }

  // A directory in docker's certs.d layout: *.crt CAs, *.cert/*.key client pairs.
  fs::path ClientCertsDir() const {
    const fs::path d = dir / "client-certs";
    fs::create_directories(d);
    fs::copy_file(ca_crt, d / "ca.crt", fs::copy_options::overwrite_existing);
    fs::copy_file(client_cert, d / "client.cert", fs::copy_options::overwrite_existing);
    fs::copy_file(client_key, d / "client.key", fs::copy_options::overwrite_existing);
    return d;
  }
};

// ---------------------------------------------------------------------------------------------
// docker-registry

struct RegistryConfig {
  std::string htpasswd;           // basic auth from this file
  std::string tls_cert, tls_key;  // serve TLS
  std::string client_ca;          // and require client certificates signed by it
  std::string proxy_remote;       // a pull-through cache (mirror) of this registry URL

  // TLS with the test CA's server certificate.
  static RegistryConfig Tls(const TestCerts& certs) {
    RegistryConfig c;
    c.tls_cert = certs.server_crt;
    c.tls_key = certs.server_key;
    return c;
  }
};

class DockerRegistry {
 public:
  DockerRegistry() = default;
  DockerRegistry(const DockerRegistry&) = delete;
  DockerRegistry& operator=(const DockerRegistry&) = delete;
  ~DockerRegistry() { Stop(); }

  bool Start(const fs::path& dir, const RegistryConfig& c = {}) {
    fs::create_directories(dir / "data");
    port_ = FreePort();
    log_ = dir / "registry.log";
    std::string yaml = "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n";
    yaml += "storage:\n  filesystem:\n    rootdirectory: " + (dir / "data").string() + "\n";
    yaml += "http:\n  addr: 127.0.0.1:" + std::to_string(port_) + "\n";
    if (!c.tls_cert.empty()) {
      yaml += "  tls:\n    certificate: " + c.tls_cert + "\n    key: " + c.tls_key + "\n";
      if (!c.client_ca.empty()) yaml += "    clientcas:\n      - " + c.client_ca + "\n";
    }
    if (!c.htpasswd.empty()) {
      yaml += "auth:\n  htpasswd:\n    realm: grootfs-test\n    path: " + c.htpasswd + "\n";
    }
    if (!c.proxy_remote.empty()) yaml += "proxy:\n  remoteurl: " + c.proxy_remote + "\n";
    yaml += "validation:\n  manifests:\n    urls:\n      allow:\n        - '^https?://'\n";
    WriteFile(dir / "config.yml", yaml);
    pid_ = Spawn({kDockerRegistryBin, "serve", (dir / "config.yml").string()}, log_.string());
    for (int i = 0; i < 200; ++i) {
      if (PortAccepts(port_)) return true;
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) break;
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "docker-registry did not start:\n" << ReadFile(log_);
    return false;
  }

  void Stop() {
    StopPid(pid_);
    pid_ = -1;
  }

  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string Log() const { return ReadFile(log_); }

  // Access-log lines of requests grootfs made (User-Agent "grootfs") that contain `what`. The
  // registry logs a request after answering it: wait briefly for the count to settle.
  int GrootfsRequests(const std::string& what = "") const {
    int last = -1;
    for (int i = 0; i < 10; ++i) {
      int n = 0;
      for (const auto& line : Lines(Log())) {
        if (line.find("\"grootfs\"") != std::string::npos &&
            line.find("\" 1") == std::string::npos && line.rfind("time=", 0) != 0 &&
            line.find(what) != std::string::npos) {
          ++n;
        }
      }
      if (n == last) return n;
      last = n;
      std::this_thread::sleep_for(100ms);
    }
    return last;
  }

  // The TCP connections grootfs's requests came on: distinct client addresses (with their ports)
  // in the registry's request log. Call after GrootfsRequests, which waits for the log to settle.
  int GrootfsConnections() const {
    std::set<std::string> clients;
    const std::string key = "http.request.remoteaddr=\"";
    for (const auto& line : Lines(Log())) {
      const size_t at = line.find(key);
      if (line.find("http.request.useragent=grootfs") == std::string::npos ||
          at == std::string::npos) {
        continue;
      }
      const size_t start = at + key.size();
      clients.insert(line.substr(start, line.find('"', start) - start));
    }
    return static_cast<int>(clients.size());
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  fs::path log_;
};

// skopeo copy oci:LAYOUT docker://DEST (all of an index's images with --all).
inline RunResult PushImage(const std::string& layout, const std::string& dest,
                           const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{"skopeo", "copy", "--quiet", "--dest-tls-verify=false"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back("oci:" + layout);
  argv.push_back("docker://" + dest);
  return RunCmd(argv, 120s);
}

// ---------------------------------------------------------------------------------------------
// Small HTTP servers

inline std::string Base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += {k[v >> 18], k[(v >> 12) & 63], i + 1 < in.size() ? k[(v >> 6) & 63] : '=', '='};
  }
  return out;
}

struct HttpReq {
  std::string method, target, path;            // path: target without an absolute-form prefix
  std::map<std::string, std::string> headers;  // names lowercase
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class Conn {
 public:
  Conn(int fd, const std::atomic<bool>& stopping) : fd_(fd), stopping_(stopping) {}
  int fd() const { return fd_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  bool Respond(int status, const std::vector<std::pair<std::string, std::string>>& headers,
               const std::string& body, std::optional<size_t> content_length = std::nullopt) {
    std::string head = "HTTP/1.1 " + std::to_string(status) + " " + Reason(status) + "\r\n";
    for (const auto& [k, v] : headers) head += k + ": " + v + "\r\n";
    head += "Content-Length: " + std::to_string(content_length.value_or(body.size())) + "\r\n";
    head += "Connection: close\r\n\r\n";
    return Send(head) && Send(body);
  }

  bool Json(int status, const std::string& body,
            std::vector<std::pair<std::string, std::string>> headers = {}) {
    headers.emplace_back("Content-Type", "application/json");
    return Respond(status, headers, body);
  }

  // Ends the connection with a TCP reset.
  void Reset() {
    linger l{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    reset_ = true;
  }
  bool reset() const { return reset_; }

  // Holds the connection open, sending nothing, until the client gives up (or the server stops).
  void WaitForClose(std::chrono::seconds max) {
    const auto deadline = std::chrono::steady_clock::now() + max;
    char buf[4096];
    while (!stopping_ && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 200) > 0) {
        const ssize_t n = recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) return;
      }
    }
  }

  static std::string Reason(int status) {
    switch (status) {
      case 200:
        return "OK";
      case 206:
        return "Partial Content";
      case 307:
        return "Temporary Redirect";
      case 401:
        return "Unauthorized";
      case 403:
        return "Forbidden";
      case 404:
        return "Not Found";
      case 500:
        return "Internal Server Error";
      case 503:
        return "Service Unavailable";
      default:
        return "Status";
    }
  }

 private:
  int fd_;
  const std::atomic<bool>& stopping_;
  bool reset_ = false;
};

// An HTTP/1.1 server on 127.0.0.1: one thread a connection, one request a connection
// ("Connection: close"). A TLS ClientHello is hung up on (grootfs tries TLS first with an
// insecure registry). Records every request.
class FakeHttpServer {
 public:
  using Handler = std::function<void(Conn&, const HttpReq&)>;

  explicit FakeHttpServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listen_fd_, 64) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen: " << strerror(errno);
      return;
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;
  ~FakeHttpServer() { Stop(); }

  void Stop() {
    if (stopping_.exchange(true)) return;
    if (acceptor_.joinable()) acceptor_.join();
    close(listen_fd_);
    std::vector<std::thread> workers;
    {
      std::lock_guard lock(mutex_);
      workers.swap(workers_);
    }
    for (auto& t : workers) t.join();
  }

  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_; }
  std::vector<HttpReq> Requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      std::lock_guard lock(mutex_);
      workers_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    std::string data;
    char buf[8192];
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (data.find("\r\n\r\n") == std::string::npos && data.size() < 65536 && !stopping_ &&
           std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      data.append(buf, static_cast<size_t>(n));
      if (!data.empty() && data[0] == 0x16) break;  // TLS handshake: not for us
    }
    HttpReq req;
    const size_t end = data.find("\r\n\r\n");
    if (end != std::string::npos && data[0] != 0x16) {
      std::vector<std::string> lines;
      size_t start = 0;
      while (start < end) {
        size_t e = data.find("\r\n", start);
        lines.push_back(data.substr(start, e - start));
        start = e + 2;
      }
      std::stringstream first(lines.empty() ? "" : lines[0]);
      first >> req.method >> req.target;
      req.path = req.target;
      if (StartsWith(req.path, "http://") || StartsWith(req.path, "https://")) {
        const size_t slash = req.path.find('/', req.path.find("://") + 3);
        req.path = slash == std::string::npos ? "/" : req.path.substr(slash);
      }
      for (size_t i = 1; i < lines.size(); ++i) {
        const size_t colon = lines[i].find(':');
        if (colon == std::string::npos) continue;
        req.headers[Lower(lines[i].substr(0, colon))] = Trim(lines[i].substr(colon + 1));
      }
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(req);
      }
      Conn conn(fd, stopping_);
      handler_(conn, req);
      if (!conn.reset()) shutdown(fd, SHUT_WR);
    }
    close(fd);
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::vector<std::thread> workers_;
  std::vector<HttpReq> requests_;
};

// What goes wrong with one blob response.
struct Fault {
  enum Kind {
    kNone,
    kStatus,
    kReset,
    kTruncate,
    kStall,
    kCorrupt,
    kShort,
    kRedirect,
    kDrop,
    kHang  // no answer at all (not even headers) until the client goes
  };
  Kind kind = kNone;
  int status = 500;      // kStatus
  size_t at = 0;         // bytes sent before kReset/kTruncate/kStall; dropped at the end: kShort
  std::string location;  // kRedirect
};

// A registry (API v2, plain HTTP) serving an OCI layout: its only manifest as every
// repository's tag "latest" (and by digest), any blob of the layout by digest. Optional basic
// or bearer auth, extra manifests by tag, and faults injected into blob responses.
class FakeRegistry {
 public:
  explicit FakeRegistry(const std::string& layout) : layout_(layout) {
    const Json index = ParseJson(ReadFile(fs::path(layout) / "index.json"));
    top_digest_ = index["manifests"][0]["digest"].get<std::string>();
    server_ = std::make_unique<FakeHttpServer>([this](Conn& c, const HttpReq& r) { Handle(c, r); });
  }

  // For the n-th request (from 0) of each blob.
  std::function<Fault(const std::string& digest, int n, const HttpReq&)> blob_fault;
  std::string basic_user, basic_password;  // require basic auth
  std::string bearer_realm, bearer_token;  // require this bearer token, naming this realm
  std::map<std::string, std::pair<std::string, std::string>> tags;  // tag -> type, body
  std::map<std::string, int> tag_status;  // tag -> an error status, as distribution sends one

  int port() const { return server_->port(); }
  std::string host() const { return server_->host(); }
  int connections() const { return server_->connections(); }
  std::vector<HttpReq> Requests() const { return server_->Requests(); }
  int Count(const std::string& needle) const {
    int n = 0;
    for (const auto& r : Requests()) n += r.path.find(needle) != std::string::npos ? 1 : 0;
    return n;
  }
  int BlobRequests(const std::string& digest = "") const { return Count("/blobs/" + digest); }
  int ManifestRequests() const { return Count("/manifests/"); }
  std::string top_digest() const { return top_digest_; }
  void Stop() { server_->Stop(); }

 private:
  bool Authorized(Conn& c, const HttpReq& r) {
    const std::string auth = r.Header("authorization");
    if (!basic_user.empty() && auth != "Basic " + Base64(basic_user + ":" + basic_password)) {
      c.Json(401, R"({"errors":[{"code":"UNAUTHORIZED"}]})",
             {{"WWW-Authenticate", "Basic realm=\"fake-registry\""}});
      return false;
    }
    if (!bearer_token.empty() && auth != "Bearer " + bearer_token) {
      std::string repo = r.path.substr(4);
      repo = repo.substr(0, std::min(repo.find("/manifests/"), repo.find("/blobs/")));
      c.Json(401, R"({"errors":[{"code":"UNAUTHORIZED"}]})",
             {{"WWW-Authenticate", "Bearer realm=\"" + bearer_realm +
                                       "\",service=\"fake-registry\",scope=\"repository:" + repo +
                                       ":pull\""}});
      return false;
    }
    return true;
  }

  std::string Blob(const std::string& digest) const {
    if (!StartsWith(digest, "sha256:") || digest.size() != 71) return "";
    const fs::path p = fs::path(layout_) / "blobs/sha256" / digest.substr(7);
    return Exists(p) ? ReadFile(p) : "";
  }

  void Handle(Conn& c, const HttpReq& r) {
    if (r.method != "GET" && r.method != "HEAD") {
      c.Json(405, "{}");
      return;
    }
    if (!StartsWith(r.path, "/v2/")) {
      c.Json(404, "{}");
      return;
    }
    if (!Authorized(c, r)) return;
    if (r.path == "/v2/") {
      c.Json(200, "{}");
      return;
    }
    const size_t m = r.path.find("/manifests/");
    const size_t b = r.path.find("/blobs/");
    if (m != std::string::npos) {
      const std::string ref = r.path.substr(m + 11);
      if (auto it = tag_status.find(ref); it != tag_status.end()) {
        c.Respond(it->second,
                  {{"Content-Type", "application/json"},
                   {"Docker-Distribution-Api-Version", "registry/2.0"}},
                  R"({"errors":[{"code":"NAME_INVALID"}]})");
        return;
      }
      if (auto it = tags.find(ref); it != tags.end()) {
        c.Respond(200, {{"Content-Type", it->second.first}}, it->second.second);
        return;
      }
      const std::string digest = ref == "latest" ? top_digest_ : ref;
      const std::string body = Blob(digest);
      if (body.empty()) {
        c.Json(404, R"({"errors":[{"code":"MANIFEST_UNKNOWN"}]})");
        return;
      }
      const Json j = Json::parse(body, nullptr, false);
      const std::string type = j.is_object() && j.contains("mediaType")
                                   ? j["mediaType"].get<std::string>()
                                   : "application/vnd.oci.image.manifest.v1+json";
      c.Respond(200, {{"Content-Type", type}, {"Docker-Content-Digest", digest}}, body);
      return;
    }
    if (b == std::string::npos) {
      c.Json(404, "{}");
      return;
    }
    const std::string digest = r.path.substr(b + 7);
    const std::string blob = Blob(digest);
    int n;
    {
      std::lock_guard lock(mutex_);
      n = blob_requests_[digest]++;
    }
    if (blob.empty()) {
      c.Json(404, R"({"errors":[{"code":"BLOB_UNKNOWN"}]})");
      return;
    }
    const Fault f = blob_fault ? blob_fault(digest, n, r) : Fault{};
    ServeBlob(c, r, blob, f);
  }

  static void ServeBlob(Conn& c, const HttpReq& r, std::string body, const Fault& f) {
    if (f.kind == Fault::kStatus) {
      c.Json(f.status, R"({"errors":[{"code":"UNAVAILABLE"}]})");
      return;
    }
    if (f.kind == Fault::kDrop) {  // a reset before any answer
      c.Reset();
      return;
    }
    if (f.kind == Fault::kHang) {
      c.WaitForClose(120s);
      return;
    }
    if (f.kind == Fault::kRedirect) {
      c.Respond(307, {{"Location", f.location}}, "");
      return;
    }
    const size_t total = body.size();
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers{
        {"Content-Type", "application/octet-stream"}};
    const std::string range = r.Header("range");
    if (StartsWith(range, "bytes=")) {
      const size_t start = std::stoul(range.substr(6));
      if (start >= total) {
        c.Json(416, "{}");
        return;
      }
      body = body.substr(start);
      status = 206;
      headers.emplace_back("Content-Range", "bytes " + std::to_string(start) + "-" +
                                                std::to_string(total - 1) + "/" +
                                                std::to_string(total));
    }
    if (f.kind == Fault::kCorrupt && body.size() > 100) body[body.size() / 2] ^= 0x20;
    if (f.kind == Fault::kShort) body.resize(body.size() - std::min(body.size(), f.at));
    if (f.kind == Fault::kReset || f.kind == Fault::kTruncate || f.kind == Fault::kStall) {
      // Full length announced, fewer bytes sent.
      std::string head = "HTTP/1.1 " + std::to_string(status) + " " + Conn::Reason(status) + "\r\n";
      for (const auto& [k, v] : headers) head += k + ": " + v + "\r\n";
      head += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
      c.Send(head);
      c.Send(std::string_view(body).substr(0, std::min(f.at, body.size())));
      if (f.kind == Fault::kStall) {
        c.WaitForClose(120s);
      } else if (f.kind == Fault::kReset) {
        std::this_thread::sleep_for(300ms);  // let the client read what was sent
        c.Reset();
      }
      return;
    }
    c.Respond(status, headers, body);
  }

  std::string layout_;
  std::string top_digest_;
  std::mutex mutex_;
  std::map<std::string, int> blob_requests_;
  std::unique_ptr<FakeHttpServer> server_;  // last: stopped first
};

// ---------------------------------------------------------------------------------------------
// Layouts made for the tests

inline std::string Sha256Of(const fs::path& file) {
  auto r = RunCmd({"sha256sum", file.string()});
  return r.ok() ? "sha256:" + r.out.substr(0, 64) : "";
}

// Copies a layout (its files writable) to `to`.
inline void CopyLayout(const std::string& from, const fs::path& to) {
  fs::create_directories(to);
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  for (auto& e : fs::recursive_directory_iterator(to)) {
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  }
  fs::permissions(to, fs::perms::owner_write, fs::perm_options::add);
}

// Writes `content` as a blob of the layout; returns its digest.
inline std::string AddBlob(const fs::path& layout, const std::string& content) {
  const fs::path tmp = layout / "blob.tmp";
  WriteFile(tmp, content);
  const std::string digest = Sha256Of(tmp);
  fs::rename(tmp, layout / "blobs/sha256" / digest.substr(7));
  return digest;
}

// Points the layout's index.json at one manifest (or index) blob.
inline void SetIndex(const fs::path& layout, const std::string& media_type,
                     const std::string& digest, size_t size) {
  Json index = {{"schemaVersion", 2},
                {"manifests", {{{"mediaType", media_type}, {"digest", digest}, {"size", size}}}}};
  WriteFile(layout / "index.json", index.dump());
  if (!Exists(layout / "oci-layout"))
    WriteFile(layout / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
}

inline std::string HostArch() {
  struct utsname u {};
  uname(&u);
  const std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  return m;
}

}  // namespace grootfs_it
