// Metrics: dropsonde envelopes to a fake metron on 127.0.0.1 (decoded with the project's .proto
// files by python3-protobuf) after create, delete, clean and a failed command; the Prometheus
// textfile read by prometheus_client's own parser, accumulating across runs; an absent agent
// neither slows nor fails a command.
#include <chrono>

#include "tests/integration/registry_support.h"

namespace grootfs_it {
namespace {

// Debian's python3 (python3-protobuf, python3-prometheus-client), whatever PATH finds first.
constexpr const char* kPython = "/usr/bin/python3";

bool HavePythonModules() {
  return RunCmd({kPython, "-c", "import google.protobuf, prometheus_client"}).ok() &&
         HaveProgram("protoc");
}

class FakeMetron {
 public:
  explicit FakeMetron(const fs::path& dir) : out_(dir / "envelopes.jsonl") {
    const fs::path port_file = dir / "metron.port";
    pid_ = Spawn({kPython, SupportScript("fake_metron.py"), GROOTFS_SOURCE_DIR "/frontend/metrics",
                  port_file.string(), out_.string()},
                 (dir / "metron.log").string());
    for (int i = 0; i < 200 && !Exists(port_file); ++i) std::this_thread::sleep_for(50ms);
    if (Exists(port_file))
      port_ = std::stoi(ReadFile(port_file));
    else
      ADD_FAILURE() << "the fake metron did not start: " << ReadFile(dir / "metron.log");
  }
  ~FakeMetron() { StopPid(pid_); }

  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

  // Every envelope so far, once `n` more than `since` have come (or 5 s have passed).
  std::vector<Json> Envelopes(size_t at_least) const {
    std::vector<Json> all;
    for (int i = 0; i < 100; ++i) {
      all.clear();
      if (Exists(out_))
        for (const auto& line : Lines(ReadFile(out_))) all.push_back(ParseJson(line));
      if (all.size() >= at_least) break;
      std::this_thread::sleep_for(50ms);
    }
    std::this_thread::sleep_for(100ms);  // stragglers of the same run
    all.clear();
    for (const auto& line : Lines(ReadFile(out_))) all.push_back(ParseJson(line));
    return all;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  fs::path out_;
};

std::vector<Json> Values(const std::vector<Json>& envs, const std::string& name) {
  std::vector<Json> out;
  for (const auto& e : envs)
    if (e.value("eventType", "") == "ValueMetric" && e["valueMetric"]["name"] == name)
      out.push_back(e);
  return out;
}

int Counters(const std::vector<Json>& envs, const std::string& name) {
  int n = 0;
  for (const auto& e : envs)
    if (e.value("eventType", "") == "CounterEvent" && e["counterEvent"]["name"] == name) {
      EXPECT_EQ(e["counterEvent"]["delta"], "1");  // uint64 is a string in proto3 JSON
      ++n;
    }
  return n;
}

class MetricsTest : public GrootfsTest {
 protected:
  void SetUp() override {
    GrootfsTest::SetUp();
    if (IsSkipped()) return;
    if (!HavePythonModules())
      GTEST_SKIP() << "python3-protobuf, python3-prometheus-client or protoc missing";
    InitStore();
  }

  void UseConfig(const std::string& endpoint) {
    config_ = (tmp_.path() / "config.yml").string();
    prom_ = tmp_.path() / "textfile" / "grootfs.prom";
    fs::create_directories(prom_.parent_path());
    WriteFile(config_, "metron_endpoint: " + endpoint +
                           "\nmetrics:\n  prometheus_textfile: " + prom_.string() + "\n");
  }

