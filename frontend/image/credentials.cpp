#include "frontend/image/credentials.h"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "frontend/image/reference.h"
#include "frontend/log.h"
#include "frontend/util/error.h"
#include "frontend/util/printable.h"
#include "ipc/unique_fd.h"

namespace grootfs::frontend::image {
namespace {

using nlohmann::json;
constexpr const char* kDockerHub = "registry-1.docker.io";
constexpr const char* kDockerHubServer = "https://index.docker.io/v1/";

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::optional<std::string> Base64Decode(const std::string& in) {
  std::string out;
  unsigned value = 0;
  int bits = 0;
  for (char c : in) {
    int d;
    if (c >= 'A' && c <= 'Z')
      d = c - 'A';
    else if (c >= 'a' && c <= 'z')
      d = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      d = c - '0' + 52;
    else if (c == '+' || c == '-')
      d = 62;
    else if (c == '/' || c == '_')
      d = 63;
    else if (c == '=' || c == '\n' || c == '\r')
      continue;
    else
      return std::nullopt;
    value = (value << 6) | static_cast<unsigned>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((value >> bits) & 0xff));
    }
  }
  return out;
}

// What a file's key stands for: a URL ("https://Host:5000/v1/", docker's form) for its host
// alone, "host/namespace" as it is; hosts in lower case.
std::string NormalizeKey(std::string key) {
  if (const auto p = key.find("://"); p != std::string::npos) {
    key.erase(0, p + 3);
    key = key.substr(0, key.find('/'));
  }
  while (!key.empty() && key.back() == '/') key.pop_back();
  const auto slash = key.find('/');
  for (std::size_t i = 0; i < key.size() && i < slash; ++i)
    key[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(key[i])));
  return key;
}

bool IsDockerHub(const std::string& host) {
  return host == kDockerHub || host == "docker.io" || host == "index.docker.io";
}

// The keys that may name REGISTRY/REPOSITORY, the most specific first.
std::vector<std::string> Candidates(const std::string& registry, const std::string& repository) {
  std::vector<std::string> hosts{registry};
  if (IsDockerHub(registry)) hosts = {"docker.io", "index.docker.io", kDockerHub};
  std::vector<std::string> out;
  for (std::string path = repository;; path = path.substr(0, path.rfind('/'))) {
    for (const auto& h : hosts) out.push_back(h + "/" + path);
    if (path.find('/') == std::string::npos) break;
  }
  for (const auto& h : hosts) out.push_back(h);
  return out;
}

// The entry of `object` (auths or credHelpers) for the candidates, the most specific first.
const json* FindEntry(const json& object, const std::vector<std::string>& candidates) {
  if (!object.is_object()) return nullptr;
  for (const auto& want : candidates)
    for (const auto& [key, value] : object.items())
      if (NormalizeKey(key) == want) return &value;
  return nullptr;
}

std::optional<Credentials> FromAuthEntry(const json& entry, const std::string& file) {
  if (!entry.is_object()) return std::nullopt;
  Credentials c;
  c.source = file;
  if (entry.contains("auth") && entry["auth"].is_string() &&
      !entry["auth"].get<std::string>().empty()) {
    const auto decoded = Base64Decode(entry["auth"].get<std::string>());
    const auto colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos)
      throw Error("the auth entry in " + Printable(file) + " is not base64 of user:password");
    c.username = decoded->substr(0, colon);
    c.password = decoded->substr(colon + 1);
    return c;
  }
  if (entry.contains("username") && entry["username"].is_string() && entry.contains("password") &&
      entry["password"].is_string()) {
    c.username = entry["username"].get<std::string>();
    c.password = entry["password"].get<std::string>();
    if (!c.username.empty()) return c;
  }
  return std::nullopt;
}

std::optional<std::string> ReadIfThere(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw Error("cannot read " + Printable(path) + ": " + std::strerror(errno));
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<Credentials> LookInFile(const std::string& path, const std::string& registry,
                                      const std::string& repository,
                                      const CredentialPlaces& places) {
  const auto text = ReadIfThere(path);
  if (!text) return std::nullopt;
  const json j = json::parse(*text, nullptr, false);
  if (!j.is_object()) throw Error(Printable(path) + " is not a JSON object");
  const auto candidates = Candidates(registry, repository);
  const std::string server = IsDockerHub(registry) ? kDockerHubServer : registry;
  Logger::Get().Debug("looking-for-credentials", {{"file", path}, {"registry", registry}});
  if (j.contains("credHelpers")) {
    if (const json* helper = FindEntry(j["credHelpers"], candidates);
        helper && helper->is_string() && !helper->get<std::string>().empty()) {
      return RunCredentialHelper(helper->get<std::string>(), server, places.helper_timeout);
    }
  }
  if (j.contains("credsStore") && j["credsStore"].is_string() &&
      !j["credsStore"].get<std::string>().empty()) {
    if (auto c =
            RunCredentialHelper(j["credsStore"].get<std::string>(), server, places.helper_timeout))
      return c;
  }
  if (j.contains("auths")) {
    if (const json* entry = FindEntry(j["auths"], candidates)) return FromAuthEntry(*entry, path);
  }
  return std::nullopt;
}

// Waits for `pid` at most until `deadline`; kills it past that. The exit status, or -1.
int WaitUntil(pid_t pid, std::chrono::steady_clock::time_point deadline) {
  int status = 0;
  while (true) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      (void)waitpid(pid, &status, 0);
      return -2;
    }
    usleep(2000);
  }
}

