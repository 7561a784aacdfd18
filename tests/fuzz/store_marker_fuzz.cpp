// Fuzzes the helper's readers of root's files (helper/session.h): the store marker, the
// /etc/subuid-style ranges, and the check that a store's mappings are the caller's to use.
// Input: the marker's text, optionally followed by a NUL and a subordinate-id file's text.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "helper/session.h"

namespace {

namespace helper = grootfs::helper;

constexpr std::size_t kMaxRanges = 32;  // session.cpp's bound on ranges kept

void Require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "store_marker_fuzz: %s\n", what);
  std::abort();
}

bool Fits(std::uint32_t start, std::uint32_t size) {
  return size > 0 && std::uint64_t{start} + size <= 0xFFFFFFFFull;
}

bool Covered(std::uint32_t id, std::uint32_t own_id, const std::vector<helper::IdRange>& subs) {
  if (id == own_id) return true;
  for (const helper::IdRange& s : subs)
    if (id >= s.host_id && std::uint64_t{id} < std::uint64_t{s.host_id} + s.size) return true;
  return false;
}

// Whatever MappingAllowed accepts maps only onto ids the caller owns: a range is either the
// caller's own id alone, or lies within one subordinate range (so both its ends are covered).
void CheckMapping(const std::vector<helper::IdRange>& map, std::uint32_t own_id,
                  const std::vector<helper::IdRange>& subs) {
  if (!helper::MappingAllowed(map, own_id, subs)) return;
  Require(!map.empty(), "an empty (identity) map was allowed");
  for (const helper::IdRange& r : map) {
    const bool own = r.host_id == own_id && r.size == 1;
    Require(own || (Covered(r.host_id, own_id, subs) &&
                    Covered(r.host_id + (r.size - 1), own_id, subs)),
            "a range onto ids the caller does not own was allowed");
  }
}

void CheckRanges(const std::vector<helper::IdRange>& ranges, bool with_ns) {
  Require(ranges.size() <= kMaxRanges, "more ranges than the bound");
  for (const helper::IdRange& r : ranges) {
    Require(Fits(r.host_id, r.size), "a host range that is empty or wraps");
    Require(!with_ns || Fits(r.ns_id, r.size), "a namespace range that is empty or wraps");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = all.find('\0');
  const std::string_view marker_text = all.substr(0, nul);
  const std::string_view subid_text =
      nul == std::string_view::npos ? std::string_view() : all.substr(nul + 1);

  auto marker = helper::ParseStoreMarker(marker_text);
  const std::uint32_t uid = marker ? marker->owner_uid : 1000;
  const std::uint32_t gid = marker ? marker->owner_gid : 1000;

  const auto by_name = helper::SubordinateRanges(subid_text, "alice", uid);
  const auto by_id = helper::SubordinateRanges(subid_text, "", uid);
  CheckRanges(by_name, false);
  CheckRanges(by_id, false);
  // Every line that matches the id alone also matches "alice or the id".
  Require(by_id.size() <= by_name.size(), "a name matched fewer lines than no name");

  if (marker) {
    Require(marker->uid_map.empty() == marker->gid_map.empty(), "only one of the maps is set");
    CheckRanges(marker->uid_map, true);
    CheckRanges(marker->gid_map, true);
    CheckMapping(marker->uid_map, uid, by_name);
    CheckMapping(marker->gid_map, gid, by_name);
    CheckMapping(marker->uid_map, uid, by_id);
  }
  return 0;
}
