// Fuzzes unpacker::CleanEntryPath, the one place a tar entry's name becomes path components.
// Every accepted result must be made of plain components only (none empty, ".", ".." or
// containing '/' or NUL), and they must be exactly the name's own components, in order.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "unpacker/unpack_tar.h"
#include "ipc/limits.h"

namespace {

void Require(bool ok, const char* what, std::string_view name) {
  if (ok) return;
  std::fprintf(stderr, "entry_path_fuzz: %s (name of %zu bytes)\n", what, name.size());
  std::abort();
}

// The name's components without empty and "." ones, joined with '/', computed independently.
std::string Expected(std::string_view name) {
  std::string out;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view part = name.substr(start, end - start);
    if (!part.empty() && part != ".") out += (out.empty() ? "" : "/") + std::string(part);
    start = end + 1;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view name(reinterpret_cast<const char*>(data), size);
  const auto parts = grootfs::unpacker::CleanEntryPath(name);
  if (!parts) return 0;

  Require(!name.empty() && name.front() != '/', "accepted an empty or absolute name", name);
  Require(name.size() <= grootfs::ipc::limits::kMaxEntryPath, "accepted an over-long name", name);
  std::string joined;
  for (const std::string& part : *parts) {
    Require(!part.empty(), "an empty component", name);
    Require(part != "." && part != "..", "a '.' or '..' component", name);
    Require(part.find('/') == std::string::npos, "a component containing '/'", name);
    Require(part.find('\0') == std::string::npos, "a component containing NUL", name);
    Require(part.size() <= grootfs::ipc::limits::kMaxName, "an over-long component", name);
    joined += (joined.empty() ? "" : "/") + part;
  }
  Require(joined == Expected(name), "the components are not the name's own", name);
  return 0;
}
