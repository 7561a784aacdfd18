// check: verify a store the way fsck verifies a filesystem, and with --repair mend it.
// Prints one line per problem; exits 0 only when the store is (or was made) healthy.
#include <dirent.h>
#include <sys/stat.h>

#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "frontend/commands/commands.h"
#include "frontend/log.h"
#include "frontend/store/act_as_owner.h"
#include "frontend/store/image_record.h"
#include "frontend/store/layer_cache.h"
#include "frontend/store/mounts.h"
#include "frontend/store/moved_mounts.h"
#include "frontend/store/store.h"
#include "frontend/util/error.h"

namespace grootfs::frontend::commands {
namespace {

// Bytes of regular-file data beneath dir, each inode once; nullopt if part of it is unreadable.
std::optional<std::uint64_t> FileBytes(const std::string& dir) {
  std::uint64_t total = 0;
  std::set<ino_t> seen;
  std::vector<std::string> stack{dir};
  while (!stack.empty()) {
    const std::string d = stack.back();
    stack.pop_back();
    if (access(d.c_str(), R_OK | X_OK) != 0) return std::nullopt;
    for (const auto& name : store::ListDir(d)) {
      struct stat st {};
      const std::string path = d + "/" + name;
      if (lstat(path.c_str(), &st) != 0) return std::nullopt;
      if (S_ISDIR(st.st_mode)) stack.push_back(path);
      if (S_ISREG(st.st_mode) && seen.insert(st.st_ino).second)
        total += static_cast<std::uint64_t>(st.st_size);
    }
  }
  return total;
}

bool MountedAt(const std::string& path) {
  struct stat st {
  }, parent{};
  return stat(path.c_str(), &st) == 0 && stat((path + "/..").c_str(), &parent) == 0 &&
         st.st_dev != parent.st_dev;
}

class Checker {
 public:
  Checker(const Invocation& inv, const store::Paths& p, HelperClient& helper)
      : inv_(inv), p_(p), helper_(helper) {}

  void Problem(const std::string& what, bool mended) {
    std::cout << (mended ? "repaired: " : "problem: ") << what << "\n";
    if (!mended) ++left_;
    Logger::Get().Info(mended ? "repaired" : "problem", {{"what", what}});
  }

  // tmp/: what killed commands left. Each is named with what stands in its way, if anything;
  // --repair removes what it can (an overlay the store made is unmounted first) and names the
  // rest: a mount someone else put inside is neither followed nor unmounted.
  void Leftovers() {
    for (const auto& name : store::ListDir(p_.tmp())) {
      store::FileLock lock;
      if (store::MayHaveOwner(name)) {
        lock = store::FileLock::TryLock(p_, "tmp-" + name, store::FileLock::Mode::kExclusive);
        if (!lock.held()) continue;  // a command is working in it
      }
      const std::string path = p_.tmp() + "/" + name;
      const std::string what = "leftover " + Kind(path) + " tmp/" + name;
      const auto mounts = store::ForeignMountsIn(path);
      const std::string advice = mounts.empty() ? ""
                                                : "; " + mounts.front() +
                                                      " is mounted inside it (not by grootfs): "
                                                      "unmount it, then run check --repair";
      if (!inv_.repair) {
        Problem(what + advice, false);
        continue;
      }
      try {
        store::RemoveLeftover(p_, helper_, name);
        if (lock.held()) (void)unlink((p_.locks() + "/tmp-" + name).c_str());
        Problem(what, true);
      } catch (const std::exception& e) {
        Problem(what + " cannot be removed (" + e.what() + ")" + advice, false);
      }
    }
    if (inv_.repair) store::SweepLocks(p_);
  }

  static std::string Kind(const std::string& path) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) return "entry";
    if (S_ISDIR(st.st_mode)) return "work directory";
    if (S_ISLNK(st.st_mode)) return "symlink";
    if (S_ISFIFO(st.st_mode)) return "fifo";
    return S_ISREG(st.st_mode) ? "file" : "entry";
  }

  // Rootfs mounts of this store that a user moved away from their image's place.
  void MovedMounts() {
    const auto moved = store::MovedMounts(p_);
    for (const auto& m : moved)
      Problem("a rootfs mount of this store was moved to " + m.point, false);
    if (!inv_.repair || moved.empty()) return;
    const auto still = store::UnmountMovedMounts(p_, helper_);
    left_ -= static_cast<int>(moved.size() - still.size());
    std::cout << "repaired: " << moved.size() - still.size()
              << " moved rootfs mount(s) unmounted\n";
  }

  // Every layer: a readable record, its diff dir, and as many bytes of file data as recorded.
  void Layers() {
    const auto& users = users_;
    for (const auto& key : store::ListDir(p_.layers())) {
      auto record = store::ReadLayer(p_, key);
      std::string trouble;
      if (!record) {
        trouble = "layer " + key + " has no valid record";
      } else if (auto bytes = FileBytes(p_.layer(key) + "/diff"); bytes && *bytes != record->size) {
        trouble = "layer " + key + " holds " + std::to_string(*bytes) + " bytes of files, " +
                  std::to_string(record->size) + " recorded";
      }
      if (trouble.empty()) continue;
      const auto it = users.find(key);
      const bool used = it != users.end();
      bool mended = false;
      if (inv_.repair) {
        // Dropped and, when images use it, fetched again from the image they were made from.
        try {
          (void)store::Discard(p_, helper_, p_.layer(key));
          mended = !used || Refetch(key, it->second);
        } catch (const std::exception& e) {
          trouble += " (cannot drop it: " + std::string(e.what()) + ")";
        }
      }
      Problem(trouble + (used ? " (in use)" : ""), mended);
    }
  }

