#include "frontend/image/tls_plugin.h"

#include <dlfcn.h>

#include <filesystem>
#include <mutex>

#include "frontend/image/http.h"

namespace grootfs::frontend::image::http {
namespace {

struct Loaded {
  const grootfs_tls_api* api = nullptr;
  std::string error;  // why not, when api is null
};

// dlerror() names the file first; the message names it once.
std::string WithoutPath(std::string why, const std::string& path) {
  if (why.rfind(path + ": ", 0) == 0) why.erase(0, path.size() + 2);
  for (char& c : why) {
    if (c == '\n') c = ' ';
  }
  return why;
}

Loaded Load() {
  const std::string path = TlsPluginPath();
  Loaded loaded;
  // RTLD_LOCAL: its symbols (none but the entry point) bind to nothing of ours. Never closed.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    loaded.error = "cannot load " + path + ": " + WithoutPath(why ? why : "unknown error", path);
    return loaded;
  }
  auto entry = reinterpret_cast<grootfs_tls_entry_fn>(dlsym(handle, GROOTFS_TLS_ENTRY));
  const grootfs_tls_api* api = entry != nullptr ? entry() : nullptr;
  if (entry == nullptr) {
    loaded.error = "cannot load " + path + ": no " GROOTFS_TLS_ENTRY " (not grootfs's plugin)";
  } else if (api == nullptr || api->abi_version != GROOTFS_TLS_ABI_VERSION ||
             api->size < sizeof(grootfs_tls_api)) {
    loaded.error = "cannot load " + path + ": its TLS did not start or its interface differs";
  } else {
    loaded.api = api;
  }
  return loaded;
}

}  // namespace

std::string TlsPluginPath() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "/usr/libexec/grootfs/" GROOTFS_TLS_PLUGIN_NAME;
  return (exe.parent_path().parent_path() / "libexec/grootfs" / GROOTFS_TLS_PLUGIN_NAME).string();
}

const grootfs_tls_api& TlsPlugin(const std::string& where) {
  static const Loaded* loaded = new Loaded(Load());  // once, thread-safe; kept until exit
  if (loaded->api == nullptr)
    throw TransferError(where, loaded->error, TransferError::Kind::kOther);
  return *loaded->api;
}

}  // namespace grootfs::frontend::image::http
