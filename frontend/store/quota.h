// Disk quotas of a store, as the frontend sees them: which backend the store's filesystem
// offers, btrfs subvolumes for image directories, and btrfs usage from sysfs. Setting limits
// and reading XFS project usage take privilege: those are helper requests (SetQuota,
// ReadQuota in helper_client.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "frontend/store/store.h"

namespace grootfs::frontend::store {

enum class QuotaBackend {
  kNone,   // no quotas: disk limits are refused, stats walks the upper dir
  kXfs,    // XFS: a project per image directory (only if mounted with pquota)
  kBtrfs,  // btrfs with quotas enabled: a subvolume and its qgroup per image directory
};

std::string_view QuotaBackendName(QuotaBackend b);      // "none", "xfs", "btrfs"
QuotaBackend ParseQuotaBackend(std::string_view name);  // kNone for anything unknown

// What the filesystem holding `dir` may offer: kXfs for any XFS (whether pquota is on is the
// helper's to find out), kBtrfs when btrfs has quotas enabled, else kNone.
QuotaBackend DetectQuotaBackend(const std::string& dir);

// Makes parent/name as a btrfs subvolume (no privilege needed), owned by owner.
void MakeSubvolume(const std::string& parent, const std::string& name, const Owner& owner);

// The bytes the subvolume at `path` references, by its qgroup. Syncs the filesystem first:
// btrfs updates qgroup numbers when a transaction commits.
std::uint64_t BtrfsReferencedBytes(const std::string& path);

// The bytes in use on the filesystem holding `path` (total minus free).
std::uint64_t FilesystemUsedBytes(const std::string& path);

}  // namespace grootfs::frontend::store
