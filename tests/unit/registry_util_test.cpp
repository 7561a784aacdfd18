// Tests for the pure pieces of the registry client: WWW-Authenticate parsing, insecure-registry
// matching, the mirror rule, Range resume bookkeeping, the retry budget, URLs and proxies.
#include "frontend/image/registry_util.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <string>

#include "frontend/image/http.h"
#include "frontend/image/registry_cache.h"
#include "frontend/util/error.h"

namespace grootfs::frontend::image::registry {
namespace {

using std::chrono::milliseconds;

TEST(RegistryAuthTest, ParsesABearerChallenge) {
  const auto cs = ParseWwwAuthenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull")");
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].scheme, "bearer");
  EXPECT_EQ(cs[0].params.at("realm"), "https://auth.docker.io/token");
  EXPECT_EQ(cs[0].params.at("service"), "registry.docker.io");
  EXPECT_EQ(cs[0].params.at("scope"), "repository:library/alpine:pull");
}

TEST(RegistryAuthTest, ScopesWithCommasAndEscapesStayWhole) {
  const auto cs = ParseWwwAuthenticate(
      R"(Bearer realm="https://r/t", scope="repository:a/b:pull,push", error="insufficient_scope", x="say \"hi\"")");
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].params.at("scope"), "repository:a/b:pull,push");
  EXPECT_EQ(cs[0].params.at("error"), "insufficient_scope");
  EXPECT_EQ(cs[0].params.at("x"), "say \"hi\"");
}

TEST(RegistryAuthTest, BasicAndSeveralChallengesAndCase) {
  auto cs = ParseWwwAuthenticate(R"(Basic realm="Registry Realm")");
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].scheme, "basic");
  EXPECT_EQ(cs[0].params.at("realm"), "Registry Realm");

  cs = ParseWwwAuthenticate(
      R"(Negotiate abc==, BEARER Realm=https://x/token,Service=svc, Basic realm=r)");
  ASSERT_EQ(cs.size(), 3u);
  EXPECT_EQ(cs[0].scheme, "negotiate");
  EXPECT_EQ(cs[1].scheme, "bearer");
  EXPECT_EQ(cs[1].params.at("realm"), "https://x/token");
  EXPECT_EQ(cs[1].params.at("service"), "svc");
  EXPECT_EQ(cs[2].scheme, "basic");
  EXPECT_EQ(cs[2].params.at("realm"), "r");
}

