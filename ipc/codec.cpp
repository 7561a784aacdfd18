// Runs in: both binaries. Trusts: nothing; every read is bounds-checked.
#include "ipc/codec.h"

#include <cstring>

#include "ipc/limits.h"

namespace grootfs::ipc {
namespace {

class Writer {
 public:
  template <typename T>
  void Put(T v) { Raw(&v, sizeof v); }
  void Str(std::string_view s) {
    Put(static_cast<std::uint32_t>(s.size()));
    Raw(s.data(), s.size());
  }
  std::vector<std::byte> Take() { return std::move(out_); }

 private:
  void Raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  std::vector<std::byte> out_;
};

class Reader {
 public:
  explicit Reader(std::span<const std::byte> in) : rest_(in) {}

  template <typename T>
  std::optional<T> Get() {
    if (rest_.size() < sizeof(T)) return std::nullopt;
    T v;
    std::memcpy(&v, rest_.data(), sizeof v);
    rest_ = rest_.subspan(sizeof v);
    return v;
  }
  // A length-prefixed string of at most max bytes without NUL.
  std::optional<std::string> Str(std::size_t max) {
    auto len = Get<std::uint32_t>();
    if (!len || *len > max || *len > rest_.size()) return std::nullopt;
    std::string s(reinterpret_cast<const char*>(rest_.data()), *len);
    rest_ = rest_.subspan(*len);
    return s.find('\0') == std::string::npos ? std::optional(s) : std::nullopt;
  }
  std::optional<std::string> Name() {
    auto s = Str(limits::kMaxName);
    return s && IsPlainName(*s) ? s : std::nullopt;
  }
  bool AtEnd() const { return rest_.empty(); }

 private:
  std::span<const std::byte> rest_;
};

struct Shape {
  std::size_t min_names, max_names;
  std::uint32_t flags;  // the flags the op accepts
  bool bytes;           // whether the op takes a byte count
  std::size_t max_lowers = 0;
};

// Indexed by op; Hello (1) has its own decoder.
constexpr Shape kShapes[] = {
    {}, {},  // none, Hello
    {0, limits::kMaxBaseDirDepth, 0, true, limits::kMaxLayersPerImage},  // UnpackLayer
    {1, limits::kMaxLayersPerImage, 0, false},                           // MountRootfs: layer keys
    {0, 0, kMovedMount, true},                                           // UnmountRootfs
    {0, 0, 0, false},                                                    // RemoveTree
    {0, 0, 0, true},                                                     // SetQuota: the limit
    {0, 0, 0, false}};                                                   // ReadQuota

std::optional<Shape> ShapeOf(Op op) {
  const auto i = static_cast<std::size_t>(op);
  if (i < 2 || i >= std::size(kShapes)) return std::nullopt;
  return kShapes[i];
}

}  // namespace

bool IsPlainName(std::string_view s) {
  return !s.empty() && s.size() <= limits::kMaxName && s != "." && s != ".." &&
         s.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
}

std::vector<std::byte> EncodeHello(std::string_view store_path) {
  Writer w;
  w.Str(store_path);
  return w.Take();
}

std::vector<std::byte> Encode(const Request& m) {
  Writer w;
  w.Put(static_cast<std::uint8_t>(m.area));
  w.Str(m.name);
  w.Put(static_cast<std::uint32_t>(m.names.size()));
  for (const auto& n : m.names) w.Str(n);
  w.Put(m.flags);
  w.Put(m.bytes);
  w.Put(static_cast<std::uint32_t>(m.lowers.size()));
  for (const auto& n : m.lowers) w.Str(n);
  return w.Take();
}

std::vector<std::byte> Encode(const CountReply& m) {
  Writer w;
  w.Put(m.bytes);
  w.Put(m.flags);
  return w.Take();
}

std::optional<std::string> DecodeHello(std::span<const std::byte> in) {
  Reader r(in);
  auto path = r.Str(limits::kMaxStorePath);
  if (!path || path->empty() || (*path)[0] != '/' || !r.AtEnd()) return std::nullopt;
  return path;
}

std::optional<Request> Decode(Op op, std::span<const std::byte> in) {
  const auto shape = ShapeOf(op);
  Reader r(in);
  Request m;
  auto area = r.Get<std::uint8_t>();
  auto name = r.Name();
  auto count = r.Get<std::uint32_t>();
  if (!shape || !area || *area < static_cast<std::uint8_t>(Area::kTmp) ||
      *area > static_cast<std::uint8_t>(Area::kLayers) || !name || !count ||
      *count < shape->min_names || *count > shape->max_names)
    return std::nullopt;
  m.area = static_cast<Area>(*area);
  m.name = std::move(*name);
  for (std::uint32_t i = 0; i < *count; ++i) {
    auto n = r.Name();
    if (!n) return std::nullopt;
    m.names.push_back(std::move(*n));
  }
  auto flags = r.Get<std::uint32_t>();
  auto bytes = r.Get<std::uint64_t>();
  auto lowers = r.Get<std::uint32_t>();
  if (!flags || (*flags & ~shape->flags) != 0 || !bytes || (*bytes != 0 && !shape->bytes) ||
      !lowers || *lowers > shape->max_lowers)
    return std::nullopt;
  m.flags = *flags;
  m.bytes = *bytes;
  for (std::uint32_t i = 0; i < *lowers; ++i) {
    auto n = r.Name();
    if (!n) return std::nullopt;
    m.lowers.push_back(std::move(*n));
  }
  return r.AtEnd() ? std::optional(std::move(m)) : std::nullopt;
}

std::optional<CountReply> DecodeCountReply(std::span<const std::byte> in) {
  Reader r(in);
  auto bytes = r.Get<std::uint64_t>();
  auto flags = r.Get<std::uint32_t>();
  if (!bytes || !flags || !r.AtEnd()) return std::nullopt;
  return CountReply{*bytes, *flags};
}

}  // namespace grootfs::ipc
