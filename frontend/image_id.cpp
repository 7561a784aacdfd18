#include "frontend/image_id.h"

namespace grootfs::frontend {
namespace {

// ASCII only: the locale must not widen what an ID may hold.
bool IsAsciiAlnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

}  // namespace

bool IsValidImageId(std::string_view id) {
  if (id.empty() || id.size() > kMaxImageIdLength || !IsAsciiAlnum(id.front())) return false;
  for (const char c : id.substr(1)) {
    if (!IsAsciiAlnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

}  // namespace grootfs::frontend
