// Runs in: both binaries. Trusts: nothing; every read is bounds-checked.
#include "ipc/codec.h"

#include <cstring>

#include "ipc/limits.h"

namespace grootfs::ipc {
namespace {

class Writer {
 public:
  void U8(std::uint8_t v) { Raw(&v, sizeof v); }
  void U32(std::uint32_t v) { Raw(&v, sizeof v); }
  void U64(std::uint64_t v) { Raw(&v, sizeof v); }
  void Str(std::string_view s) {
    U32(static_cast<std::uint32_t>(s.size()));
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

  std::optional<std::uint8_t> U8() { return Fixed<std::uint8_t>(); }
  std::optional<std::uint32_t> U32() { return Fixed<std::uint32_t>(); }
  std::optional<std::uint64_t> U64() { return Fixed<std::uint64_t>(); }

  // A length-prefixed string of at most max bytes without NUL.
  std::optional<std::string> Str(std::size_t max) {
    auto len = U32();
    if (!len || *len > max || *len > rest_.size()) return std::nullopt;
    std::string s(reinterpret_cast<const char*>(rest_.data()), *len);
    rest_ = rest_.subspan(*len);
    if (s.find('\0') != std::string::npos) return std::nullopt;
    return s;
  }
  std::optional<std::string> Name() {
    auto s = Str(limits::kMaxName);
    if (!s || !IsPlainName(*s)) return std::nullopt;
    return s;
  }
  std::optional<Area> ReadArea() {
    auto v = U8();
    if (!v || *v < static_cast<std::uint8_t>(Area::kTmp) ||
        *v > static_cast<std::uint8_t>(Area::kLayers))
      return std::nullopt;
    return static_cast<Area>(*v);
  }
  // A count of following items, bounded; the bound also keeps the loop short.
  std::optional<std::uint32_t> Count(std::size_t max) {
    auto n = U32();
    if (!n || *n > max) return std::nullopt;
    return n;
  }
  bool AtEnd() const { return rest_.empty(); }

 private:
  template <typename T>
  std::optional<T> Fixed() {
    if (rest_.size() < sizeof(T)) return std::nullopt;
    T v;
    std::memcpy(&v, rest_.data(), sizeof v);
    rest_ = rest_.subspan(sizeof v);
    return v;
  }
  std::span<const std::byte> rest_;
};

}  // namespace

bool IsPlainName(std::string_view s) {
  return !s.empty() && s.size() <= limits::kMaxName && s != "." && s != ".." &&
         s.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
}

std::vector<std::byte> Encode(const HelloRequest& m) {
  Writer w;
  w.Str(m.store_path);
  return w.Take();
}

std::vector<std::byte> Encode(const UnpackLayerRequest& m) {
  Writer w;
  w.Str(m.work);
  w.U32(static_cast<std::uint32_t>(m.base_dir.size()));
  for (const auto& c : m.base_dir) w.Str(c);
  return w.Take();
}

std::vector<std::byte> Encode(const UnpackLayerReply& m) {
  Writer w;
  w.U64(m.bytes);
  w.U32(m.flags);
  return w.Take();
}

std::vector<std::byte> Encode(const MountRootfsRequest& m) {
  Writer w;
  w.U8(static_cast<std::uint8_t>(m.area));
  w.Str(m.name);
  w.U32(static_cast<std::uint32_t>(m.layer_keys.size()));
  for (const auto& k : m.layer_keys) w.Str(k);
  w.U32(m.flags);
  return w.Take();
}

std::vector<std::byte> Encode(const PlaceRequest& m) {
  Writer w;
  w.U8(static_cast<std::uint8_t>(m.area));
  w.Str(m.name);
  return w.Take();
}

std::optional<HelloRequest> DecodeHello(std::span<const std::byte> in) {
  Reader r(in);
  auto path = r.Str(limits::kMaxStorePath);
  if (!path || path->empty() || (*path)[0] != '/' || !r.AtEnd()) return std::nullopt;
  return HelloRequest{std::move(*path)};
}

std::optional<UnpackLayerRequest> DecodeUnpackLayer(std::span<const std::byte> in) {
  Reader r(in);
  UnpackLayerRequest m;
  auto work = r.Name();
  auto n = r.Count(limits::kMaxBaseDirDepth);
  if (!work || !n) return std::nullopt;
  m.work = std::move(*work);
  for (std::uint32_t i = 0; i < *n; ++i) {
    auto c = r.Name();
    if (!c) return std::nullopt;
    m.base_dir.push_back(std::move(*c));
  }
  if (!r.AtEnd()) return std::nullopt;
  return m;
}

std::optional<UnpackLayerReply> DecodeUnpackLayerReply(std::span<const std::byte> in) {
  Reader r(in);
  auto bytes = r.U64();
  auto flags = r.U32();
  if (!bytes || !flags || !r.AtEnd()) return std::nullopt;
  return UnpackLayerReply{*bytes, *flags};
}

std::optional<MountRootfsRequest> DecodeMountRootfs(std::span<const std::byte> in) {
  Reader r(in);
  MountRootfsRequest m;
  auto area = r.ReadArea();
  auto name = r.Name();
  auto n = r.Count(limits::kMaxLayersPerImage);
  if (!area || !name || !n || *n == 0) return std::nullopt;
  m.area = *area;
  m.name = std::move(*name);
  for (std::uint32_t i = 0; i < *n; ++i) {
    auto k = r.Name();
    if (!k) return std::nullopt;
    m.layer_keys.push_back(std::move(*k));
  }
  auto flags = r.U32();
  if (!flags || (*flags & ~kMountReadOnly) != 0 || !r.AtEnd()) return std::nullopt;
  m.flags = *flags;
  return m;
}

std::optional<PlaceRequest> DecodePlace(std::span<const std::byte> in) {
  Reader r(in);
  auto area = r.ReadArea();
  auto name = r.Name();
  if (!area || !name || !r.AtEnd()) return std::nullopt;
  return PlaceRequest{*area, std::move(*name)};
}

}  // namespace grootfs::ipc
