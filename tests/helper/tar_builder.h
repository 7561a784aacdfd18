// Builds tar streams in memory for unpack tests: any entry a hostile layer could carry.
#pragma once

#include <archive.h>
#include <csignal>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

class TarBuilder {
 public:
  TarBuilder() {
    a_ = archive_write_new();
    archive_write_set_format_pax_restricted(a_);
    archive_write_open_memory(a_, buf_.data(), buf_.size(), &used_);
  }
  ~TarBuilder() { archive_write_free(a_); }

  TarBuilder& File(const std::string& path, const std::string& content, int mode = 0644,
                   int uid = 0) {
    auto* e = Entry(path, AE_IFREG, mode, uid);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    archive_write_header(a_, e);
    archive_write_data(a_, content.data(), content.size());
    archive_entry_free(e);
    return *this;
  }
  TarBuilder& Dir(const std::string& path, int mode = 0755) { return Simple(path, AE_IFDIR, mode); }
  TarBuilder& Symlink(const std::string& path, const std::string& target) {
    auto* e = Entry(path, AE_IFLNK, 0777, 0);
    archive_entry_set_symlink(e, target.c_str());
    archive_write_header(a_, e);
    archive_entry_free(e);
    return *this;
  }
  TarBuilder& HardLink(const std::string& path, const std::string& target) {
    auto* e = Entry(path, AE_IFREG, 0644, 0);
    archive_entry_set_hardlink(e, target.c_str());
    archive_entry_set_size(e, 0);
    archive_write_header(a_, e);
    archive_entry_free(e);
    return *this;
  }
  TarBuilder& CharDevice(const std::string& path) { return Simple(path, AE_IFCHR, 0666); }
  TarBuilder& Xattr(const std::string& path, const std::string& name, const std::string& value) {
    auto* e = Entry(path, AE_IFREG, 0644, 0);
    archive_entry_xattr_add_entry(e, name.c_str(), value.data(), value.size());
    archive_entry_set_size(e, 0);
    archive_write_header(a_, e);
    archive_entry_free(e);
    return *this;
  }

  // The finished tar, readable from a pipe's read end (written from a thread).
  // The reader may stop early (a refused entry, a budget): the writer then gets EPIPE.
  int Pipe() {
    archive_write_close(a_);
    return PipeOf(std::string(buf_.data(), used_));
  }
  static int PipeOf(std::string data) {
    signal(SIGPIPE, SIG_IGN);
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return -1;
    std::thread([fd = p[1], data] {
      std::size_t done = 0;
      while (done < data.size()) {
        ssize_t n = write(fd, data.data() + done, data.size() - done);
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
      }
      close(fd);
    }).detach();
    return p[0];
  }

 private:
  archive_entry* Entry(const std::string& path, unsigned type, int mode, int uid) {
    auto* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, static_cast<mode_t>(mode));
    archive_entry_set_uid(e, uid);
    archive_entry_set_gid(e, uid);
    archive_entry_set_mtime(e, 1000000, 0);
    return e;
  }
  TarBuilder& Simple(const std::string& path, unsigned type, int mode) {
    auto* e = Entry(path, type, mode, 0);
    archive_write_header(a_, e);
    archive_entry_free(e);
    return *this;
  }

  archive* a_;
  std::vector<char> buf_ = std::vector<char>(8 << 20);
  size_t used_ = 0;
};
