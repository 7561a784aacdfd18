// check: verify a store the way fsck verifies a filesystem, and with --repair mend it.
// Prints one line per problem; exits 0 only when the store is (or was made) healthy.
#include <dirent.h>
#include <sys/stat.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "frontend/commands/commands.h"
#include "frontend/log.h"
#include "frontend/store/layer_cache.h"
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
      struct stat st{};
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
  struct stat st{}, parent{};
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

  void Leftovers() {
    for (const auto& name : store::ListDir(p_.tmp())) {
      auto lock = store::FileLock::TryLock(p_, "tmp-" + name, store::FileLock::Mode::kExclusive);
      if (lock.held()) Problem("leftover work directory tmp/" + name, false);
    }
    if (inv_.repair && left_ > 0) {
      store::SweepTmp(p_, helper_);
      store::SweepLocks(p_);
      std::cout << "repaired: leftovers swept\n";
      left_ = 0;
    }
  }

  // Every layer: a readable record, its diff dir, and as many bytes of file data as recorded.
  void Layers(const std::set<std::string>& used) {
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
      // A broken layer is dropped: the next create that needs it fetches it again.
      const bool mend = inv_.repair && used.count(key) == 0;
      if (mend) (void)store::Discard(p_, helper_, p_.layer(key));
      Problem(trouble + (used.count(key) ? " (in use)" : ""), mend);
    }
  }

  // Every image: a record, all its layers, and its rootfs mounted unless made without.
  std::set<std::string> Images() {
    std::set<std::string> used;
    for (const auto& id : store::ListDir(p_.images())) {
      nlohmann::json record;
      try {
        record = nlohmann::json::parse(store::ReadFile(p_.image(id) + "/image.json"));
      } catch (const std::exception&) {
        Problem("image " + id + " has no valid record", false);
        continue;
      }
      std::vector<store::LayerRecord> layers;
      bool whole = true;
      for (const auto& key : record.value("layers", nlohmann::json::array())) {
        used.insert(key.get<std::string>());
        auto layer = store::ReadLayer(p_, key.get<std::string>());
        if (!layer) Problem("image " + id + " uses missing layer " + key.get<std::string>(), false);
        whole = whole && layer.has_value();
        if (layer) layers.push_back(*layer);
      }
      if (!whole || !record.value("mounted", false) || MountedAt(p_.image(id) + "/rootfs"))
        continue;
      bool mend = false;
      if (inv_.repair) {
        helper_.MountRootfs(ipc::Area::kImages, id, store::MountOrder(layers));
        mend = true;
      }
      Problem("image " + id + " is not mounted", mend);
    }
    return used;
  }

  int left() const { return left_; }

 private:
  const Invocation& inv_;
  const store::Paths& p_;
  HelperClient& helper_;
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
  const auto used = checker.Images();
  checker.Layers(used);
  std::cout.flush();
  if (checker.left() > 0)
    throw Error("store " + p.root + " has " + std::to_string(checker.left()) +
                " problem(s)" + (inv.repair ? " left" : "; run check --repair"));
  std::cout << "store " << p.root << " is healthy" << std::endl;
  return 0;
}

}  // namespace grootfs::frontend::commands