  // Unpacks the layer again from the first image that can still provide it.
  bool Refetch(const std::string& key, const std::vector<std::string>& ids) {
    // The record names the image to read: in a store root does not own, its owner wrote it, so
    // the image is read with the owner's rights alone (not root's CAP_DAC_READ_SEARCH).
    std::optional<store::NoEffectiveCapabilities> owner_rights;
    if (store::ActingAsStoreOwner()) owner_rights.emplace();
    if (owner_rights && !owner_rights->ok()) return false;
    for (const auto& id : ids) {
      try {
        auto record = store::ReadImageRecord(p_, id);
        Invocation inv = inv_;
        inv.skip_layer_validation = record.value("skip_layer_validation", false);
        const auto spec = LoadImage(inv, record.at("image").get<std::string>());
        std::vector<store::LayerRecord> below;
        for (const auto& layer : spec.layers) {
          if (layer.cache_key != key) {
            if (auto r = store::ReadLayer(p_, layer.cache_key)) below.push_back(*r);
            continue;
          }
          image::StreamBudget budget = store::BudgetFor(p_, 0);
          (void)store::EnsureLayer(p_, helper_, layer, below, budget);
          for (const auto& user : ids) KeepMount(user);
          return true;
        }
      } catch (const std::exception& e) {
        Logger::Get().Info("refetch-failed", {{"image", id}, {"error", e.what()}});
      }
    }
    return false;
  }

  // A mounted image that used the layer keeps its mount as it is: its container may hold
  // that overlay in a mount namespace of its own, and a second overlay on the same upper and
  // work dirs would corrupt both (overlay calls it undefined behaviour). Said, not counted:
  // nothing short of a new image changes what that container sees.
  void KeepMount(const std::string& id) {
    if (!MountedAt(p_.image(id) + "/rootfs")) return;  // Images() mounts it, whole again
    std::cout << "note: image " << id
              << " keeps its mount of the layer as it was; delete it and create it again to use "
                 "the layer fetched anew\n";
    Logger::Get().Info("mount-kept", {{"image", id}});
  }

  // Which images use each layer, from their records.
  void FindUsers() { users_ = store::LayerUsers(p_); }

  // Every image: a record, all its layers, and its rootfs mounted unless made without.
  void Images() {
    for (const auto& id : store::ListDir(p_.images())) {
      nlohmann::json record;
      try {
        record = store::ReadImageRecord(p_, id);
      } catch (const std::exception&) {
        Problem("image " + id + " has no valid record", false);
        continue;
      }
      std::vector<store::LayerRecord> layers;
      bool whole = true;
      for (const auto& key : record.value("layers", nlohmann::json::array())) {
        auto layer = store::ReadLayer(p_, key.get<std::string>());
        if (!layer) {
          const bool mended = inv_.repair && Refetch(key, users_[key.get<std::string>()]);
          Problem("image " + id + " uses missing layer " + key.get<std::string>(), mended);
          if (mended) layer = store::ReadLayer(p_, key.get<std::string>());
        }
        whole = whole && layer.has_value();
        if (layer) layers.push_back(*layer);
      }
      if (!whole || !record.value("mounted", false) || MountedAt(p_.image(id) + "/rootfs"))
        continue;
      bool mend = false;
      std::string why;
      if (inv_.repair) {
        try {
          if (const std::string why_not = store::ClearVolatileMark(p_, id, record);
              !why_not.empty())
            throw Error(why_not);
          helper_.MountRootfs(ipc::Area::kImages, id, store::MountOrder(layers));
          mend = true;
        } catch (const std::exception& e) {
          why = " (cannot mount it: " + std::string(e.what()) + ")";
        }
      }
      Problem("image " + id + " is not mounted" + why, mend);
    }
  }

  int left() const { return left_; }

 private:
  const Invocation& inv_;
  const store::Paths& p_;
  HelperClient& helper_;
  std::map<std::string, std::vector<std::string>> users_;  // layer key -> images using it
  int left_ = 0;
};

}  // namespace

int Check(const Invocation& inv) {
  const store::Paths p{inv.store};
  store::RequireStore(p);
  auto helper = HelperClient::Start(inv.helper_bin, p.root);
  // Exclusive: nothing is created, deleted or cleaned while the store is checked.
  store::FileLock lock(p, "store", store::FileLock::Mode::kExclusive);
  Checker checker(inv, p, *helper);
  checker.Leftovers();
  checker.MovedMounts();
  checker.FindUsers();
  checker.Layers();  // first: images may need a layer fetched again
  checker.Images();
  std::cout.flush();
  if (checker.left() > 0)
    throw Error("store " + p.root + " has " + std::to_string(checker.left()) + " problem(s)" +
                (inv.repair ? " left" : "; run check --repair"));
  std::cout << "store " << p.root << " is healthy" << std::endl;
  return 0;
}

}  // namespace grootfs::frontend::commands
