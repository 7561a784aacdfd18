// Support for the black-box integration suite: runs the INSTALLED grootfs binaries the way
// Garden does (fork/exec, stdout and stderr captured separately, exit status), with temporary
// stores that are unmounted and removed afterwards, and helpers to look at the result
// (/proc/self/mountinfo, JSON, directory listings).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#ifndef GROOTFS_PREFIX
#error "GROOTFS_PREFIX must name the install prefix of the binaries under test"
#endif
#ifndef GROOTFS_FIXTURES
#error "GROOTFS_FIXTURES must name tests/fixtures"
#endif
#ifndef GROOTFS_SOURCE_DIR
#error "GROOTFS_SOURCE_DIR must name the source tree"
#endif

extern char** environ;

namespace grootfs_it {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// Paths

inline std::string GrootfsBin() { return GROOTFS_PREFIX "/bin/grootfs"; }
inline std::string HelperBin() { return GROOTFS_PREFIX "/libexec/grootfs/grootfs-helper"; }
inline std::string FixtureImage(const std::string& name) {
  return GROOTFS_FIXTURES "/images/" + name;
}
inline std::string SupportScript(const std::string& name) {
  return GROOTFS_SOURCE_DIR "/tests/support/" + name;
}
// "oci:///abs/path" for an absolute layout path.
inline std::string OciUri(const std::string& layout) { return "oci://" + layout; }
inline std::string OciFixture(const std::string& name) { return OciUri(FixtureImage(name)); }

// ---------------------------------------------------------------------------------------------
// Running commands

struct RunResult {
  int status = -1;  // exit status; 128+N when killed by signal N; -1 when it could not run
  bool timed_out = false;
  std::string out;
  std::string err;

  bool ok() const { return status == 0 && !timed_out; }
  // For failure messages: everything a reader needs to see what went wrong.
  std::string Describe() const {
    std::ostringstream s;
    s << "status=" << status << (timed_out ? " (TIMED OUT)" : "") << "\n--- stdout:\n"
      << out << "\n--- stderr:\n"
      << err;
    return s.str();
  }
};

namespace detail {

inline std::string ResolveExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = getenv("PATH");
  std::string dirs = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::stringstream ss(dirs);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;
}

}  // namespace detail

// Runs argv (argv[0] looked up in PATH when it has no slash) with stdin from /dev/null,
// capturing stdout and stderr. The child runs in its own process group, which is killed
// (SIGKILL) when `timeout` passes. Safe to call from several threads at once.
inline RunResult RunCmd(const std::vector<std::string>& argv,
                        std::chrono::milliseconds timeout = 120s) {
  RunResult result;
  if (argv.empty()) return result;

  // Everything the child needs is prepared before fork: after fork in a multi-threaded
  // process only async-signal-safe calls are allowed.
  const std::string exe = detail::ResolveExecutable(argv[0]);
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return result;
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return result;
  }
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    // Default signal dispositions and an empty mask for the child.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    execve(exe.c_str(), cargv.data(), environ);
    static const char kMsg[] = "exec failed\n";
    ssize_t ignored = write(2, kMsg, sizeof(kMsg) - 1);
    (void)ignored;
    _exit(127);
  }
  if (devnull >= 0) close(devnull);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (pid < 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return result;
  }
  setpgid(pid, pid);  // also from the parent, so the group exists before any kill below

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      break;
    }
    int n = poll(fds, 2, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t r = read(fds[i].fd, buf, sizeof buf);
      if (r > 0) {
        sinks[i]->append(buf, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);

  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(wstatus))
    result.status = WEXITSTATUS(wstatus);
  else if (WIFSIGNALED(wstatus))
    result.status = 128 + WTERMSIG(wstatus);
  return result;
}

// Runs `grootfs --store STORE ARGS...`.
inline RunResult GrootfsV(const std::string& store, const std::vector<std::string>& args,
                          std::chrono::milliseconds timeout = 180s) {
  std::vector<std::string> argv{GrootfsBin(), "--store", store};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCmd(argv, timeout);
}

template <typename... Args>
RunResult Grootfs(const std::string& store, Args&&... args) {
  return GrootfsV(store, std::vector<std::string>{std::string(std::forward<Args>(args))...});
}

// ---------------------------------------------------------------------------------------------
// Strings, files, JSON

inline std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

