// libcurl, loaded when the network is first used (dlopen of libcurl.so.4), not at every start:
// libcurl pulls in TLS, LDAP, Kerberos, SSH and IDN libraries, which a create from cached
// layers, a delete or a stats never needs. Only the functions http.cpp calls are looked up.
#pragma once

#ifndef CURL_DISABLE_TYPECHECK
#define CURL_DISABLE_TYPECHECK  // calls go through pointers; the macros would name the symbols
#endif
#include <curl/curl.h>

namespace grootfs::frontend::image::http {

struct CurlApi {
  CURLcode (*global_init)(long flags);
  CURL* (*easy_init)();
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  CURLcode (*easy_pause)(CURL*, int bitmask);
  void (*easy_cleanup)(CURL*);
  const char* (*easy_strerror)(CURLcode);
  CURLM* (*multi_init)();
  CURLMcode (*multi_add_handle)(CURLM*, CURL*);
  CURLMcode (*multi_remove_handle)(CURLM*, CURL*);
  CURLMcode (*multi_perform)(CURLM*, int* running);
  CURLMcode (*multi_poll)(CURLM*, struct curl_waitfd extra[], unsigned int extra_nfds,
                          int timeout_ms, int* ret);
  CURLMsg* (*multi_info_read)(CURLM*, int* left);
  CURLMcode (*multi_cleanup)(CURLM*);
  const char* (*multi_strerror)(CURLMcode);
  CURLSH* (*share_init)();
  CURLSHcode (*share_setopt)(CURLSH*, CURLSHoption, ...);
  struct curl_slist* (*slist_append)(struct curl_slist*, const char*);
  void (*slist_free_all)(struct curl_slist*);
};

// The table, loading libcurl on the first call (thread-safe). Throws Error when libcurl or one
// of its functions cannot be found.
const CurlApi& Curl();

}  // namespace grootfs::frontend::image::http