TEST(RegistryAuthTest, GarbageGivesNothingUseful) {
  EXPECT_TRUE(ParseWwwAuthenticate("").empty());
  EXPECT_TRUE(ParseWwwAuthenticate(" , ,").empty());
  const auto cs = ParseWwwAuthenticate(R"(realm="x")");  // a parameter without a scheme
  EXPECT_TRUE(cs.empty());
  const auto unterminated = ParseWwwAuthenticate(R"(Bearer realm="https://x)");
  ASSERT_EQ(unterminated.size(), 1u);
  EXPECT_EQ(unterminated[0].params.at("realm"), "https://x");
}

TEST(RegistryInsecureTest, ExactHostAndPort) {
  const std::vector<std::string> list{"127.0.0.1:5000", "Registry.Example", "http://10.0.0.1:80/"};
  EXPECT_TRUE(IsInsecure(list, "127.0.0.1:5000"));
  EXPECT_FALSE(IsInsecure(list, "127.0.0.1:5001"));
  EXPECT_FALSE(IsInsecure(list, "127.0.0.1"));
  EXPECT_TRUE(IsInsecure(list, "registry.example"));
  EXPECT_FALSE(IsInsecure(list, "registry.example:443"));
  EXPECT_TRUE(IsInsecure(list, "10.0.0.1:80"));
  EXPECT_FALSE(IsInsecure({}, "127.0.0.1:5000"));
}

TEST(RegistryMirrorTest, PlainUrlsMirrorDockerHubOnly) {
  const std::vector<std::string> mirrors{"http://127.0.0.1:5001", "https://mirror.example/prefix/"};
  auto hub = MirrorsFor(mirrors, "registry-1.docker.io");
  ASSERT_EQ(hub.size(), 2u);
  EXPECT_EQ(hub[0].scheme, "http");
  EXPECT_EQ(hub[0].Authority(), "127.0.0.1:5001");
  EXPECT_EQ(hub[0].path, "");
  EXPECT_EQ(hub[1].scheme, "https");
  EXPECT_EQ(hub[1].Authority(), "mirror.example");
  EXPECT_EQ(hub[1].path, "/prefix");
  EXPECT_TRUE(MirrorsFor(mirrors, "127.0.0.1:5000").empty());
}

TEST(RegistryMirrorTest, RegistryScopedEntries) {
  const std::vector<std::string> mirrors{"127.0.0.1:5000=http://127.0.0.1:5001",
                                         "docker.io=https://hub-mirror.example",
                                         "http://plain-hub-mirror:80"};
  auto local = MirrorsFor(mirrors, "127.0.0.1:5000");
  ASSERT_EQ(local.size(), 1u);
  EXPECT_EQ(local[0].ToString(), "http://127.0.0.1:5001");
  auto hub = MirrorsFor(mirrors, "registry-1.docker.io");
  ASSERT_EQ(hub.size(), 2u);
  EXPECT_EQ(hub[0].Authority(), "hub-mirror.example");
  EXPECT_EQ(hub[1].Authority(), "plain-hub-mirror:80");
  EXPECT_TRUE(MirrorsFor(mirrors, "quay.io").empty());
}

TEST(RegistryMirrorTest, MalformedEntriesAreRefused) {
  EXPECT_THROW(MirrorsFor({"127.0.0.1:5001"}, "registry-1.docker.io"), Error);
  EXPECT_THROW(MirrorsFor({"ftp://x"}, "registry-1.docker.io"), Error);
  EXPECT_THROW(MirrorsFor({"=http://x"}, "x"), Error);
  EXPECT_THROW(MirrorsFor({"a=b"}, "a"), Error);
}

TEST(RegistryRangeTest, FreshDownload) {
  auto d = CheckRangeResponse(0, 200, std::nullopt, 100, 100);
  EXPECT_TRUE(d.ok);
  EXPECT_EQ(d.skip, 0u);
  d = CheckRangeResponse(0, 200, std::nullopt, std::nullopt, 100);  // chunked: no length
  EXPECT_TRUE(d.ok);
  d = CheckRangeResponse(0, 200, std::nullopt, 99, 100);
  EXPECT_FALSE(d.ok);
  EXPECT_TRUE(d.size_mismatch);
  d = CheckRangeResponse(0, 200, std::nullopt, 99, -1);  // size unknown: fine
  EXPECT_TRUE(d.ok);
}

TEST(RegistryRangeTest, ResumedWithPartialContent) {
  auto d = CheckRangeResponse(40, 206, std::string("bytes 40-99/100"), 60, 100);
  EXPECT_TRUE(d.ok);
  EXPECT_EQ(d.skip, 0u);
  // A server that starts earlier than asked: the overlap is dropped.
  d = CheckRangeResponse(40, 206, std::string("bytes 32-99/100"), 68, 100);
  EXPECT_TRUE(d.ok);
  EXPECT_EQ(d.skip, 8u);
  d = CheckRangeResponse(40, 206, std::string("bytes 40-99/*"), std::nullopt, 100);
  EXPECT_TRUE(d.ok);
}

TEST(RegistryRangeTest, ServerIgnoringRangeIsSkippedThrough) {
  const auto d = CheckRangeResponse(40, 200, std::nullopt, 100, 100);
  EXPECT_TRUE(d.ok);
  EXPECT_EQ(d.skip, 40u);
}

TEST(RegistryRangeTest, BadPartialResponses) {
  EXPECT_FALSE(CheckRangeResponse(40, 206, std::nullopt, 60, 100).ok);
  EXPECT_FALSE(CheckRangeResponse(40, 206, std::string("bytes 50-99/100"), 50, 100).ok);
  EXPECT_FALSE(CheckRangeResponse(40, 206, std::string("items 40-99/100"), 60, 100).ok);
  EXPECT_FALSE(CheckRangeResponse(40, 206, std::string("bytes 40-9/100"), 60, 100).ok);
  EXPECT_FALSE(CheckRangeResponse(40, 206, std::string("bytes 40-99/100"), 10, 100).ok);
  EXPECT_FALSE(CheckRangeResponse(40, 206, std::string("bytes 40-100/100"), 61, 100).ok);
  auto d = CheckRangeResponse(40, 206, std::string("bytes 40-119/120"), 80, 100);
  EXPECT_FALSE(d.ok);
  EXPECT_TRUE(d.size_mismatch);
  EXPECT_FALSE(CheckRangeResponse(40, 416, std::nullopt, std::nullopt, 100).ok);
}

TEST(RegistryRetryTest, ExponentialBackoffThenGiveUp) {
  RetryBudget budget;
  auto t = RetryBudget::Clock::now();
  EXPECT_EQ(budget.OnFailure(t), milliseconds(250));
  EXPECT_EQ(budget.OnFailure(t), milliseconds(500));
  EXPECT_EQ(budget.OnFailure(t), milliseconds(1000));
  EXPECT_EQ(budget.OnFailure(t), milliseconds(2000));
  EXPECT_EQ(budget.OnFailure(t), milliseconds(4000));
  EXPECT_EQ(budget.OnFailure(t), std::nullopt);  // 5 retries at most
}

TEST(RegistryRetryTest, ProgressRestartsTheBudget) {
  RetryBudget budget;
  auto t = RetryBudget::Clock::now();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(budget.OnFailure(t).has_value());
  budget.OnProgress();
  EXPECT_EQ(budget.OnFailure(t), milliseconds(250));
}

TEST(RegistryRetryTest, NoRetryStartsLaterThanTheWindow) {
  RetryBudget budget;
  auto t = RetryBudget::Clock::now();
  ASSERT_TRUE(budget.OnFailure(t).has_value());
  // Stalls take 30 s each: the third failure comes 60 s after the first.
  ASSERT_TRUE(budget.OnFailure(t + std::chrono::seconds(30)).has_value());
  EXPECT_EQ(budget.OnFailure(t + std::chrono::seconds(60)), std::nullopt);
}

TEST(RegistryRetryTest, RetryAfterIsHonouredUpToTheCap) {
  RetryBudget budget;
  auto t = RetryBudget::Clock::now();
  EXPECT_EQ(budget.OnFailure(t, milliseconds(3000)), milliseconds(3000));
  EXPECT_EQ(budget.OnFailure(t, milliseconds(30000)), milliseconds(8000));
  EXPECT_EQ(ParseRetryAfter(std::string("2")), milliseconds(2000));
  EXPECT_EQ(ParseRetryAfter(std::string("Wed, 21 Oct 2015 07:28:00 GMT")), std::nullopt);
  EXPECT_EQ(ParseRetryAfter(std::nullopt), std::nullopt);
}

TEST(RegistryHttpTest, ParsesUrls) {
  auto u = http::ParseUrl("HTTPS://Registry.Example:5000/v2/a/blobs/x?sig=secret#frag");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "registry.example");
  EXPECT_EQ(u->port, "5000");
  EXPECT_EQ(u->path, "/v2/a/blobs/x?sig=secret");
  EXPECT_EQ(u->ForLog(), "https://registry.example:5000/v2/a/blobs/x");
  u = http::ParseUrl("http://[::1]:80");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->host, "[::1]");
  EXPECT_EQ(u->path, "/");
  EXPECT_FALSE(http::ParseUrl("ftp://x/").has_value());
  EXPECT_FALSE(http::ParseUrl("http://user:pw@x/").has_value());
  EXPECT_FALSE(http::ParseUrl("http://x:99999/").has_value());
  EXPECT_FALSE(http::ParseUrl("http://x y/").has_value());
  EXPECT_FALSE(http::ParseUrl("http:///path").has_value());
}

