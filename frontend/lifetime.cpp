// SIGINT, SIGTERM and SIGHUP: one thread waits for them and stops the command (lifetime.h).
#include "frontend/lifetime.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <set>
#include <thread>

#include "frontend/helper_client.h"
#include "frontend/log.h"
#include "frontend/store/store.h"
#include "frontend/util/error.h"

namespace grootfs::frontend::lifetime {
namespace {

using Clock = std::chrono::steady_clock;

sigset_t g_original;  // the mask main started with, for children
std::atomic<bool> g_interrupted{false};
std::atomic<bool> g_decided{false};

// Guarded by CommitMutex(). Never destroyed: the stop thread may still use it while main
// returns and exit() runs the destructors of statics.
struct State {
  std::map<pid_t, int> helpers;  // pid -> its channel
  std::set<std::string> work;
  std::string helper_bin, store;
  std::thread::id cleaner;  // the thread whose helper is not hung up
};
State& S() {
  static State* state = new State();
  return *state;
}

void StopSet(sigset_t* set) {
  sigemptyset(set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(set, sig);
}

// Hangs up every helper session and waits up to 2 s for the helpers to exit (without reaping
// them: their HelperClient does), then kills what is left.
void StopHelpers() {
  std::map<pid_t, int> helpers;
  {
    std::lock_guard<std::mutex> lock(CommitMutex());
    helpers = S().helpers;
    for (const auto& [pid, channel] : helpers) (void)shutdown(channel, SHUT_RDWR);
  }
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  for (const auto& [pid, channel] : helpers) {
    for (;;) {
      siginfo_t info{};
      if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
          info.si_pid == pid)
        break;  // exited (or already reaped)
      if (Clock::now() > deadline) {
        // Still registered means not reaped yet (its client unregisters first): the pid is its.
        std::lock_guard<std::mutex> lock(CommitMutex());
        if (S().helpers.count(pid) != 0) (void)kill(pid, SIGKILL);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
}

// Removes this process's own work directories through a fresh helper.
void RemoveOwnWork() {
  std::set<std::string> names;
  std::string helper_bin, store;
  {
    std::lock_guard<std::mutex> lock(CommitMutex());
    names = S().work;
    helper_bin = S().helper_bin;
    store = S().store;
    S().cleaner = std::this_thread::get_id();
  }
  if (names.empty() || store.empty()) return;
  const store::Paths p{store};
  auto helper = HelperClient::Start(helper_bin, store);
  for (const std::string& name : names) {
    try {
      store::RemoveLeftover(p, *helper, name);
    } catch (const std::exception& e) {
      Logger::Get().Error("leftover-not-removed",
                          {{"path", p.tmp() + "/" + name}, {"error", e.what()}});
    }
  }
}

// Runs `work` in a thread of its own for at most `limit`; past it, the thread is abandoned.
void WithDeadline(void (*work)(), std::chrono::seconds limit) {
  auto state = std::make_shared<std::pair<std::mutex, std::condition_variable>>();
  auto done = std::make_shared<bool>(false);
  std::thread([=] {
    try {
      work();
    } catch (const std::exception& e) {
      Logger::Get().Error("cleanup-failed", {{"error", e.what()}});
    }
    std::lock_guard<std::mutex> lock(state->first);
    *done = true;
    state->second.notify_all();
  }).detach();
  std::unique_lock<std::mutex> lock(state->first);
  (void)state->second.wait_for(lock, limit, [&] { return *done; });
}

void Stop(int sig) {
  {
    std::lock_guard<std::mutex> lock(CommitMutex());  // no commit is half-way from here on
    if (g_decided) {
      Logger::Get().Info("signal-ignored", {{"signal", sig}, {"reason", "the command is done"}});
      return;
    }
    g_interrupted = true;
  }
  Logger::Get().Error("interrupted", {{"signal", sig}});
  StopHelpers();
  WithDeadline(&RemoveOwnWork, std::chrono::seconds(5));
  const std::string line =
      std::string("grootfs stopped by SIG") + sigabbrev_np(sig) + " before it finished\n";
  (void)!write(STDOUT_FILENO, line.data(), line.size());
  _exit(1);
}

// Stops on the first signal in this thread itself: the signals that come while it stops stay
// pending (blocked, not waited for) and _exit discards them, so however many arrive the first
// alone decides: one stop, one cleanup, one line. When the command was done first, each signal
// is logged and ignored.
void WaitForSignals() {
  sigset_t set;
  StopSet(&set);
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) == 0) Stop(sig);
  }
}

}  // namespace

std::mutex& CommitMutex() {
  static std::mutex* mutex = new std::mutex();  // never destroyed: used until _exit
  return *mutex;
}

void Install() {
  sigset_t set;
  StopSet(&set);
  (void)pthread_sigmask(SIG_BLOCK, &set, &g_original);
  std::thread(WaitForSignals).detach();
}

void SetStore(const std::string& helper_bin, const std::string& store) {
  std::lock_guard<std::mutex> lock(CommitMutex());
  S().helper_bin = helper_bin;
  S().store = store;
}

void RestoreSignalMask() { (void)sigprocmask(SIG_SETMASK, &g_original, nullptr); }

bool Interrupted() { return g_interrupted; }

bool Finish() {
  std::lock_guard<std::mutex> lock(CommitMutex());
  if (!g_interrupted) g_decided = true;
  return g_interrupted;
}

void AddHelper(pid_t pid, int channel) {
  std::lock_guard<std::mutex> lock(CommitMutex());
  S().helpers[pid] = channel;
  // A session started while stopping (by a thread that did not see it yet) ends at once.
  if (g_interrupted && std::this_thread::get_id() != S().cleaner)
    (void)shutdown(channel, SHUT_RDWR);
}

void RemoveHelper(pid_t pid) {
  std::lock_guard<std::mutex> lock(CommitMutex());
  S().helpers.erase(pid);
}

void AddWork(const std::string& name) {
  std::lock_guard<std::mutex> lock(CommitMutex());
  if (g_interrupted) throw Error("stopped by a signal");
  S().work.insert(name);
}

void RemoveWork(const std::string& name) {
  std::lock_guard<std::mutex> lock(CommitMutex());
  S().work.erase(name);
}

CommitGuard::CommitGuard() : lock_(CommitMutex()) {
  if (g_interrupted) throw Error("stopped by a signal");
}

void CommitGuard::Decide() { g_decided = true; }

}  // namespace grootfs::frontend::lifetime
