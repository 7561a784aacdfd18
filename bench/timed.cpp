// Runs one command and reports what it cost, for bench/run:
//
//   timed OUT ARGV...
//
// forks (a real fork of this small process, so the child's peak RSS before exec is this
// process's, not the caller's), execs ARGV, reaps it with wait4() and writes one line to the
// file OUT: "START_NS END_NS MAXRSS_KIB USER_S SYS_S". The times are CLOCK_MONOTONIC around fork
// and reap; MAXRSS is the peak resident set of the largest process of the tree the command
// reaped; USER/SYS its CPU time with its reaped descendants. Exits with the command's status.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

namespace {

long long NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double Seconds(const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: timed OUT ARGV...\n");
    return 127;
  }
  const long long start = NowNs();
  const pid_t pid = fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    execvp(argv[2], argv + 2);
    std::perror(argv[2]);
    _exit(127);
  }
  int status = 0;
  rusage ru{};
  if (wait4(pid, &status, 0, &ru) != pid) return 127;
  const long long end = NowNs();
  FILE* out = std::fopen(argv[1], "w");
  if (out == nullptr) return 127;
  std::fprintf(out, "%lld %lld %ld %.6f %.6f\n", start, end, ru.ru_maxrss, Seconds(ru.ru_utime),
               Seconds(ru.ru_stime));
  std::fclose(out);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}