TEST(RegistryHttpTest, ResolvesRedirects) {
  const auto base = *http::ParseUrl("https://reg:5000/v2/a/blobs/sha256:1?x=1");
  EXPECT_EQ(http::ResolveLocation(base, "https://s3.example/b?sig=1")->ToString(),
            "https://s3.example/b?sig=1");
  EXPECT_EQ(http::ResolveLocation(base, "/other")->ToString(), "https://reg:5000/other");
  EXPECT_EQ(http::ResolveLocation(base, "//cdn.example/x")->ToString(), "https://cdn.example/x");
  EXPECT_EQ(http::ResolveLocation(base, "rel")->ToString(), "https://reg:5000/v2/a/blobs/rel");
  EXPECT_FALSE(http::ResolveLocation(base, "file:///etc/passwd").has_value());
  EXPECT_FALSE(http::ResolveLocation(base, "").has_value());
}

TEST(RegistryHttpTest, SameOriginComparesSchemeHostAndPort) {
  const auto a = *http::ParseUrl("https://reg/v2/");
  EXPECT_TRUE(http::SameOrigin(a, *http::ParseUrl("https://REG:443/x")));
  EXPECT_FALSE(http::SameOrigin(a, *http::ParseUrl("http://reg/x")));
  EXPECT_FALSE(http::SameOrigin(a, *http::ParseUrl("https://reg:5000/x")));
  EXPECT_FALSE(http::SameOrigin(a, *http::ParseUrl("https://storage/x")));
}

