#include "frontend/image/reference.h"

#include <cctype>
#include <string_view>
#include <vector>

#include "frontend/image/digest.h"
#include "frontend/util/ascii.h"
#include "frontend/util/error.h"
#include "frontend/util/printable.h"

namespace grootfs::frontend::image {
namespace {

constexpr std::string_view kDockerHub = "registry-1.docker.io";
constexpr std::size_t kMaxRepositoryLength = 255;
constexpr std::size_t kMaxTagLength = 128;
constexpr std::size_t kMaxOciRefLength = 255;

[[noreturn]] void Refuse(const std::string& original, const std::string& why) {
  throw Error("invalid image '" + Printable(original) + "': " + why);
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAsciiAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// A repository path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool IsValidNameComponent(std::string_view c) {
  if (c.empty() || !IsLowerAlnum(c.front()) || !IsLowerAlnum(c.back())) return false;
  std::size_t i = 0;
  while (i < c.size()) {
    if (IsLowerAlnum(c[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < c.size() && !IsLowerAlnum(c[j])) ++j;
    const std::string_view sep = c.substr(i, j - i);
    const bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (sep != "." && sep != "_" && sep != "__" && !dashes) return false;
    i = j;
  }
  return true;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = s.find(sep, start);
    parts.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// host[:port]: DNS-style labels (letters, digits, '-', not at a label's ends) or [IPv6].
bool IsValidRegistry(std::string_view r) {
  if (r.empty() || r.size() > 255) return false;
  std::string_view host = r;
  std::string_view port;
  if (r.front() == '[') {
    const std::size_t close = r.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (char c : r.substr(1, close - 1)) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
    }
    const std::string_view rest = r.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      if (port.empty()) return false;
    }
    host = {};
  } else if (const std::size_t colon = r.find(':'); colon != std::string_view::npos) {
    host = r.substr(0, colon);
    port = r.substr(colon + 1);
    if (port.empty()) return false;
  }
  for (std::string_view label : Split(host, '.')) {
    if (r.front() == '[') break;
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!IsAsciiAlnum(c) && c != '-') return false;
    }
  }
  if (!port.empty()) {
    if (port.size() > 5) return false;
    unsigned value = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return false;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return false;
  }
  return true;
}

bool IsValidTag(std::string_view t) {
  if (t.empty() || t.size() > kMaxTagLength) return false;
  if (!IsAsciiAlnum(t.front()) && t.front() != '_') return false;
  for (char c : t) {
    if (!IsAsciiAlnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

bool LooksLikeRegistry(std::string_view component) {
  return component.find_first_of(".:") != std::string_view::npos || component == "localhost" ||
         (!component.empty() && component.front() == '[');
}

ImageRef ParseDocker(const std::string& original, std::string_view rest) {
  ImageRef ref;
  ref.kind = RefKind::kDocker;
  ref.original = original;
  std::string_view name;
  if (!rest.empty() && rest.front() == '/') {
    name = rest.substr(1);
    const std::size_t slash = name.find('/');
    if (slash != std::string_view::npos && LooksLikeRegistry(name.substr(0, slash))) {
      ref.registry = std::string(name.substr(0, slash));
      name = name.substr(slash + 1);
    } else {
      ref.registry = kDockerHub;
    }
  } else {
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) {
      Refuse(original, "expected docker:///NAME or docker://HOST[:PORT]/NAME");
    }
    ref.registry = std::string(rest.substr(0, slash));
    name = rest.substr(slash + 1);
  }
  if (ref.registry.find('@') != std::string::npos) {
    Refuse(original, "credentials in the URL are not supported; use --username and --password");
  }
  if (!IsValidRegistry(ref.registry)) {
    Refuse(original, "'" + Printable(ref.registry) + "' is not a valid registry host[:port]");
  }
  if (ref.registry == "docker.io" || ref.registry == "index.docker.io") ref.registry = kDockerHub;

  if (const std::size_t at = name.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(name.substr(at + 1));
    name = name.substr(0, at);
    if (!IsValidDigest(ref.digest)) {
      Refuse(original,
             "'" + Printable(ref.digest) +
                 "' is not a valid digest (expected sha256: and 64 lowercase hex digits)");
    }
  }
  const std::size_t colon = name.rfind(':');
  if (colon != std::string_view::npos &&
      (name.rfind('/') == std::string_view::npos || colon > name.rfind('/'))) {
    ref.tag = std::string(name.substr(colon + 1));
    name = name.substr(0, colon);
    if (!IsValidTag(ref.tag)) {
      Refuse(original, "'" + Printable(ref.tag) +
                           "' is not a valid tag (letters, digits, '_', '.', '-'; at most 128)");
    }
  }
  if (name.empty()) Refuse(original, "the image name is empty");
  for (std::string_view component : Split(name, '/')) {
    if (IsValidNameComponent(component)) continue;
    for (char c : component) {
      if (std::isupper(static_cast<unsigned char>(c))) {
        Refuse(original, "repository names must be lowercase");
      }
    }
    Refuse(original, component.empty() ? std::string("the image name has an empty path component")
                                       : "'" + Printable(component) +
                                             "' is not a valid repository name component");
  }
  ref.repository = std::string(name);
  if (ref.registry == kDockerHub && ref.repository.find('/') == std::string::npos) {
    ref.repository = "library/" + ref.repository;
  }
  if (ref.repository.size() > kMaxRepositoryLength) {
    Refuse(original, "the repository name is longer than 255 characters");
  }
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

// Joins the components of an absolute path, dropping empty and "." ones; refuses "..".
std::string CleanAbsolutePath(const std::string& original, std::string_view path) {
  std::string clean;
  for (std::string_view component : Split(path, '/')) {
    if (component.empty() || component == ".") continue;
    if (component == "..") Refuse(original, "the path must not contain '..'");
    clean += "/";
    clean += component;
  }
  return clean.empty() ? "/" : clean;
}

ImageRef ParseOci(const std::string& original, std::string_view rest) {
  if (rest.empty() || rest.front() != '/') {
    Refuse(original, "expected oci:///ABSOLUTE/PATH[:REF] (three slashes, an absolute path)");
  }
  ImageRef ref;
  ref.kind = RefKind::kOci;
  ref.original = original;
  std::string_view path = rest;
  const std::size_t last_slash = path.rfind('/');
  const std::size_t colon = path.rfind(':');
  if (colon != std::string_view::npos && colon > last_slash) {
    ref.ref_name = std::string(path.substr(colon + 1));
    path = path.substr(0, colon);
    if (ref.ref_name.empty()) Refuse(original, "the ref name after ':' is empty");
    if (ref.ref_name.size() > kMaxOciRefLength) Refuse(original, "the ref name is too long");
    for (char c : ref.ref_name) {
      if (!IsAsciiAlnum(c) && c != '.' && c != '_' && c != '-' && c != '@' && c != '+') {
        Refuse(original, "'" + Printable(ref.ref_name) + "' is not a valid ref name");
      }
    }
  }
  ref.path = CleanAbsolutePath(original, path);
  return ref;
}

}  // namespace

ImageRef ParseImageRef(const std::string& s) {
  if (s.empty()) throw Error("no image given: expected docker://, oci:/// or an absolute tar path");
  if (s.front() == '/') {
    ImageRef ref;
    ref.kind = RefKind::kTar;
    ref.original = s;
    ref.path = s;
    return ref;
  }
  // A URL scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"
  std::size_t i = 0;
  while (i < s.size() && (IsAsciiAlnum(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')) ++i;
  if (i == 0 || i == s.size() || s[i] != ':' || !std::isalpha(static_cast<unsigned char>(s[0]))) {
    Refuse(s, "expected docker://, oci:/// or an absolute path to a tar file");
  }
  const std::string scheme = AsciiLower(std::string_view(s).substr(0, i));
  const std::string_view after = std::string_view(s).substr(i + 1);
  if (scheme != "docker" && scheme != "oci") {
    Refuse(s, "unsupported scheme '" + Printable(scheme) +
                  "' (expected docker://, oci:/// or an absolute path to a tar file)");
  }
  if (after.substr(0, 2) != "//") {
    Refuse(s, scheme == "docker" ? "expected docker:///NAME or docker://HOST[:PORT]/NAME"
                                 : "expected oci:///ABSOLUTE/PATH[:REF]");
  }
  if (scheme == "docker") return ParseDocker(s, after.substr(2));
  return ParseOci(s, after.substr(2));
}

}  // namespace grootfs::frontend::image
