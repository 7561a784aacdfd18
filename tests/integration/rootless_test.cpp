// Privilege separation, as an auditor would check it: a real unprivileged user with
// subordinate ids, the helper installed setuid root into a temporary prefix, the whole
// lifecycle as that user, and a hostile user talking to the helper directly.
#include <grp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/xattr.h>

#include <map>

#include "support.h"
#include "test_users.h"

using namespace grootfs_it;

namespace {

struct User {
  std::string name;
  uid_t uid;
  std::string subids;  // "start:count", the same for uids and gids
};

// A User for a TestUser (made for this test, removed after it).
User FromTestUser(const TestUser& u) {
  EXPECT_EQ(u.subuid_start(), u.subgid_start()) << "the tests map one range for both";
  return User{u.name(), u.uid(), std::to_string(u.subuid_start()) + ":65536"};
}

gid_t NoGroup() { return getgrnam("nogroup") ? getgrnam("nogroup")->gr_gid : 65534; }

// A snapshot of a tree outside the store: every path with its type, mode, size and mtime.
std::map<std::string, std::string> Snapshot(const fs::path& root) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
       !ec && it != end; it.increment(ec)) {
    struct stat st{};
    if (lstat(it->path().c_str(), &st) != 0) continue;
    out[it->path().string()] = std::to_string(st.st_mode) + ":" + std::to_string(st.st_size) +
                               ":" + std::to_string(st.st_mtim.tv_nsec) + ":" +
                               std::to_string(st.st_nlink);
  }
  return out;
}

