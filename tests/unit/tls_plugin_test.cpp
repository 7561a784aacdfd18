// The TLS plugin (grootfs-tls.so) as the unit tests load it, from the build tree: its path, and
// handshake failures against servers that are not TLS, worded and sorted as before the plugin
// (Boost.Asio's ssl::stream). Real registries with TLS are the integration tests'.
#include "frontend/image/tls_plugin.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "frontend/image/http.h"

namespace grootfs::frontend::image::http {
namespace {

// Accepts one connection, sends `answer` (maybe nothing) and closes it.
class OneShotServer {
 public:
  explicit OneShotServer(std::string answer) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd_, 4) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen";
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, answer = std::move(answer)] {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 10000) <= 0) return;
      const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      char hello[512];
      pollfd q{c, POLLIN, 0};
      if (poll(&q, 1, 10000) > 0) (void)!recv(c, hello, sizeof hello, 0);  // the ClientHello
      (void)!send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
      close(c);
    });
  }
  ~OneShotServer() {
    thread_.join();
    close(fd_);
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_) + "/v2/"; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TransferError HandshakeWith(const std::string& answer) {
  OneShotServer server(answer);
  Request r;
  r.url = *ParseUrl(server.url());
  r.stall_seconds = 10;
  try {
    Stream s(r);
  } catch (const TransferError& e) {
    return e;
  }
  ADD_FAILURE() << "the handshake with a server that is not TLS succeeded";
  return TransferError("", "", TransferError::Kind::kOther);
}

TEST(TlsPluginTest, IsFoundBesideTheExecutableAsInstalled) {
  const auto exe = std::filesystem::read_symlink("/proc/self/exe");
  EXPECT_EQ(TlsPluginPath(),
            (exe.parent_path().parent_path() / "libexec/grootfs/grootfs-tls.so").string());
  EXPECT_TRUE(std::filesystem::exists(TlsPluginPath())) << TlsPluginPath();
  const grootfs_tls_api& api = TlsPlugin("test");
  EXPECT_EQ(api.abi_version, static_cast<unsigned>(GROOTFS_TLS_ABI_VERSION));
  EXPECT_EQ(&api, &TlsPlugin("again")) << "loaded once";
}

// Layer threads may make their first https connections at once: one load, one table.
TEST(TlsPluginTest, ThreadsLoadingAtOnceGetTheSameTable) {
  std::vector<const grootfs_tls_api*> seen(8, nullptr);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&seen, i] { seen[i] = &TlsPlugin("thread"); });
  }
  for (auto& t : threads) t.join();
  for (const grootfs_tls_api* api : seen) EXPECT_EQ(api, &TlsPlugin("test"));
}

TEST(TlsPluginTest, APeerThatClosesInTheHandshakeIsATlsFailure) {
  const TransferError e = HandshakeWith("");
  EXPECT_EQ(e.kind(), TransferError::Kind::kTls) << e.what();
  EXPECT_EQ(e.detail(), "TLS handshake: stream truncated") << e.what();
}

TEST(TlsPluginTest, APlainHttpAnswerIsATlsFailure) {
  const TransferError e =
      HandshakeWith("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(e.kind(), TransferError::Kind::kTls) << e.what();
  EXPECT_EQ(e.detail(), "TLS handshake: wrong version number") << e.what();
}

}  // namespace
}  // namespace grootfs::frontend::image::http
