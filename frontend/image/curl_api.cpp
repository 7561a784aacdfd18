#include "frontend/image/curl_api.h"

#include <dlfcn.h>

#include <string>

#include "frontend/util/error.h"

namespace grootfs::frontend::image::http {
namespace {

template <typename F>
void Find(void* lib, const char* name, F& out) {
  void* sym = dlsym(lib, name);
  if (sym == nullptr) throw Error(std::string("libcurl.so.4 has no ") + name);
  out = reinterpret_cast<F>(sym);
}

CurlApi Load() {
  // RTLD_LOCAL: its symbols stay out of the global namespace; never unloaded.
  void* lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    throw Error(std::string("cannot load libcurl (needed to reach a registry): ") +
                (why != nullptr ? why : "dlopen failed"));
  }
  CurlApi api{};
  Find(lib, "curl_global_init", api.global_init);
  Find(lib, "curl_easy_init", api.easy_init);
  Find(lib, "curl_easy_setopt", api.easy_setopt);
  Find(lib, "curl_easy_getinfo", api.easy_getinfo);
  Find(lib, "curl_easy_pause", api.easy_pause);
  Find(lib, "curl_easy_cleanup", api.easy_cleanup);
  Find(lib, "curl_easy_strerror", api.easy_strerror);
  Find(lib, "curl_multi_init", api.multi_init);
  Find(lib, "curl_multi_add_handle", api.multi_add_handle);
  Find(lib, "curl_multi_remove_handle", api.multi_remove_handle);
  Find(lib, "curl_multi_perform", api.multi_perform);
  Find(lib, "curl_multi_poll", api.multi_poll);
  Find(lib, "curl_multi_info_read", api.multi_info_read);
  Find(lib, "curl_multi_cleanup", api.multi_cleanup);
  Find(lib, "curl_multi_strerror", api.multi_strerror);
  Find(lib, "curl_share_init", api.share_init);
  Find(lib, "curl_share_setopt", api.share_setopt);
  Find(lib, "curl_slist_append", api.slist_append);
  Find(lib, "curl_slist_free_all", api.slist_free_all);
  return api;
}

}  // namespace

const CurlApi& Curl() {
  static const CurlApi api = Load();  // a failed load throws, and the next call tries again
  return api;
}

}  // namespace grootfs::frontend::image::http