inline std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> lines;
  std::stringstream ss(s);
  std::string line;
  while (std::getline(ss, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

inline std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::stringstream ss(s);
  while (std::getline(ss, part, sep)) parts.push_back(part);
  return parts;
}

inline bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

inline std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

inline bool ContainsNoCase(const std::string& haystack, const std::string& needle) {
  return Lower(haystack).find(Lower(needle)) != std::string::npos;
}

// The contract's failure shape: exactly one non-empty line on stdout.
inline ::testing::AssertionResult IsOneLine(const std::string& out) {
  std::string body = out;
  if (!body.empty() && body.back() == '\n') body.pop_back();
  if (Trim(body).empty()) return ::testing::AssertionFailure() << "stdout is empty";
  if (body.find('\n') != std::string::npos)
    return ::testing::AssertionFailure() << "stdout has more than one line: [" << out << "]";
  return ::testing::AssertionSuccess();
}

// Parses `text` as JSON; records a test failure (and returns a discarded value) if it is not.
inline Json ParseJson(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) ADD_FAILURE() << "not valid JSON: [" << text << "]";
  return j;
}

inline std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFile(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
}

// Writes `bytes` non-zero bytes to `p` and fsyncs them, so block accounting sees them.
inline bool WriteSyncedFile(const fs::path& p, size_t bytes) {
  int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  std::string chunk(65536, 'x');
  size_t left = bytes;
  bool ok = true;
  while (left > 0 && ok) {
    size_t n = std::min(left, chunk.size());
    ssize_t w = write(fd, chunk.data(), n);
    if (w <= 0)
      ok = false;
    else
      left -= static_cast<size_t>(w);
  }
  if (fsync(fd) != 0) ok = false;
  close(fd);
  return ok;
}

inline bool Exists(const fs::path& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0;
}

// Names of the entries of a directory (empty when it does not exist).
inline std::set<std::string> DirEntries(const fs::path& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    names.insert(it->path().filename().string());
  return names;
}

// Number of sub-directories of `dir` (0 when it does not exist).
inline size_t CountSubdirs(const fs::path& dir) {
  size_t n = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) ++n;
  }
  return n;
}

// Every path under `root` whose file name is `name` (not following symlinks).
inline std::vector<fs::path> FindByName(const fs::path& root, const std::string& name) {
  std::vector<fs::path> hits;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    if (it->path().filename() == name) hits.push_back(it->path());
  }
  return hits;
}

// ---------------------------------------------------------------------------------------------
// Mounts

struct MountEntry {
  int id = 0;
  std::string root;
  std::string mount_point;
  std::string options;  // per-mount options: rw, nosuid, nodev, ...
  std::string fstype;
  std::string source;
  std::string super_options;
};

// Decodes the octal escapes (\040 and friends) of /proc/self/mountinfo fields.
inline std::string UnescapeMountField(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isdigit(static_cast<unsigned char>(s[i + 2])) &&
        std::isdigit(static_cast<unsigned char>(s[i + 3]))) {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

inline std::vector<MountEntry> ReadMounts() {
  std::vector<MountEntry> mounts;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string tok;
    while (ss >> tok) f.push_back(tok);
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 7 || dash == f.end() || std::distance(dash, f.end()) < 3) continue;
    MountEntry m;
    m.id = std::atoi(f[0].c_str());
    m.root = UnescapeMountField(f[3]);
    m.mount_point = UnescapeMountField(f[4]);
    m.options = f[5];
    m.fstype = *(dash + 1);
    m.source = UnescapeMountField(*(dash + 2));
    if (std::distance(dash, f.end()) >= 4) m.super_options = *(dash + 3);
    mounts.push_back(std::move(m));
  }
  return mounts;
}

// The topmost mount whose mount point is exactly `p`, if any.
inline std::optional<MountEntry> MountAt(const fs::path& p) {
  std::optional<MountEntry> found;
  const std::string want = p.lexically_normal().string();
  for (auto& m : ReadMounts())
    if (m.mount_point == want) found = m;
  return found;
}

inline bool IsOverlayMountedAt(const fs::path& p) {
  auto m = MountAt(p);
  return m && m->fstype == "overlay";
}

