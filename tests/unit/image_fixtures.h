// Shared by the image unit tests (layer_stream, oci_layout, tar_image): a scratch directory
// per test, and deterministic tars, compressed blobs and digests built with libarchive.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "frontend/image/digest.h"
#include "frontend/image/image_spec.h"

namespace grootfs::frontend::image::fixtures {

inline la_ssize_t AppendToString(struct archive*, void* client, const void* buffer, size_t length) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

// A pax-restricted (ustar) archive of regular files (name, content), deterministic.
inline std::string MakeTar(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_per_block(a, 512);
  archive_write_open(a, &out, nullptr, AppendToString, nullptr);
  for (const auto& [name, content] : files) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    archive_entry_set_mtime(e, 1500000000, 0);
    archive_write_header(a, e);
    archive_write_data(a, content.data(), content.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

inline std::string MakeTar(const std::string& name, const std::string& content) {
  return MakeTar({{name, content}});
}

// data compressed with libarchive's gzip or zstd writer; kNone returns it as it is.
inline std::string Compress(const std::string& data, Compression compression) {
  if (compression == Compression::kNone) return data;
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format_raw(a);
  if (compression == Compression::kGzip) archive_write_add_filter_gzip(a);
  if (compression == Compression::kZstd) archive_write_add_filter_zstd(a);
  archive_write_set_bytes_per_block(a, 1);
  archive_write_open(a, &out, nullptr, AppendToString, nullptr);
  struct archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, "data");
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
  archive_write_header(a, e);
  archive_write_data(a, data.data(), data.size());
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

inline std::string Digest(const std::string& data) { return "sha256:" + Sha256Hex(data); }

// A test with its own scratch directory (under $TMPDIR or /tmp), removed afterwards.
class ScratchDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/grootfs-unit-XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    scratch_ = templ;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(scratch_, ec);
  }

  // Writes scratch_/name; returns its path.
  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = scratch_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  std::string scratch_;
};

}  // namespace grootfs::frontend::image::fixtures