TEST(RegistryHttpTest, ProxiesFromTheEnvironmentUpperCaseToo) {
  std::map<std::string, std::string> env;
  auto get = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  EXPECT_EQ(http::ProxyFromEnvironment("http", get).proxy, "");
  env["HTTP_PROXY"] = "http://upper:3128";
  env["NO_PROXY"] = "127.0.0.1,.internal";
  auto p = http::ProxyFromEnvironment("http", get);
  EXPECT_EQ(p.proxy, "http://upper:3128");
  EXPECT_EQ(p.no_proxy, "127.0.0.1,.internal");
  EXPECT_EQ(http::ProxyFromEnvironment("https", get).proxy, "");
  env["http_proxy"] = "http://lower:3128";
  EXPECT_EQ(http::ProxyFromEnvironment("http", get).proxy, "http://lower:3128");
  env["HTTPS_PROXY"] = "http://secure:3128";
  EXPECT_EQ(http::ProxyFromEnvironment("https", get).proxy, "http://secure:3128");
  env.clear();
  env["ALL_PROXY"] = "socks5://all:1080";
  EXPECT_EQ(http::ProxyFromEnvironment("https", get).proxy, "socks5://all:1080");
}

TEST(RegistryHttpTest, Base64) {
  EXPECT_EQ(http::Base64(""), "");
  EXPECT_EQ(http::Base64("f"), "Zg==");
  EXPECT_EQ(http::Base64("fo"), "Zm8=");
  EXPECT_EQ(http::Base64("foo"), "Zm9v");
  EXPECT_EQ(http::Base64("user:pa:ss"), "dXNlcjpwYTpzcw==");
}

}  // namespace
}  // namespace grootfs::frontend::image::registry

namespace grootfs::frontend::image {
namespace {

TEST(SchemeMemoryTest, FileNamesKeepHostCharactersAndEscapeTheRest) {
  EXPECT_EQ(SchemeMemory::FileName("registry.example-1.com"), "registry.example-1.com");
  EXPECT_EQ(SchemeMemory::FileName("127.0.0.1:5000"), "127.0.0.1%3A5000");
  EXPECT_EQ(SchemeMemory::FileName("[::1]:5000"), "%5B%3A%3A1%5D%3A5000");
  EXPECT_EQ(SchemeMemory::FileName("../x"), "..%2Fx");
  EXPECT_EQ(SchemeMemory::FileName(".."), "");
  EXPECT_EQ(SchemeMemory::FileName(""), "");
  EXPECT_EQ(SchemeMemory::FileName(std::string(300, 'a')), "");
}

TEST(SchemeMemoryTest, RemembersOneSchemeAndForgetsInTheCacheDir) {
  char dir[] = "/tmp/scheme-memory-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string cache = std::string(dir) + "/cache";
  const SchemeMemory memory(CacheDir(cache, 0, 0));
  EXPECT_EQ(memory.Remembered("127.0.0.1:5000"), "");
  memory.Remember("127.0.0.1:5000", "http");
  EXPECT_EQ(memory.Remembered("127.0.0.1:5000"), "http");
  EXPECT_EQ(memory.Remembered("127.0.0.1:5001"), "");
  memory.Remember("127.0.0.1:5000", "https");
  EXPECT_EQ(memory.Remembered("127.0.0.1:5000"), "https");
  EXPECT_FALSE(std::filesystem::exists(cache + "/plain-http/127.0.0.1%3A5000"));
  memory.Remember("127.0.0.1:5000", "http");
  EXPECT_EQ(memory.Remembered("127.0.0.1:5000"), "http");
  memory.Forget("127.0.0.1:5000");
  EXPECT_EQ(memory.Remembered("127.0.0.1:5000"), "");
  EXPECT_EQ(SchemeMemory(CacheDir("", 0, 0)).Remembered("127.0.0.1:5000"), "");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace grootfs::frontend::image
