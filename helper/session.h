// Runs in: grootfs-helper (privileged). Trusts: the store marker written by root-only
// init-store (checked to be root-owned and not writable by others); nothing from the peer.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "helper/fs_at.h"

namespace grootfs::helper {

struct IdRange {
  std::uint32_t ns_id = 0;
  std::uint32_t host_id = 0;
  std::uint32_t size = 0;
};

// What init-store recorded about a store. Without mappings the store is root's: identity map.
struct StoreMarker {
  uid_t owner_uid = 0;
  gid_t owner_gid = 0;
  std::vector<IdRange> uid_map;
  std::vector<IdRange> gid_map;
  std::uint32_t mount_limit = 1000;  // rootfs mounts the store may hold ("mountlimit:N")
  std::string tag;                   // 32 hex digits root chose at init-store ("tag:HEX")
};

inline constexpr const char* kMarkerPath = "meta/store-marker";

// Parses the marker's text. Pure: no I/O, so it is unit tested directly.
Result<StoreMarker> ParseStoreMarker(std::string_view text);

// The ranges /etc/subuid (or /etc/subgid) text grants to a user known by name or id. Pure.
std::vector<IdRange> SubordinateRanges(std::string_view text, std::string_view name,
                                       std::uint32_t id);

// Whether every range maps onto host ids the caller may use: its own id (one id) or its
// subordinate ranges, as newuidmap checks. Pure.
bool MappingAllowed(const std::vector<IdRange>& map, std::uint32_t own_id,
                    const std::vector<IdRange>& subordinate);

class Session {
 public:
  Session(UniqueFd store, StoreMarker marker, std::string tag)
      : store_(std::move(store)), marker_(std::move(marker)), tag_(std::move(tag)) {}

  int store() const { return store_.get(); }
  const StoreMarker& marker() const { return marker_; }
  // Root stores (owner 0, no mappings) keep setuid binaries working in containers.
  bool rootless() const { return marker_.owner_uid != 0 || !marker_.uid_map.empty(); }
  // The source every rootfs mount of this store carries, from the store's own identity.
  const std::string& mount_tag() const { return tag_; }

 private:
  UniqueFd store_;
  StoreMarker marker_;
  std::string tag_;
};

// Resolves the store from "/" without following any symlink, reads its marker, and admits the
// caller (real uid) only if it is root or the store's owner.
Result<Session> OpenSession(const std::string& store_path, uid_t caller);

}  // namespace grootfs::helper
