#include "frontend/store/layer_cache.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstring>
#include <exception>
#include <nlohmann/json.hpp>
#include <thread>

#include "frontend/image/layer_progress.h"
#include "frontend/image/layer_stream.h"
#include "frontend/log.h"
#include "frontend/util/error.h"

namespace grootfs::frontend::store {
namespace {

std::vector<std::string> BaseDirComponents(const std::string& base) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < base.size()) {
    std::size_t j = base.find('/', i);
    if (j == std::string::npos) j = base.size();
    std::string part = base.substr(i, j - i);
    if (!part.empty() && part != ".") {
      if (!ipc::IsPlainName(part)) throw Error("bad base directory " + base);
      parts.push_back(std::move(part));
    }
    i = j + 1;
  }
  return parts;
}

bool ReaderWentAway(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return std::string_view(ex.what()).find("broken pipe") != std::string_view::npos;
  }
}

}  // namespace

std::optional<LayerRecord> ReadLayer(const Paths& p, const std::string& key) {
  const std::string path = p.layer(key) + "/layer.json";
  if (access(path.c_str(), F_OK) != 0 || access((p.layer(key) + "/diff").c_str(), F_OK) != 0)
    return std::nullopt;
  try {
    auto j = nlohmann::json::parse(ReadFile(path));
    LayerRecord r;
    r.key = key;
    r.size = j.at("size").get<std::uint64_t>();
    r.root_opaque = j.value("root_opaque", false);
    return r;
  } catch (const std::exception&) {
    return std::nullopt;  // a corrupt record is a cache miss
  }
}

bool HasLayerFromBlob(const Paths& p, const std::string& digest) {
  for (const std::string& name : ListDir(p.layers())) {
    try {
      const std::string text = ReadFile(p.layer(name) + "/layer.json");
      if (text.find(digest) == std::string::npos) continue;  // most records, without parsing
      const auto j = nlohmann::json::parse(text);
      if (j.value("digest", "") == digest && j.value("verified", false) &&
          access((p.layer(name) + "/diff").c_str(), F_OK) == 0)
        return true;
    } catch (const std::exception&) {
      // not a (whole) layer: debris, or one being made
    }
  }
  return false;
}

image::StreamBudget BudgetFor(const Paths& p, std::uint64_t disk_limit) {
  struct statvfs vfs {};
  std::uint64_t bytes = 0;
  std::string what;
  if (statvfs(p.root.c_str(), &vfs) == 0) {
    bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    what = "the store's free space";
  }
  if (disk_limit != 0 && (bytes == 0 || disk_limit < bytes)) {
    bytes = disk_limit;
    what = "the disk limit";
  }
  return image::StreamBudget(bytes, what);
}

LayerRecord EnsureLayer(const Paths& p, HelperClient& helper, const image::LayerSpec& layer,
                        const std::vector<LayerRecord>& below, image::StreamBudget& budget) {
  FileLock lock(p, "layer-" + layer.cache_key, FileLock::Mode::kExclusive);
  if (auto existing = ReadLayer(p, layer.cache_key)) return *existing;
  // A directory without a readable record is debris of a crash: move it away first.
  (void)Discard(p, helper, p.layer(layer.cache_key));

  auto& log = Logger::Get();
  log.Info("unpacking-layer", {{"key", layer.cache_key}, {"digest", layer.digest}});
  WorkDir work(p, helper);
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) throw Error("pipe: " + std::string(std::strerror(errno)));
  ipc::UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  // 1 MiB instead of 64 KiB between the inflating thread and the unpacker: fewer wake-ups of
  // each on a 2-core machine. Best effort (pipe-max-size, a user's pipe-user-pages-soft).
  (void)fcntl(write_end.get(), F_SETPIPE_SZ, 1 << 20);

  image::LayerProgress progress(layer);  // the terminal's line, DownloadTime, UnpackTime
  std::exception_ptr stream_error;
  std::thread writer([&] {
    try {
      (void)image::StreamLayer(layer, write_end.get(), &budget);
      progress.Downloaded();
    } catch (...) {
      stream_error = std::current_exception();
    }
    write_end.Reset();  // EOF for the helper, success or not
  });
  ipc::CountReply reply;
  std::exception_ptr unpack_error;
  try {
    reply = helper.UnpackLayer(work.name(), BaseDirComponents(layer.base_directory), read_end.get(),
                               budget.bytes(), MountOrder(below));
  } catch (const HelperError& e) {
    unpack_error = std::current_exception();
    if (e.code() == EDQUOT)
      unpack_error = std::make_exception_ptr(
          Error("layer " + layer.digest + " unpacks to more than " + budget.what() + " allows (" +
                std::to_string(budget.bytes()) + " bytes); stopped, nothing kept"));
    else if (e.code() == ENOSPC)
      unpack_error = std::make_exception_ptr(Error("layer " + layer.digest +
                                                   " does not fit in the store's free space (" +
                                                   e.what() + "); stopped, nothing kept"));
  } catch (...) {
    unpack_error = std::current_exception();
  }
  read_end.Reset();  // a writer still blocked on a full pipe gets EPIPE
  writer.join();
  // Verification says why, unless the stream broke only because the unpacker had already
  // failed (a full disk, a refused entry): then the unpacker's error is the cause.
  if (stream_error && unpack_error && ReaderWentAway(stream_error))
    std::rethrow_exception(unpack_error);
  if (stream_error) std::rethrow_exception(stream_error);
  if (unpack_error) std::rethrow_exception(unpack_error);

  progress.Unpacked();
  LayerRecord record{layer.cache_key, reply.bytes, (reply.flags & ipc::kLayerRootOpaque) != 0};
  nlohmann::json j = {{"size", record.size},
                      {"root_opaque", record.root_opaque},
                      {"digest", layer.digest},
                      {"diff_id", layer.diff_id},
                      {"verified", layer.verify}};
  WriteFileAtomically(work.path() + "/layer.json", j.dump(), StoreOwner(p));
  work.CommitTo(p.layer(layer.cache_key));
  log.Info("layer-unpacked", {{"key", layer.cache_key}, {"bytes", record.size}});
  return record;
}

std::vector<std::string> MountOrder(const std::vector<LayerRecord>& layers_lowest_first) {
  std::vector<std::string> keys;
  for (auto it = layers_lowest_first.rbegin(); it != layers_lowest_first.rend(); ++it) {
    keys.push_back(it->key);
    if (it->root_opaque) break;
  }
  return keys;
}

}  // namespace grootfs::frontend::store
