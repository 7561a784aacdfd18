// The proxy rules of the HTTP client: curl's NOPROXY matching and proxy URLs.
#include "frontend/image/http_proxy.h"

#include <gtest/gtest.h>

namespace grootfs::frontend::image::http {
namespace {

TEST(HttpProxyTest, NoProxyMatchesDomainsAndTheirSubdomains) {
  EXPECT_TRUE(NoProxyMatches("example.com", "example.com"));
  EXPECT_TRUE(NoProxyMatches("example.com", "reg.example.com"));
  EXPECT_TRUE(NoProxyMatches(".example.com", "reg.example.com"));
  EXPECT_TRUE(NoProxyMatches(".example.com", "example.com"));
  EXPECT_TRUE(NoProxyMatches("Example.COM", "reg.example.com."));
  EXPECT_FALSE(NoProxyMatches("example.com", "badexample.com"));
  EXPECT_FALSE(NoProxyMatches("reg.example.com", "example.com"));
  EXPECT_TRUE(NoProxyMatches("a.test, b.test ,c.test", "x.b.test"));
  EXPECT_TRUE(NoProxyMatches("a.test c.test", "c.test"));
  EXPECT_FALSE(NoProxyMatches("", "a.test"));
}

TEST(HttpProxyTest, NoProxyStarMatchesEverythingOnlyAlone) {
  EXPECT_TRUE(NoProxyMatches("*", "anything.example"));
  EXPECT_TRUE(NoProxyMatches("*", "[::1]"));
  EXPECT_FALSE(NoProxyMatches("*.example, other.test", "x.test"));
}

TEST(HttpProxyTest, NoProxyMatchesAddressesAndRanges) {
  EXPECT_TRUE(NoProxyMatches("127.0.0.1", "127.0.0.1"));
  EXPECT_FALSE(NoProxyMatches("127.0.0.1", "127.0.0.2"));
  EXPECT_TRUE(NoProxyMatches("10.0.0.0/8", "10.1.2.3"));
  EXPECT_FALSE(NoProxyMatches("10.0.0.0/8", "11.1.2.3"));
  EXPECT_TRUE(NoProxyMatches("::1", "[::1]"));
  EXPECT_TRUE(NoProxyMatches("[::1]", "[::1]"));
  EXPECT_TRUE(NoProxyMatches("fd00::/8", "[fd12::5]"));
  EXPECT_FALSE(NoProxyMatches("fd00::/8", "[fe80::1]"));
  EXPECT_FALSE(NoProxyMatches("127.0.0.1", "localhost"));
  EXPECT_FALSE(NoProxyMatches("0.0.0.1", "1"));  // a name is not an address
}

TEST(HttpProxyTest, RouteForReadsHostPortAndCredentials) {
  const Url url = *ParseUrl("https://reg.example/v2/");
  EXPECT_FALSE(RouteFor(url, {"", ""}).has_value());
  EXPECT_FALSE(RouteFor(url, {"http://proxy:3128", "example"}).has_value());
  auto route = RouteFor(url, {"http://proxy.corp:3128", "other.example"});
  ASSERT_TRUE(route.has_value());
  EXPECT_EQ(route->host, "proxy.corp");
  EXPECT_EQ(route->port, "3128");
  EXPECT_EQ(route->authorization, "");
  route = RouteFor(url, {"proxy.corp", ""});
  ASSERT_TRUE(route.has_value());
  EXPECT_EQ(route->port, "1080") << "curl's default proxy port";
  route = RouteFor(url, {"http://us%40r:p%3Ass@[::1]:8080/", ""});
  ASSERT_TRUE(route.has_value());
  EXPECT_EQ(route->host, "::1");
  EXPECT_EQ(route->port, "8080");
  EXPECT_EQ(route->authorization, "Basic " + Base64("us@r:p:ss"));
}

TEST(HttpProxyTest, OtherProxyKindsAreRefused) {
  const Url url = *ParseUrl("http://reg.example/v2/");
  EXPECT_THROW(RouteFor(url, {"socks5://proxy:1080", ""}), TransferError);
  EXPECT_THROW(RouteFor(url, {"https://proxy:443", ""}), TransferError);
  EXPECT_THROW(RouteFor(url, {"http://proxy:99999", ""}), TransferError);
}

}  // namespace
}  // namespace grootfs::frontend::image::http