// Mount points at or below `dir`.
inline std::vector<std::string> MountsUnder(const fs::path& dir) {
  std::string base = dir.lexically_normal().string();
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  std::vector<std::string> out;
  for (auto& m : ReadMounts())
    if (m.mount_point == base || StartsWith(m.mount_point, base + "/"))
      out.push_back(m.mount_point);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Temporary directories

// A fresh directory under $GROOTFS_TEST_TMPDIR, /var/tmp or /tmp. On destruction everything
// mounted beneath it is unmounted (deepest first, lazily if busy) and the tree is removed.
// If something stays mounted the tree is left in place rather than risk deleting through it.
class TempDir {
 public:
  TempDir() {
    std::vector<std::string> bases;
    if (const char* env = getenv("GROOTFS_TEST_TMPDIR")) bases.push_back(env);
    bases.push_back("/var/tmp");
    bases.push_back("/tmp");
    for (const auto& base : bases) {
      std::string tmpl = base + "/grootfs-it-XXXXXX";
      std::vector<char> buf(tmpl.begin(), tmpl.end());
      buf.push_back('\0');
      if (mkdtemp(buf.data()) != nullptr) {
        path_ = fs::weakly_canonical(fs::path(buf.data()));
        chmod(path_.c_str(), 0755);
        return;
      }
    }
    ADD_FAILURE() << "cannot make a temporary directory";
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() { Cleanup(); }

  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

  void Cleanup() {
    if (path_.empty()) return;
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto mounts = MountsUnder(path_);
      if (mounts.empty()) break;
      // Deepest first, so nested mounts come off before their parents.
      std::sort(mounts.begin(), mounts.end(),
                [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
      for (const auto& m : mounts) {
        if (umount2(m.c_str(), 0) != 0) umount2(m.c_str(), MNT_DETACH);
      }
    }
    if (!MountsUnder(path_).empty()) {
      ADD_FAILURE() << "still mounted beneath " << path_ << "; leaving it in place";
      path_.clear();
      return;
    }
    std::error_code ec;
    fs::remove_all(path_, ec);
    // Remnants next to a store (a backing file) live inside path_ too, so nothing else to do.
    path_.clear();
  }

 private:
  fs::path path_;
};

// ---------------------------------------------------------------------------------------------
// Test fixture

// Each test gets its own temporary directory and a store path inside it (not yet initialised).
class GrootfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the integration suite runs as root";
    ASSERT_FALSE(tmp_.path().empty());
    store_ = (tmp_.path() / "store").string();
  }

  void TearDown() override {}

  // init-store must succeed (most tests start with it).
  void InitStore() {
    auto r = Grootfs(store_, "init-store");
    ASSERT_TRUE(r.ok()) << r.Describe();
  }

  fs::path ImageDir(const std::string& id) const { return fs::path(store_) / "images" / id; }
  fs::path RootfsOf(const std::string& id) const { return ImageDir(id) / "rootfs"; }
  fs::path LayersDir() const { return fs::path(store_) / "layers"; }

  // `create [extra...] IMAGE ID`; on success returns the parsed JSON (a test failure otherwise).
  Json CreateOk(const std::string& image, const std::string& id,
                const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"create"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(image);
    args.push_back(id);
    auto r = GrootfsV(store_, args);
    EXPECT_TRUE(r.ok()) << "create " << image << " " << id << ": " << r.Describe();
    if (!r.ok()) return Json();
    return ParseJson(r.out);
  }

  // The image paths `list` prints (empty for "Store empty"); a test failure if list fails.
  std::set<std::string> ListImages() {
    auto r = Grootfs(store_, "list");
    EXPECT_TRUE(r.ok()) << r.Describe();
    std::set<std::string> paths;
    for (auto& line : Lines(r.out)) {
      if (Trim(line) == "Store empty") continue;
      paths.insert(Trim(line));
    }
    return paths;
  }

  // Runs a shell command inside the rootfs with chroot.
  RunResult InRootfs(const fs::path& rootfs, const std::string& script) {
    return RunCmd({"chroot", rootfs.string(), "/bin/sh", "-c", script}, 60s);
  }

  // Makes an OCI layout with `layers` generated layers (see tests/support/make_layers_image.sh).
  std::string MakeLayersImage(int layers, const std::string& name = "") {
    fs::path dir = tmp_.path() / (name.empty() ? "layers-" + std::to_string(layers) : name);
    auto r = RunCmd(
        {"bash", SupportScript("make_layers_image.sh"), dir.string(), std::to_string(layers)},
        300s);
    EXPECT_TRUE(r.ok()) << r.Describe();
    return dir.string();
  }

  // Makes a plain tar rootfs (the alpine layer, decompressed).
  std::string MakeRootfsTar(const std::string& name = "rootfs.tar") {
    fs::path out = tmp_.path() / name;
    auto r = RunCmd({"bash", SupportScript("make_rootfs_tar.sh"), out.string()}, 120s);
    EXPECT_TRUE(r.ok()) << r.Describe();
    return out.string();
  }

  // An executable file that is no program (its exec fails with ENOEXEC): a helper that cannot
  // run.
  fs::path NotAProgram() {
    const fs::path path = tmp_.path() / "not-a-program";
    WriteFile(path, "plain text, no #! line\n");
    EXPECT_EQ(chmod(path.c_str(), 0755), 0);
    return path;
  }

  // Asserts that nothing is left of image `id`: not listed, no mount in the store,
  // no directory under STORE/images.
  void ExpectNothingLeftOf(const std::string& id) {
    auto listed = ListImages();
    EXPECT_EQ(listed.count(ImageDir(id).string()), 0u) << "list still shows " << id;
    EXPECT_TRUE(MountsUnder(store_).empty())
        << "mounts left in the store: " << ::testing::PrintToString(MountsUnder(store_));
    EXPECT_FALSE(Exists(ImageDir(id))) << ImageDir(id) << " still exists";
  }

  TempDir tmp_;
  std::string store_;
};

}  // namespace grootfs_it