  RunResult Run(const std::vector<std::string>& args) {
    std::vector<std::string> argv{GrootfsBin(), "--store", store_, "--config", config_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCmd(argv, 120s);
  }

  Json Prometheus() {
    auto r = RunCmd({kPython, SupportScript("check_prometheus.py"), prom_.string()});
    EXPECT_TRUE(r.ok()) << r.Describe() << ReadFile(prom_);
    return r.ok() ? ParseJson(r.out) : Json();
  }

  // The value of the sample NAME whose labels include `labels`; -1 when there is none.
  static double Sample(const Json& prom, const std::string& name, const Json& labels = {}) {
    for (const auto& s : prom["samples"]) {
      if (s[0] != name) continue;
      bool match = true;
      for (const auto& [k, v] : labels.items()) match = match && s[1].value(k, "") == v;
      if (match) return s[2].get<double>();
    }
    return -1;
  }

  std::string config_;
  fs::path prom_;
};

void ExpectNanos(const std::vector<Json>& values, size_t count, const std::string& what) {
  EXPECT_EQ(values.size(), count) << what;
  for (const auto& v : values) {
    EXPECT_EQ(v["origin"], "grootfs") << what;
    EXPECT_EQ(v["valueMetric"]["unit"], "nanos") << what;
    EXPECT_GT(v["valueMetric"]["value"].get<double>(), 0) << what;
    EXPECT_LT(v["valueMetric"]["value"].get<double>(), 300e9) << what;  // nanos, not seconds
  }
}

TEST_F(MetricsTest, CreateDeleteCleanAndAFailureSendEnvelopesAndFillTheTextfile) {
  FakeMetron metron(tmp_.path());
  UseConfig(metron.endpoint());

  auto created = Run({"create", OciFixture("busybox-1.25"), "one"});
  ASSERT_TRUE(created.ok()) << created.Describe();
  auto envs = metron.Envelopes(8);
  ExpectNanos(Values(envs, "ImageCreationTime"), 1, "ImageCreationTime");
  ExpectNanos(Values(envs, "DownloadTime"), 1, "DownloadTime (one layer)");
  ExpectNanos(Values(envs, "UnpackTime"), 1, "UnpackTime (one layer)");
  ExpectNanos(Values(envs, "SharedLockingTime"), 1, "SharedLockingTime");
  const auto usage = Values(envs, "StoreUsage");
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0]["valueMetric"]["unit"], "bytes");
  EXPECT_GT(usage[0]["valueMetric"]["value"].get<double>(), 1e5);  // busybox's layer
  const auto unused = Values(envs, "UnusedLayersSize");
  ASSERT_EQ(unused.size(), 1u);
  EXPECT_EQ(unused[0]["valueMetric"]["value"].get<double>(), 0);  // its one layer is used
  EXPECT_EQ(Counters(envs, "grootfs-create.run"), 1);
  EXPECT_EQ(Counters(envs, "grootfs-create.run.success"), 1);
  EXPECT_EQ(Counters(envs, "grootfs-create.run.fail"), 0);

  size_t seen = envs.size();
  auto deleted = Run({"delete", "one"});
  ASSERT_TRUE(deleted.ok()) << deleted.Describe();
  envs = metron.Envelopes(seen + 3);
  ExpectNanos(Values(envs, "ImageDeletionTime"), 1, "ImageDeletionTime");
  EXPECT_EQ(Counters(envs, "grootfs-delete.run.success"), 1);

  seen = envs.size();
  auto cleaned = Run({"clean"});
  ASSERT_TRUE(cleaned.ok()) << cleaned.Describe();
  envs = metron.Envelopes(seen + 6);
  ExpectNanos(Values(envs, "ImageCleanTime"), 1, "ImageCleanTime");
  ExpectNanos(Values(envs, "ExclusiveLockingTime"), 1, "ExclusiveLockingTime");
  ASSERT_EQ(Values(envs, "UnusedLayersSize").size(), 2u);
  EXPECT_EQ(Values(envs, "UnusedLayersSize")[1]["valueMetric"]["value"].get<double>(), 0);
  EXPECT_EQ(Counters(envs, "grootfs-clean.run.success"), 1);

