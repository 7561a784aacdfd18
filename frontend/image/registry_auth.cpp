#include "frontend/image/registry_auth.h"

#include <cctype>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string_view>
#include <thread>

#include "frontend/log.h"
#include "frontend/util/error.h"
#include "frontend/util/printable.h"

namespace grootfs::frontend::image {
namespace {

namespace reg = registry;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr std::size_t kMaxToken = 1024 * 1024;

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

// The token of a token service's 200 answer ("token", else "access_token").
std::string ReadToken(http::Stream& s, const std::string& host) {
  const json j = json::parse(s.ReadAll(kMaxToken, "the token response"), nullptr, false);
  for (const char* key : {"token", "access_token"}) {
    if (j.is_object() && j.contains(key) && j[key].is_string() &&
        !j[key].get<std::string>().empty()) {
      return j[key].get<std::string>();
    }
  }
  throw Error("the token service at " + host + " sent no token");
}

}  // namespace

std::string CredentialsSource(const RegistryOptions& options) {
  return options.credentials_source.empty() ? "--username and --password"
                                            : "the credentials from " + options.credentials_source;
}

std::optional<std::string> RegistryAuth::Authenticate(
    Endpoint& ep, const std::vector<std::string>& www_authenticate) const {
  std::vector<reg::Challenge> challenges;
  for (const std::string& h : www_authenticate) {
    for (reg::Challenge& c : reg::ParseWwwAuthenticate(h)) challenges.push_back(std::move(c));
  }
  const bool creds = ep.credentials && !options_.username.empty();
  for (const reg::Challenge& c : challenges) {
    if (c.scheme == "bearer") return "Authorization: Bearer " + FetchToken(ep, c);
  }
  for (const reg::Challenge& c : challenges) {
    if (c.scheme == "basic" && creds) {
      if (endpoints_.AsksInPlainHttp(ep)) {
        Logger::Get().Info("basic-auth-over-plain-http", {{"registry", ep.authority}});
      }
      return BasicAuthorization();
    }
  }
  return std::nullopt;
}

std::string RegistryAuth::BasicAuthorization() const {
  return "Authorization: Basic " + http::Base64(options_.username + ":" + options_.password);
}

// The realm of a bearer challenge, with the service and scope it asks for (by default, pulling
// this repository) in its query.
http::Url RegistryAuth::TokenUrl(const Endpoint& ep, const reg::Challenge& challenge) const {
  const auto realm_it = challenge.params.find("realm");
  if (realm_it == challenge.params.end() || realm_it->second.empty()) {
    throw Error(ep.Name() + " asks for a bearer token but names no realm");
  }
  std::optional<http::Url> realm = http::ParseUrl(realm_it->second);
  if (!realm) {
    throw Error(ep.Name() + " names an unsupported token realm '" +
                Printable(realm_it->second, 100) + "'");
  }
  urls_.CheckAllowed(*realm, " (the token service of " + ep.authority + ")");
  std::string query;
  if (auto it = challenge.params.find("service"); it != challenge.params.end()) {
    query += "service=" + PercentEncode(it->second);
  }
  std::string scope = "repository:" + repository_ + ":pull";
  if (auto it = challenge.params.find("scope");
      it != challenge.params.end() && !it->second.empty()) {
    scope = it->second;
  }
  query += std::string(query.empty() ? "" : "&") + "scope=" + PercentEncode(scope);
  realm->path += (realm->path.find('?') == std::string::npos ? "?" : "&") + query;
  return *realm;
}

std::string RegistryAuth::FetchToken(const Endpoint& ep, const reg::Challenge& challenge) const {
  const http::Url realm = TokenUrl(ep, challenge);
  const bool creds = ep.credentials && !options_.username.empty();
  const std::string auth = creds ? BasicAuthorization() : "";
  const std::string host = realm.Authority();
  Logger::Get().Info(
      "fetching-token",
      {{"registry", ep.authority}, {"realm", realm.ForLog()}, {"with-credentials", creds}});
  reg::RetryBudget budget;
  while (true) {
    std::string failure;
    std::optional<std::chrono::milliseconds> retry_after;
    try {
      http::Request req;
      req.url = realm;
      if (!auth.empty()) req.headers.push_back(auth);
      req.tls = urls_.TlsFor(realm);
      auto s = std::make_unique<http::Stream>(req);
      s = urls_.FollowRedirects(std::move(s), realm, {}, auth, 0, req.tls);
      const long status = s->status();
      if (status == 200) return ReadToken(*s, host);
      if (status == 401 || status == 403) {
        throw Error(creds ? "authentication failed: the token service at " + host +
                                " refused the credentials (HTTP " + std::to_string(status) +
                                "); check " + CredentialsSource(options_)
                          : "the token service at " + host + " refused anonymous access (HTTP " +
                                std::to_string(status) + "); give --username and --password");
      }
      if (!reg::IsRetryableStatus(status)) {
        throw Error("the token service at " + host + " answered HTTP " + std::to_string(status));
      }
      failure = "HTTP " + std::to_string(status) + " from the token service at " + host;
      retry_after = reg::ParseRetryAfter(s->Header("retry-after"));
    } catch (const http::TransferError& e) {
      if (!e.retryable()) throw Error(reg::TransferMessage(e, host, false));
      failure = reg::TransferMessage(e, host, false);
    }
    const auto delay = budget.OnFailure(Clock::now(), retry_after);
    if (!delay) {
      throw Error(failure + " (gave up after " + std::to_string(budget.failures()) + " attempts)");
    }
    Logger::Get().Info("retrying",
                       {{"from", host}, {"reason", failure}, {"delay_ms", delay->count()}});
    std::this_thread::sleep_for(*delay);
  }
}

}  // namespace grootfs::frontend::image