// Builds request datagrams by hand, independently of ipc/codec.cpp.
std::string Frame(std::uint16_t op, const std::string& payload, std::uint32_t fds = 0) {
  std::string f(16, '\0');
  const std::uint32_t magic = 0x47524f54, len = static_cast<std::uint32_t>(payload.size());
  const std::uint16_t version = 2;
  std::memcpy(&f[0], &magic, 4);
  std::memcpy(&f[4], &version, 2);
  std::memcpy(&f[6], &op, 2);
  std::memcpy(&f[8], &len, 4);
  std::memcpy(&f[12], &fds, 4);
  return f + payload;
}
std::string Str(const std::string& s) {
  std::string out(4, '\0');
  const std::uint32_t n = static_cast<std::uint32_t>(s.size());
  std::memcpy(&out[0], &n, 4);
  return out + s;
}
std::string U32(std::uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
// area, name, names, flags, bytes, lowers: the shape of every request after Hello.
std::string Request(std::uint8_t area, const std::string& name,
                    const std::vector<std::string>& names = {}, std::uint32_t bytes = 0) {
  std::string p(1, static_cast<char>(area));
  p += Str(name) + U32(static_cast<std::uint32_t>(names.size()));
  for (const auto& n : names) p += Str(n);
  return p + U32(0) + U32(bytes) + U32(0) + U32(0);  // flags, the u64 byte count, no lowers
}
constexpr std::uint16_t kHello = 1, kUnpack = 2, kRemove = 5, kSetQuota = 6, kReadQuota = 7;
constexpr std::uint8_t kTmp = 1;

// The helper, started directly by a test as `user`, with the test's end of its channel.
class RawHelper {
 public:
  struct Options {
    bool close_stdio = false;
    rlim_t nofile = 0;  // 0: unchanged
    std::vector<std::string> env;
  };
  RawHelper(const std::string& helper, const User& user, const Options& o) {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    std::vector<char*> envp;
    for (const auto& e : o.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    const gid_t gid = NoGroup();
    pid_ = fork();
    if (pid_ == 0) {
      if (dup2(sv[1], 3) != 3 || setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 ||
          setresuid(user.uid, user.uid, user.uid) != 0)
        _exit(100);
      if (o.nofile != 0) {
        rlimit r{o.nofile, o.nofile};
        setrlimit(RLIMIT_NOFILE, &r);
      }
      if (o.close_stdio) close_range(0, 2, 0);
      char* argv[] = {const_cast<char*>("grootfs-helper"), nullptr};
      execve(helper.c_str(), argv, envp.data());
      _exit(101);
    }
    close(sv[1]);
    sock_ = sv[0];
  }
  ~RawHelper() {
    if (sock_ >= 0) close(sock_);
    if (pid_ > 0 && status_ < 0) Wait();
  }

  bool Send(const std::string& datagram, int fd = -1) {
    iovec iov{const_cast<char*>(datagram.data()), datagram.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (fd >= 0) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    return sendmsg(sock_, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(datagram.size());
  }
  // The status of the next reply; nullopt when the helper closed the channel instead.
  std::optional<std::int32_t> ReplyStatus() {
    char buf[70000];
    const ssize_t n = recv(sock_, buf, sizeof buf, 0);
    if (n < 16) return std::nullopt;
    std::int32_t status;
    std::memcpy(&status, buf + 8, 4);
    return status;
  }
  // The exit status (or 128 + signal).
  int Wait() {
    if (sock_ >= 0) close(sock_);
    sock_ = -1;
    int ws = 0;
    waitpid(pid_, &ws, 0);
    status_ = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    return status_;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int sock_ = -1;
  int status_ = -1;
};

std::map<std::string, std::string> ProcStatus(pid_t pid) {
  std::map<std::string, std::string> out;
  for (const auto& line : Lines(ReadFile("/proc/" + std::to_string(pid) + "/status"))) {
    const auto colon = line.find(':');
    if (colon != std::string::npos) out[line.substr(0, colon)] = Trim(line.substr(colon + 1));
  }
  return out;
}

class RootlessTest : public GrootfsTest {
 protected:
  void SetUp() override {
    GrootfsTest::SetUp();
    if (IsSkipped()) return;
    try {
      alice_user_.emplace("alice");
      bob_user_.emplace("bob");
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
    alice_ = FromTestUser(*alice_user_);
    bob_ = FromTestUser(*bob_user_);
    // A real setuid install into a temporary prefix every user can reach.
    prefix_ = tmp_ / "prefix";
    auto r = RunCmd({"cp", "-a", std::string(GROOTFS_PREFIX), prefix_.string()});
    ASSERT_TRUE(r.ok()) << r.Describe();
    helper_ = (prefix_ / "libexec/grootfs/grootfs-helper").string();
    ASSERT_EQ(chown(helper_.c_str(), 0, 0), 0);
    ASSERT_EQ(chmod(helper_.c_str(), 04755), 0);
    images_ = tmp_ / "images";
    fs::create_directories(images_);
    r = RunCmd({"cp", "-a", FixtureImage("alpine"), (images_ / "alpine").string()});
    ASSERT_TRUE(r.ok()) << r.Describe();
    RunCmd({"chmod", "-R", "a+rX", images_.string()});
    canary_ = tmp_ / "canary";
    fs::create_directories(canary_ / "dir");
    WriteFile(canary_ / "dir/file", "precious");
    RunCmd({"chmod", "-R", "a+rwX", canary_.string()});
    before_ = Snapshot(canary_);
  }
  void TearDown() override {
    if (!before_.empty()) EXPECT_EQ(Snapshot(canary_), before_) << "the canary tree changed";
  }

  std::string StoreOf(const User& u) { return (tmp_ / ("store-" + u.name)).string(); }

  void InitStoreFor(const User& u, const std::string& uid_range, const std::string& gid_range) {
    auto r = RunCmd({GrootfsBin(), "--store", StoreOf(u), "init-store", "--uid-mapping",
                     "0:" + std::to_string(u.uid) + ":1", "--uid-mapping", uid_range,
                     "--gid-mapping", "0:" + std::to_string(NoGroup()) + ":1", "--gid-mapping",
                     gid_range});
    ASSERT_TRUE(r.ok()) << r.Describe();
  }
  void InitStoreFor(const User& u) {
    const std::string start = u.subids.substr(0, u.subids.find(':'));
    InitStoreFor(u, "1:" + start + ":65536", "1:" + start + ":65536");
  }

  RunResult As(const User& u, std::vector<std::string> argv) {
    std::vector<std::string> full{"setpriv",
                                  "--reuid=" + std::to_string(u.uid),
                                  "--regid=" + std::to_string(NoGroup()),
                                  "--clear-groups",
                                  "--"};
    full.insert(full.end(), argv.begin(), argv.end());
    return RunCmd(full, 120s);
  }
  RunResult UserGrootfs(const User& u, const std::string& store, std::vector<std::string> args) {
    std::vector<std::string> argv{(prefix_ / "bin/grootfs").string(), "--store", store};
    argv.insert(argv.end(), args.begin(), args.end());
    return As(u, argv);
  }
  std::string Alpine() const { return "oci://" + (images_ / "alpine").string(); }

  // Two users made for this test only (free uids and subordinate ids), removed after it.
  std::optional<TestUser> alice_user_, bob_user_;
  User alice_, bob_;
  fs::path prefix_, images_, canary_;
  std::string helper_;
  std::map<std::string, std::string> before_;
};

}  // namespace

TEST_F(RootlessTest, AnUnprivilegedUserRunsTheWholeLifecycle) {
  InitStoreFor(alice_);
  const std::string store = StoreOf(alice_);
  struct stat st{};
  ASSERT_EQ(stat(store.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, alice_.uid);
  EXPECT_EQ(st.st_mode & 0777, 0700u) << "store contents must not be reachable by others";

  auto r = UserGrootfs(alice_, store, {"create", Alpine(), "c1"});
  ASSERT_TRUE(r.ok()) << r.Describe();
  const fs::path rootfs = ParseJson(r.out)["root"]["path"].get<std::string>();
  EXPECT_TRUE(IsOverlayMountedAt(rootfs));
  ASSERT_EQ(stat(rootfs.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, alice_.uid) << "the rootfs belongs to the mapped root";
  EXPECT_EQ(st.st_mode & 0005, 0005u) << "any uid in the container may enter the rootfs";
  // Files the image gives to other ids land on the user's subordinate ids.
  ASSERT_EQ(lstat((rootfs / "etc/shadow").c_str(), &st), 0);
  EXPECT_GE(st.st_gid, alice_user_->subgid_start());

  r = UserGrootfs(alice_, store, {"list"});
  EXPECT_TRUE(r.ok() && r.out.find("c1") != std::string::npos) << r.Describe();
  r = UserGrootfs(alice_, store, {"stats", "c1"});
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_GT(ParseJson(r.out)["disk_usage"]["total_bytes_used"].get<std::int64_t>(), 0);
  r = UserGrootfs(alice_, store, {"capacity"});
  EXPECT_TRUE(r.ok()) << r.Describe();

  // A rootless runc, as the user, runs a command on the rootfs.
  const fs::path bundle = tmp_ / "bundle";
  fs::create_directories(bundle);
  RunCmd({"chown", std::to_string(alice_.uid), bundle.string()});
  r = As(alice_, {"sh", "-c",
                  "cd " + bundle.string() + " && runc spec --rootless && sed -i " +
                      "'s|\"path\": \"rootfs\"|\"path\": \"" + rootfs.string() +
                      "\"|; s|\"terminal\": true|\"terminal\": false|; s|\"sh\"$|\"sh\", \"-c\", "
                      "\"echo hello from runc\"|' config.json && runc --root " +
                      (bundle / "state").string() + " run c1-runc"});
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_NE(r.out.find("hello from runc"), std::string::npos) << r.Describe();

  r = UserGrootfs(alice_, store, {"delete", "c1"});
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_FALSE(IsOverlayMountedAt(rootfs));
  EXPECT_FALSE(Exists(fs::path(store) / "images/c1"));
  r = UserGrootfs(alice_, store, {"clean"});
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(CountSubdirs(fs::path(store) / "layers"), 0u);
  EXPECT_TRUE(DirEntries(fs::path(store) / "tmp").empty());
}

TEST_F(RootlessTest, WithoutMountWorksForAUser) {
  InitStoreFor(alice_);
  auto r = UserGrootfs(alice_, StoreOf(alice_), {"create", "--without-mount", Alpine(), "wm"});
  ASSERT_TRUE(r.ok()) << r.Describe();
  auto json = ParseJson(r.out);
  const fs::path rootfs = json["root"]["path"].get<std::string>();
  EXPECT_FALSE(IsOverlayMountedAt(rootfs));
  ASSERT_EQ(json["mounts"].size(), 1u);
  EXPECT_EQ(json["mounts"][0]["type"], "overlay");
  EXPECT_TRUE(UserGrootfs(alice_, StoreOf(alice_), {"delete", "wm"}).ok());
}

// Layers with pax UTF-8 names and a directory only implied by a later layer
// (tests/diff/make_feature_images.py), in a user's store: the unpack child reads the lower
// layers through the fds the helper opened, within its Landlock rules.
TEST_F(RootlessTest, AUsersStoreUnpacksNamesAsBytesAndImpliedDirectoriesFromBelow) {
  auto r =
      RunCmd({"python3", std::string(GROOTFS_SOURCE_DIR) + "/tests/diff/make_feature_images.py",
              (images_ / "features").string()});
  ASSERT_TRUE(r.ok()) << r.Describe();
  RunCmd({"chmod", "-R", "a+rX", images_.string()});
  InitStoreFor(alice_);
  for (const char* image : {"names", "layers"}) {
    r = UserGrootfs(alice_, StoreOf(alice_),
                    {"create", "oci://" + (images_ / "features" / image).string(), image});
    ASSERT_TRUE(r.ok()) << r.Describe();
  }
  const fs::path names = fs::path(StoreOf(alice_)) / "images/names/rootfs";
  EXPECT_EQ(
      fs::read_symlink(
          names /
          "etc/ssl/certs/NetLock_Arany_=Class_Gold=_F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny.pem"),
      "/usr-share-cert-F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny.crt");
  // srv: 0750, 1000:1000 in the image (host SUBID+999), mtime T0-1000, user.kept, in layer 1;
  // layers 2 and 3 only imply it.
  const fs::path srv = fs::path(StoreOf(alice_)) / "images/layers/rootfs/srv";
  struct stat st {};
  ASSERT_EQ(lstat(srv.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_uid, alice_user_->subuid_start() + 999);
  EXPECT_EQ(st.st_gid, alice_user_->subgid_start() + 999);
  EXPECT_EQ(st.st_mtime, 1'600'000'000 - 1000);
  char v[8] = {};
  EXPECT_EQ(getxattr(srv.c_str(), "user.kept", v, sizeof v), 3);
  EXPECT_TRUE(Exists(srv / "new") && Exists(srv / "newer") && Exists(srv / "old"));
  for (const char* image : {"names", "layers"})
    EXPECT_TRUE(UserGrootfs(alice_, StoreOf(alice_), {"delete", image}).ok());
}

TEST_F(RootlessTest, AUserCannotTouchAnotherUsersStore) {
  InitStoreFor(alice_);
  const std::string store = StoreOf(alice_);
  ASSERT_TRUE(UserGrootfs(alice_, store, {"create", Alpine(), "mine"}).ok());
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"create", Alpine(), "theirs"}, {"delete", "mine"}, {"stats", "mine"}, {"clean"},
           {"list"}}) {
    auto r = UserGrootfs(bob_, store, args);
    EXPECT_NE(r.status, 0) << args[0] << " in another user's store: " << r.Describe();
  }
  // And directly: the helper refuses Bob's Hello for Alice's store.
  RawHelper bob(helper_, bob_, {});
  ASSERT_TRUE(bob.Send(Frame(kHello, Str(store))));
  auto status = bob.ReplyStatus();
  ASSERT_TRUE(status.has_value());
  EXPECT_NE(*status, 0);
  EXPECT_EQ(bob.Wait(), 1);
  EXPECT_TRUE(IsOverlayMountedAt(fs::path(store) / "images/mine/rootfs"));
  EXPECT_TRUE(UserGrootfs(alice_, store, {"delete", "mine"}).ok());
}

TEST_F(RootlessTest, MappingsOutsideTheUsersRangesAreRefused) {
  const std::string bobs = "1:" + bob_.subids;
  InitStoreFor(alice_, bobs, bobs);  // Bob's ranges, not Alice's
  auto r = UserGrootfs(alice_, StoreOf(alice_), {"create", Alpine(), "x"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("subuid"), std::string::npos) << r.Describe();
  EXPECT_TRUE(MountsUnder(StoreOf(alice_)).empty());
}

TEST_F(RootlessTest, AUserCannotMakeTheHelperReadARootOnlyImage) {
  InitStoreFor(alice_);
  const fs::path secret = tmp_ / "secret";
  fs::create_directories(secret);
  RunCmd({"cp", "-a", FixtureImage("alpine"), (secret / "alpine").string()});
  chmod(secret.c_str(), 0700);
  ASSERT_EQ(symlink((secret / "alpine").c_str(), (images_ / "link").c_str()), 0);
  for (const std::string& image : {"oci://" + (secret / "alpine").string(),
                                   "oci://" + (images_ / "link").string()}) {
    auto r = UserGrootfs(alice_, StoreOf(alice_), {"create", image, "x"});
    EXPECT_NE(r.status, 0) << image;
  }
  EXPECT_EQ(CountSubdirs(fs::path(StoreOf(alice_)) / "layers"), 0u);
}

TEST_F(RootlessTest, TheHelperRunsWithTrimmedCapabilitiesAndSeccomp) {
  InitStoreFor(alice_);
  RawHelper h(helper_, alice_, {});
  ASSERT_TRUE(h.Send(Frame(kHello, Str(StoreOf(alice_)))));
  ASSERT_EQ(h.ReplyStatus(), std::optional<std::int32_t>(0));
  auto status = ProcStatus(h.pid());
  EXPECT_EQ(status["Seccomp"], "2");
  EXPECT_EQ(status["NoNewPrivs"], "1");
  EXPECT_EQ(status["CapEff"], "0000000000000000") << "nothing effective between calls";
  EXPECT_EQ(status["CapInh"], "0000000000000000");
  EXPECT_EQ(status["CapAmb"], "0000000000000000");
  // Permitted and bounding: sys_admin, setuid, setgid, setfcap, dac_override, chown, fowner,
  // fsetid, and nothing else.
  const std::uint64_t keep = (1ull << 21) | (1ull << 7) | (1ull << 6) | (1ull << 31) |
                             (1ull << 1) | (1ull << 0) | (1ull << 3) | (1ull << 4);
  EXPECT_EQ(std::stoull(status["CapPrm"], nullptr, 16), keep);
  EXPECT_EQ(std::stoull(status["CapBnd"], nullptr, 16), keep);
  EXPECT_EQ(h.Wait(), 0);
}

TEST_F(RootlessTest, GarbageAndOversizedFramesEndTheSessionWithoutAReply) {
  InitStoreFor(alice_);
  {
    RawHelper h(helper_, alice_, {});
    ASSERT_TRUE(h.Send("this is not a frame"));
    EXPECT_FALSE(h.ReplyStatus().has_value());
    EXPECT_EQ(h.Wait(), 3);
  }
  {
    RawHelper h(helper_, alice_, {});
    ASSERT_TRUE(h.Send(Frame(kHello, std::string(70000, 'x'))));
    EXPECT_EQ(h.Wait(), 3);
  }
  {
    RawHelper h(helper_, alice_, {});  // a request before Hello
    ASSERT_TRUE(h.Send(Frame(kRemove, Request(kTmp, "x"))));
    EXPECT_EQ(h.Wait(), 3);
  }
  {
    RawHelper h(helper_, alice_, {});  // names that are paths
    ASSERT_TRUE(h.Send(Frame(kHello, Str(StoreOf(alice_)))));
    ASSERT_EQ(h.ReplyStatus(), std::optional<std::int32_t>(0));
    ASSERT_TRUE(h.Send(Frame(kRemove, Request(kTmp, "../../canary"))));
    EXPECT_FALSE(h.ReplyStatus().has_value());
    EXPECT_EQ(h.Wait(), 3);
  }
  {
    RawHelper h(helper_, alice_, {});  // an fd count that does not match
    ASSERT_TRUE(h.Send(Frame(kHello, Str(StoreOf(alice_)))));
    ASSERT_EQ(h.ReplyStatus(), std::optional<std::int32_t>(0));
    ASSERT_TRUE(h.Send(Frame(kUnpack, Request(kTmp, "w"), 1)));
    EXPECT_EQ(h.Wait(), 3);
  }
}

TEST_F(RootlessTest, ASymlinkInTheStoreNeverLeadsOutOfIt) {
  InitStoreFor(alice_);
  const fs::path tmp = fs::path(StoreOf(alice_)) / "tmp";
  // The user plants symlinks to the canary where the helper will look.
  ASSERT_TRUE(As(alice_, {"ln", "-s", canary_.string(), (tmp / "evil").string()}).ok());
  ASSERT_TRUE(As(alice_, {"mkdir", (tmp / "swap").string()}).ok());
  RawHelper h(helper_, alice_, {});
  ASSERT_TRUE(h.Send(Frame(kHello, Str(StoreOf(alice_)))));
  ASSERT_EQ(h.ReplyStatus(), std::optional<std::int32_t>(0));
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  close(p[1]);
  ASSERT_TRUE(h.Send(Frame(kUnpack, Request(kTmp, "evil"), 1), p[0]));
  auto status = h.ReplyStatus();
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(*status == ELOOP || *status == ENOTDIR) << *status;
  ASSERT_TRUE(h.Send(Frame(kRemove, Request(kTmp, "evil"))));
  EXPECT_NE(h.ReplyStatus(), std::optional<std::int32_t>(0));
  // A directory swapped for a symlink between requests.
  ASSERT_TRUE(As(alice_, {"sh", "-c",
                          "rmdir " + (tmp / "swap").string() + " && ln -s " + canary_.string() +
                              " " + (tmp / "swap").string()})
                  .ok());
  ASSERT_TRUE(h.Send(Frame(kRemove, Request(kTmp, "swap"))));
  EXPECT_NE(h.ReplyStatus(), std::optional<std::int32_t>(0));
  close(p[0]);
  EXPECT_EQ(h.Wait(), 1) << "a session with a refused request exits 1";
}

// SetQuota and ReadQuota take nothing from the request but a checked place: no symlink is
// followed, a store without quotas is told so, and a byte count ReadQuota does not take ends
// the session like any other malformed request.
TEST_F(RootlessTest, QuotaRequestsAreValidatedLikeTheRest) {
  InitStoreFor(alice_);
  const fs::path tmp = fs::path(StoreOf(alice_)) / "tmp";
  ASSERT_TRUE(As(alice_, {"ln", "-s", canary_.string(), (tmp / "evil").string()}).ok());
  ASSERT_TRUE(As(alice_, {"mkdir", (tmp / "plain").string()}).ok());
  RawHelper h(helper_, alice_, {});
  ASSERT_TRUE(h.Send(Frame(kHello, Str(StoreOf(alice_)))));
  ASSERT_EQ(h.ReplyStatus(), std::optional<std::int32_t>(0));
  ASSERT_TRUE(h.Send(Frame(kSetQuota, Request(kTmp, "evil", {}, 1 << 20))));
  auto status = h.ReplyStatus();
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(*status == ELOOP || *status == ENOTDIR) << *status;
  // The test stores live on ext4: no quota backend there.
  ASSERT_TRUE(h.Send(Frame(kSetQuota, Request(kTmp, "plain", {}, 1 << 20))));
  EXPECT_EQ(h.ReplyStatus(), std::optional<std::int32_t>(ENOTSUP));
  ASSERT_TRUE(h.Send(Frame(kReadQuota, Request(kTmp, "plain"))));
  EXPECT_EQ(h.ReplyStatus(), std::optional<std::int32_t>(ENOTSUP));
  ASSERT_TRUE(h.Send(Frame(kReadQuota, Request(kTmp, "plain", {}, 5))));
  EXPECT_FALSE(h.ReplyStatus().has_value());
  EXPECT_EQ(h.Wait(), 3);
}

TEST_F(RootlessTest, HostileEnvironmentsDoNotHelp) {
  InitStoreFor(alice_);
  // A preload library that would leave a mark if the helper ever loaded it.
  const fs::path src = tmp_ / "evil.c", lib = tmp_ / "evil.so", mark = tmp_ / "mark";
  WriteFile(src, "#include <stdio.h>\n__attribute__((constructor)) static void f(void) {"
                 " FILE* f = fopen(\"" + mark.string() + "\", \"w\"); if (f) fclose(f); }\n");
  ASSERT_TRUE(RunCmd({"cc", "-shared", "-fPIC", "-o", lib.string(), src.string()}).ok());
  chmod(tmp_.path().c_str(), 0777);
  {
    RawHelper h(helper_, alice_, {.env = {"LD_PRELOAD=" + lib.string(), "LD_LIBRARY_PATH=/tmp"}});
    ASSERT_TRUE(h.Send(Frame(kHello, Str(StoreOf(alice_)))));
    EXPECT_EQ(h.ReplyStatus(), std::optional<std::int32_t>(0));
    EXPECT_EQ(h.Wait(), 0);
  }
  EXPECT_FALSE(Exists(mark)) << "the setuid helper loaded LD_PRELOAD";
  {
    RawHelper h(helper_, alice_, {.close_stdio = true});
    ASSERT_TRUE(h.Send(Frame(kHello, Str(StoreOf(alice_)))));
    EXPECT_EQ(h.ReplyStatus(), std::optional<std::int32_t>(0));
    EXPECT_EQ(h.Wait(), 0);
  }
  {
    RawHelper h(helper_, alice_, {.nofile = 5});
    h.Send(Frame(kHello, Str(StoreOf(alice_))));
    h.ReplyStatus();
    const int status = h.Wait();
    EXPECT_LT(status, 128) << "killed by a signal under a tiny fd limit";
  }
  chmod(tmp_.path().c_str(), 0755);
}

TEST_F(RootlessTest, FileCapabilitiesInsteadOfSetuidWorkToo) {
  // The documented alternative: no setuid bit, the helper's set as permitted file capabilities.
  ASSERT_EQ(chmod(helper_.c_str(), 0755), 0);
  auto r = RunCmd({"setcap",
                   "cap_sys_admin,cap_setuid,cap_setgid,cap_setfcap,cap_dac_override,cap_chown,"
                   "cap_fowner,cap_fsetid+p",
                   helper_});
  ASSERT_TRUE(r.ok()) << r.Describe();
  InitStoreFor(alice_);
  r = UserGrootfs(alice_, StoreOf(alice_), {"create", Alpine(), "fc"});
  ASSERT_TRUE(r.ok()) << r.Describe();
  const fs::path rootfs = ParseJson(r.out)["root"]["path"].get<std::string>();
  EXPECT_TRUE(IsOverlayMountedAt(rootfs));
  struct stat st{};
  ASSERT_EQ(lstat((rootfs / "etc/shadow").c_str(), &st), 0);
  EXPECT_GE(st.st_gid, alice_user_->subgid_start()) << "files land on the user's subordinate ids";
  r = UserGrootfs(alice_, StoreOf(alice_), {"delete", "fc"});
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_FALSE(IsOverlayMountedAt(rootfs));
}

TEST_F(RootlessTest, SettingsCannotMakeAUserRoot) {
  InitStoreFor(alice_);
  const std::string store = StoreOf(alice_);
  // Another binary as the helper runs with the user's own privileges, so it can mount nothing.
  auto r = UserGrootfs(alice_, store, {"--helper-bin", "/bin/cat", "create", Alpine(), "x"});
  EXPECT_NE(r.status, 0);
  // A root store cannot be used by a user whatever the settings say.
  ASSERT_TRUE(Grootfs(store_, "init-store").ok());
  RunCmd({"chmod", "755", store_});
  const fs::path config = tmp_ / "config.yml";
  WriteFile(config, "store: " + store_ + "\nnewuidmap_bin: /bin/true\nhelper_bin: " + helper_ +
                        "\n");
  RunCmd({"chmod", "644", config.string()});
  r = As(alice_, {(prefix_ / "bin/grootfs").string(), "--config", config.string(), "create",
                  Alpine(), "x"});
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(MountsUnder(store_).empty());
  // A log file the user may not write fails the command instead of being written as root.
  r = UserGrootfs(alice_, store, {"--log-file", "/etc/grootfs-test.log", "list"});
  EXPECT_NE(r.status, 0);
  EXPECT_FALSE(Exists("/etc/grootfs-test.log"));
}