  seen = envs.size();
  auto failed = Run({"create", "/no/such/image.tar", "two"});
  ASSERT_NE(failed.status, 0);
  envs = metron.Envelopes(seen + 3);
  EXPECT_EQ(Counters(envs, "grootfs-create.run"), 2);
  EXPECT_EQ(Counters(envs, "grootfs-create.run.fail"), 1);
  int errors = 0;
  for (const auto& e : envs) {
    if (e.value("eventType", "") != "Error") continue;
    ++errors;
    EXPECT_EQ(e["origin"], "grootfs-error.create");
    EXPECT_EQ(e["error"]["source"], "grootfs-error.create");
    EXPECT_EQ(e["error"]["message"], Trim(failed.out));
  }
  EXPECT_EQ(errors, 1);
  for (const auto& e : envs) EXPECT_FALSE(e.contains("undecodable")) << e.dump();

  // The same figures in the textfile, counted over the four runs.
  const Json prom = Prometheus();
  EXPECT_EQ(prom["families"]["grootfs_runs"], "counter");
  EXPECT_EQ(prom["families"]["grootfs_image_creation_time_seconds"], "summary");
  EXPECT_EQ(prom["families"]["grootfs_store_usage_bytes"], "gauge");
  EXPECT_EQ(Sample(prom, "grootfs_runs_total", {{"command", "create"}, {"store", store_}}), 2);
  EXPECT_EQ(Sample(prom, "grootfs_run_successes_total", {{"command", "create"}}), 1);
  EXPECT_EQ(Sample(prom, "grootfs_run_failures_total", {{"command", "create"}}), 1);
  EXPECT_EQ(Sample(prom, "grootfs_run_successes_total", {{"command", "clean"}}), 1);
  EXPECT_EQ(Sample(prom, "grootfs_image_creation_time_seconds_count"), 1);
  const double seconds = Sample(prom, "grootfs_image_creation_time_seconds_sum");
  EXPECT_NEAR(seconds,
              Values(envs, "ImageCreationTime")[0]["valueMetric"]["value"].get<double>() / 1e9,
              1e-6);
  EXPECT_EQ(Sample(prom, "grootfs_download_time_seconds_count"), 1);
  EXPECT_EQ(Sample(prom, "grootfs_store_usage_bytes"), 0);  // the last figure: clean's, empty
  // Nothing but the file (and its lock) in the collector's directory: the temp file is gone.
  EXPECT_EQ(DirEntries(prom_.parent_path()),
            (std::set<std::string>{"grootfs.prom", "grootfs.prom.lock"}));

  // Counters go on from there.
  ASSERT_TRUE(Run({"list"}).ok());
  ASSERT_TRUE(Run({"create", OciFixture("busybox-1.25"), "three"}).ok());
  const Json again = Prometheus();
  EXPECT_EQ(Sample(again, "grootfs_runs_total", {{"command", "create"}}), 3);
  EXPECT_EQ(Sample(again, "grootfs_runs_total", {{"command", "list"}}), 1);
  EXPECT_EQ(Sample(again, "grootfs_image_creation_time_seconds_count"), 2);
  EXPECT_GT(Sample(again, "grootfs_store_usage_bytes"), 1e5);
}

TEST_F(MetricsTest, AnAbsentAgentNeitherSlowsNorFailsACommand) {
  UseConfig("127.0.0.1:" + std::to_string(FreePort()));  // nothing listens there
  const auto start = std::chrono::steady_clock::now();
  auto created = Run({"create", OciFixture("busybox-1.25"), "one"});
  ASSERT_TRUE(created.ok()) << created.Describe();
  EXPECT_EQ(created.err, "");
  for (int i = 0; i < 5; ++i) {
    auto listed = Run({"list"});
    ASSERT_TRUE(listed.ok()) << listed.Describe();
  }
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 30s);
  auto deleted = Run({"delete", "one"});
  EXPECT_TRUE(deleted.ok()) << deleted.Describe();
  EXPECT_EQ(Sample(Prometheus(), "grootfs_runs_total", {{"command", "list"}}), 5);
}

TEST_F(MetricsTest, AnEndpointThatIsNotHostPortIsLoggedNotFatal) {
  UseConfig("not-an-endpoint");
  auto listed = Run({"list"});
  EXPECT_TRUE(listed.ok()) << listed.Describe();
  EXPECT_EQ(listed.err, "");
}

}  // namespace
}  // namespace grootfs_it
