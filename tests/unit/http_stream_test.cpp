// The HTTP client against a scripted server on 127.0.0.1: bodies by length, chunked and up to
// the close, keep-alive reuse, stale pooled connections, truncation, stalls, proxies; a blob's
// response asked for ahead of time (BlobPrefetch) and handed to its reader.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "frontend/image/blob_prefetch.h"
#include "frontend/image/http.h"
#include "frontend/image/http_connection.h"

namespace grootfs::frontend::image::http {
namespace {

using namespace std::chrono_literals;

// What the server does with one request.
struct Reply {
  std::string bytes;   // sent as they are
  bool close = false;  // then closes the connection
  bool hold = false;   // then sends nothing more until the client goes
};

// One thread a connection; each request (its head) is passed to the script with the number of
// requests seen before it on all connections.
class ScriptedServer {
 public:
  using Script = std::function<Reply(const std::string& head, int n)>;
  explicit ScriptedServer(Script script) : script_(std::move(script)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen";
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : workers_) t.join();
    close(fd_);
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int port() const { return port_; }
  int connections() const { return connections_; }
  std::vector<std::string> heads() const {
    std::lock_guard lock(mutex_);
    return heads_;
  }

 private:
  void Accept() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++connections_;
      workers_.emplace_back([this, c] { Serve(c); });
    }
  }
  void Serve(int c) {
    std::string data;
    char buf[4096];
    while (!stop_) {
      const std::size_t end = data.find("\r\n\r\n");
      if (end == std::string::npos) {
        pollfd p{c, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        const ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        data.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      const std::string head = data.substr(0, end + 4);
      data.erase(0, end + 4);
      int n = 0;
      {
        std::lock_guard lock(mutex_);
        n = static_cast<int>(heads_.size());
        heads_.push_back(head);
      }
      const Reply reply = script_(head, n);
      (void)send(c, reply.bytes.data(), reply.bytes.size(), MSG_NOSIGNAL);
      if (reply.close) break;
      while (reply.hold && !stop_) {
        pollfd p{c, POLLIN, 0};
        if (poll(&p, 1, 50) > 0 && recv(c, buf, sizeof buf, 0) <= 0) break;
      }
      if (reply.hold) break;
    }
    close(c);
  }

  Script script_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  std::vector<std::thread> workers_;
  mutable std::mutex mutex_;
  std::vector<std::string> heads_;
};

Reply Ok(const std::string& body) {
  return {"HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body};
}

Request Get(const std::string& url, long stall = 10) {
  Request r;
  r.url = *ParseUrl(url);
  r.stall_seconds = stall;
  return r;
}

std::string Fetch(const Request& r) {
  Stream s(r);
  return s.ReadAll(1 << 20, "body");
}

TEST(HttpStreamTest, RequestsShareOneKeptAliveConnection) {
  ScriptedServer server([](const std::string&, int n) { return Ok("body " + std::to_string(n)); });
  EXPECT_EQ(Fetch(Get(server.url("/a"))), "body 0");
  EXPECT_EQ(Fetch(Get(server.url("/b"))), "body 1");
  EXPECT_EQ(Fetch(Get(server.url("/c"))), "body 2");
  EXPECT_EQ(server.connections(), 1);
  const auto heads = server.heads();
  ASSERT_EQ(heads.size(), 3u);
  EXPECT_NE(heads[0].find("GET /a HTTP/1.1\r\n"), std::string::npos) << heads[0];
  EXPECT_NE(heads[0].find("\r\nUser-Agent: grootfs\r\n"), std::string::npos) << heads[0];
  EXPECT_NE(heads[0].find("\r\nHost: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"),
            std::string::npos)
      << heads[0];
}

TEST(HttpStreamTest, AConnectionTheServerClosesIsNotReused) {
  ScriptedServer server([](const std::string&, int n) {
    Reply r = Ok("x" + std::to_string(n));
    if (n == 0) r.close = true;  // an idle connection the server drops
    return r;
  });
  EXPECT_EQ(Fetch(Get(server.url("/a"))), "x0");
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(Fetch(Get(server.url("/b"))), "x1");
  EXPECT_EQ(server.connections(), 2);
}

TEST(HttpStreamTest, ConnectionCloseIsHonoured) {
  ScriptedServer server([](const std::string&, int) {
    return Reply{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"};
  });
  EXPECT_EQ(Fetch(Get(server.url("/a"))), "ok");
  EXPECT_EQ(Fetch(Get(server.url("/b"))), "ok");
  EXPECT_EQ(server.connections(), 2);
}

TEST(HttpStreamTest, ChunkedBodiesAreDecodedAndTheConnectionKept) {
  const std::string big(100000, 'z');
  char size[16];
  snprintf(size, sizeof size, "%zx", big.size());
  ScriptedServer server([&](const std::string&, int) {
    return Reply{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n" +
                 std::string(size) + "\r\n" + big + "\r\n0\r\nTrailer: x\r\n\r\n"};
  });
  {
    Stream s(Get(server.url("/chunked")));
    EXPECT_EQ(s.status(), 200);
    EXPECT_FALSE(s.ContentLength().has_value());
    EXPECT_EQ(s.ReadAll(1 << 20, "body"), "hello" + big);
  }
  EXPECT_EQ(Fetch(Get(server.url("/again"))).size(), 5 + big.size());
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpStreamTest, ABodyUpToTheCloseIsRead) {
  ScriptedServer server([](const std::string&, int) {
    return Reply{"HTTP/1.0 200 OK\r\n\r\nuntil the end", true};
  });
  EXPECT_EQ(Fetch(Get(server.url("/a"))), "until the end");
}

TEST(HttpStreamTest, AShortBodyIsDroppedAndRetryable) {
  ScriptedServer server([](const std::string&, int) {
    return Reply{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", true};
  });
  Stream s(Get(server.url("/short")));
  char buf[200];
  std::string got;
  try {
    while (std::size_t n = s.Read(buf, sizeof buf)) got.append(buf, n);
    FAIL() << "no error for a short body";
  } catch (const TransferError& e) {
    EXPECT_EQ(e.kind(), TransferError::Kind::kDropped) << e.what();
    EXPECT_TRUE(e.retryable());
  }
  EXPECT_EQ(got, "only this");
}

TEST(HttpStreamTest, ATruncatedChunkedBodyIsDropped) {
  ScriptedServer server([](const std::string&, int) {
    return Reply{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc", true};
  });
  Stream s(Get(server.url("/short")));
  try {
    s.ReadAll(1 << 20, "body");
    FAIL() << "no error for a truncated chunk";
  } catch (const TransferError& e) {
    EXPECT_EQ(e.kind(), TransferError::Kind::kDropped) << e.what();
  }
}

TEST(HttpStreamTest, AStalledBodyEndsWithinTheStallTime) {
  ScriptedServer server([](const std::string&, int) {
    Reply r{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome"};
    r.hold = true;
    return r;
  });
  const auto start = std::chrono::steady_clock::now();
  std::optional<Stream> s;
  s.emplace(Get(server.url("/stall"), 1));
  try {
    s->ReadAll(1 << 20, "body");
    FAIL() << "no error for a stall";
  } catch (const TransferError& e) {
    EXPECT_EQ(e.kind(), TransferError::Kind::kStalled) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 3s);
  const auto failed = std::chrono::steady_clock::now();
  s.reset();  // a failed transfer is not drained: its connection goes at once
  EXPECT_LT(std::chrono::steady_clock::now() - failed, 500ms);
}

TEST(HttpStreamTest, NoResponseIsDroppedAndNoListenerIsConnect) {
  ScriptedServer server([](const std::string&, int) { return Reply{"", true}; });
  try {
    Stream s(Get(server.url("/")));
    FAIL();
  } catch (const TransferError& e) {
    EXPECT_EQ(e.kind(), TransferError::Kind::kDropped) << e.what();
  }
  try {
    Stream s(Get("http://127.0.0.1:1/"));
    FAIL();
  } catch (const TransferError& e) {
    EXPECT_EQ(e.kind(), TransferError::Kind::kConnect) << e.what();
  }
}

TEST(HttpStreamTest, AnUnknownHostIsAResolveError) {
  try {
    Stream s(Get("http://grootfs-no-such-host.invalid/"));
    FAIL();
  } catch (const TransferError& e) {
    EXPECT_EQ(e.kind(), TransferError::Kind::kResolve) << e.what();
  }
}

TEST(HttpStreamTest, RangeAndHeadersAreSentAndAnUnreadBodyLeavesNothingBehind) {
  ScriptedServer server([](const std::string&, int n) {
    return n == 0 ? Reply{"HTTP/1.1 206 Partial\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\n"
                          "12345"}
                  : Ok("next");
  });
  Request r = Get(server.url("/r"));
  r.range_start = 42;
  r.headers = {"Accept: application/json", "Authorization: Bearer t"};
  {
    Stream s(r);
    EXPECT_EQ(s.status(), 206);
    EXPECT_EQ(s.ContentLength(), 5u);
    EXPECT_EQ(s.Headers("x-a"), (std::vector<std::string>{"1", "2"}));
    // not read: drained for the next request
  }
  EXPECT_EQ(Fetch(Get(server.url("/n"))), "next");
  EXPECT_EQ(server.connections(), 1);
  const std::string head = server.heads()[0];
  EXPECT_NE(head.find("\r\nRange: bytes=42-\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nAccept: application/json\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("*/*"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nAuthorization: Bearer t\r\n"), std::string::npos) << head;
}

TEST(HttpStreamTest, AnHttpProxyGetsAbsoluteFormWithItsCredentials) {
  ScriptedServer proxy([](const std::string&, int) { return Ok("via proxy"); });
  const std::string proxy_url = "http://me:secret@127.0.0.1:" + std::to_string(proxy.port());
  setenv("http_proxy", proxy_url.c_str(), 1);
  setenv("no_proxy", "other.example", 1);
  const std::string body = Fetch(Get("http://registry.example:5000/v2/x"));
  unsetenv("http_proxy");
  unsetenv("no_proxy");
  EXPECT_EQ(body, "via proxy");
  ASSERT_EQ(proxy.heads().size(), 1u);
  const std::string head = proxy.heads()[0];
  EXPECT_EQ(head.rfind("GET http://registry.example:5000/v2/x HTTP/1.1\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("\r\nProxy-Authorization: Basic " + Base64("me:secret") + "\r\n"),
            std::string::npos)
      << head;
}

TEST(HttpStreamTest, HttpsThroughAProxyAsksForATunnel) {
  ScriptedServer proxy([](const std::string&, int) {
    return Reply{"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", true};
  });
  setenv("https_proxy", ("127.0.0.1:" + std::to_string(proxy.port())).c_str(), 1);
  try {
    Stream s(Get("https://registry.example/v2/"));
    ADD_FAILURE() << "the refused tunnel was not an error";
  } catch (const TransferError& e) {
    EXPECT_EQ(e.kind(), TransferError::Kind::kConnect) << e.what();
    EXPECT_NE(std::string(e.what()).find("403"), std::string::npos) << e.what();
  }
  unsetenv("https_proxy");
  ASSERT_EQ(proxy.heads().size(), 1u);
  EXPECT_EQ(proxy.heads()[0].rfind("CONNECT registry.example:443 HTTP/1.1\r\n", 0), 0u)
      << proxy.heads()[0];
}

TEST(HttpStreamTest, IPv6LiteralHosts) {
  const int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  socklen_t len = sizeof addr;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (fd >= 0) close(fd);
    GTEST_SKIP() << "no IPv6 loopback";
  }
  ASSERT_EQ(listen(fd, 4), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::string head;
  std::thread server([&] {
    const int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      head.append(buf, static_cast<std::size_t>(n));
    }
    const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6";
    (void)send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
    close(c);
  });
  const std::string authority = "[::1]:" + std::to_string(ntohs(addr.sin6_port));
  std::string body;
  try {
    body = Fetch(Get("http://" + authority + "/six"));
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  server.join();
  close(fd);
  EXPECT_EQ(body, "v6");
  EXPECT_NE(head.find("\r\nHost: " + authority + "\r\n"), std::string::npos) << head;
}

// The response made ahead goes to the one reader of the same blob at the same location, once;
// the others get nothing (and open the blob themselves).
TEST(BlobPrefetchTest, TheResponseGoesOnceToItsBlobAtItsLocation) {
  ScriptedServer server([](const std::string&, int) { return Ok("the blob"); });
  BlobPrefetch prefetch("sha256:aa", "here",
                        [&] { return std::make_unique<Stream>(Get(server.url("/blob"))); });
  EXPECT_EQ(prefetch.Take("sha256:bb", "here"), nullptr);
  EXPECT_EQ(prefetch.Take("sha256:aa", "there"), nullptr);
  std::unique_ptr<Stream> s = prefetch.Take("sha256:aa", "here");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->status(), 200);
  EXPECT_EQ(s->ReadAll(1 << 20, "blob"), "the blob");
  EXPECT_EQ(prefetch.Take("sha256:aa", "here"), nullptr) << "taken twice";
  EXPECT_EQ(server.heads().size(), 1u);
}

// A request that fails is silent (nothing to take); a response never taken is closed when the
// prefetch goes, unread: no thread and no connection outlive it.
TEST(BlobPrefetchTest, FailuresAreSilentAndWhatIsNotTakenIsClosed) {
  {
    BlobPrefetch failed("sha256:aa", "here", []() -> std::unique_ptr<Stream> {
      throw TransferError("127.0.0.1", "refused", TransferError::Kind::kConnect);
    });
    EXPECT_EQ(failed.Take("sha256:aa", "here"), nullptr);
  }
  ScriptedServer server([](const std::string&, int n) {
    if (n > 0) return Ok("next");
    Reply r = Ok(std::string(1 << 20, 'x'));  // more than a connection drains for reuse
    r.hold = true;
    return r;
  });
  std::atomic<bool> opened{false};
  {
    BlobPrefetch unused("sha256:aa", "here", [&] {
      auto s = std::make_unique<Stream>(Get(server.url("/blob")));
      opened = true;
      return s;
    });
    for (int i = 0; i < 500 && !opened; ++i) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(opened);
  EXPECT_EQ(Fetch(Get(server.url("/next"))), "next");
  EXPECT_EQ(server.connections(), 2) << "the unread response's connection was kept";
}

// A prefetch that goes while its request still waits for an answer (a registry that sends
// nothing) cancels it: the request fails at once, its thread ends, the destructor returns
// well before any time limit. A response taken before is not affected.
TEST(BlobPrefetchTest, AnAbandonedRequestIsCancelledNotWaitedFor) {
  ScriptedServer server([](const std::string& head, int) {
    if (head.find("/taken") != std::string::npos) return Ok("taken");
    Reply r;  // no answer at all
    r.hold = true;
    return r;
  });
  std::unique_ptr<Stream> taken;
  {
    BlobPrefetch first("sha256:aa", "here",
                       [&] { return std::make_unique<Stream>(Get(server.url("/taken"))); });
    taken = first.Take("sha256:aa", "here");
  }
  ASSERT_NE(taken, nullptr);
  std::atomic<bool> asked{false}, ended{false};
  std::string error;
  const auto start = std::chrono::steady_clock::now();
  {
    BlobPrefetch abandoned("sha256:bb", "here", [&]() -> std::unique_ptr<Stream> {
      try {
        asked = true;
        return std::make_unique<Stream>(Get(server.url("/hangs")));
      } catch (const std::exception& e) {
        error = e.what();
        ended = true;
        throw;
      }
    });
    while (server.heads().size() < 2 && std::chrono::steady_clock::now() - start < 5s)
      std::this_thread::sleep_for(10ms);
    std::this_thread::sleep_for(100ms);  // the request waits for its answer
  }
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(asked);
  EXPECT_TRUE(ended) << "the request did not fail";
  EXPECT_EQ(error.find("no data for"), std::string::npos) << error;
  EXPECT_LT(took, 2s) << "the abandoned request was waited for";
  EXPECT_EQ(taken->ReadAll(100, "body"), "taken");
}

}  // namespace
}  // namespace grootfs::frontend::image::http