// The helper's stdout and exit status; stdin gets `input`. Throws on a timeout.
std::pair<std::string, int> RunWithInput(const std::string& program, const std::string& input,
                                         std::chrono::milliseconds timeout,
                                         const std::string& what) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) throw Error("pipe: " + std::string(std::strerror(errno)));
  ipc::UniqueFd in_r(in[0]), in_w(in[1]);
  if (pipe2(out, O_CLOEXEC) != 0) throw Error("pipe: " + std::string(std::strerror(errno)));
  ipc::UniqueFd out_r(out[0]), out_w(out[1]);
  const pid_t pid = fork();
  if (pid < 0) throw Error("fork: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    dup2(in_r.get(), 0);
    dup2(out_w.get(), 1);
    const int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 2);  // a helper's chatter is not ours to show
    execlp(program.c_str(), program.c_str(), "get", static_cast<char*>(nullptr));
    _exit(127);
  }
  in_r.Reset();
  out_w.Reset();
  (void)!write(in_w.get(), input.data(), input.size());
  in_w.Reset();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string output;
  char buffer[4096];
  while (output.size() < (1 << 20)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{out_r.get(), POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) == 0) {
      kill(pid, SIGKILL);
      (void)WaitUntil(pid, deadline + std::chrono::seconds(5));
      throw Error(what + " did not answer within " + std::to_string(timeout.count() / 1000.0) +
                  " s");
    }
    const ssize_t n = read(out_r.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buffer, static_cast<std::size_t>(n));
  }
  const int status = WaitUntil(pid, deadline);
  if (status == -2) throw Error(what + " did not finish within its time");
  return {output, status};
}

std::string FirstLine(std::string s) {
  if (const auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  return Printable(s, 200);
}

}  // namespace

CredentialPlaces CredentialPlaces::FromEnvironment() {
  CredentialPlaces p;
  p.registry_auth_file = Env("REGISTRY_AUTH_FILE");
  p.xdg_runtime_dir = Env("XDG_RUNTIME_DIR");
  p.xdg_config_home = Env("XDG_CONFIG_HOME");
  p.docker_config = Env("DOCKER_CONFIG");
  p.home = Env("HOME");
  if (p.home.empty()) {
    if (const passwd* pw = getpwuid(getuid()); pw != nullptr && pw->pw_dir) p.home = pw->pw_dir;
  }
  return p;
}

std::optional<Credentials> RunCredentialHelper(const std::string& name, const std::string& server,
                                               std::chrono::milliseconds timeout) {
  const std::string program = "docker-credential-" + name;
  const std::string what = "the credential helper " + Printable(program, 80);
  if (name.find('/') != std::string::npos) throw Error(what + " is not a plain name");
  Logger::Get().Info("running-credential-helper", {{"helper", program}, {"server", server}});
  const auto [output, status] = RunWithInput(program, server, timeout, what);
  if (status == 127) throw Error(what + " is not installed (not found on PATH)");
  if (status != 0) {
    if (output.find("credentials not found") != std::string::npos) return std::nullopt;
    throw Error(what + " failed for " + server + " (exit status " + std::to_string(status) +
                (output.empty() ? "" : ": " + FirstLine(output)) + ")");
  }
  const json j = json::parse(output, nullptr, false);
  if (!j.is_object() || !j.contains("Username") || !j["Username"].is_string() ||
      !j.contains("Secret") || !j["Secret"].is_string())
    throw Error(what + " answered something other than {\"Username\",\"Secret\"} for " + server);
  Credentials c{j["Username"].get<std::string>(), j["Secret"].get<std::string>(), what};
  if (c.username == "<token>") return std::nullopt;  // an identity token: not for basic auth
  return c;
}

std::optional<Credentials> LookupCredentials(const std::string& registry,
                                             const std::string& repository,
                                             const CredentialPlaces& places) {
  std::vector<std::string> files;
  if (!places.registry_auth_file.empty())
    files.push_back(places.registry_auth_file);
  else if (!places.xdg_runtime_dir.empty())
    files.push_back(places.xdg_runtime_dir + "/containers/auth.json");
  if (!places.xdg_config_home.empty())
    files.push_back(places.xdg_config_home + "/containers/auth.json");
  else if (!places.home.empty())
    files.push_back(places.home + "/.config/containers/auth.json");
  if (!places.docker_config.empty())
    files.push_back(places.docker_config + "/config.json");
  else if (!places.home.empty())
    files.push_back(places.home + "/.docker/config.json");
  for (const auto& file : files)
    if (auto c = LookInFile(file, registry, repository, places)) return c;
  return std::nullopt;
}

void ResolveRegistryCredentials(Invocation& inv) {
  if (inv.command != "create" || inv.args.empty()) return;
  if (inv.password_stdin) {
    std::string line;
    if (!std::getline(std::cin, line) && line.empty())
      throw Error("--password-stdin: nothing to read on stdin");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    inv.password = line;
  }
  if (!inv.username.empty()) return;  // the flags win
  ImageRef ref;
  try {
    ref = ParseImageRef(inv.args[0]);
  } catch (const Error&) {
    return;  // create says what is wrong with it
  }
  if (ref.kind != RefKind::kDocker) return;
  if (auto c =
          LookupCredentials(ref.registry, ref.repository, CredentialPlaces::FromEnvironment())) {
    inv.username = c->username;
    inv.password = c->password;
    inv.credentials_source = c->source;
    Logger::Get().Info("using-stored-credentials",
                       {{"registry", ref.registry}, {"from", c->source}});
  }
}

}  // namespace grootfs::frontend::image
