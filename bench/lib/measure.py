"""Timing, peak memory and idleness of the processes the bench runs.

Every command runs under bench/timed.cpp, a small program that forks, execs the command and
reaps it with wait4(), whose rusage covers the command and every descendant it reaped in turn (the
helper, gzip, tar, ...): ru_maxrss is then the peak resident set of the largest single process of
the tree. (Reaped straight from python, the child would report python's own RSS: a vfork'ed
child's peak before exec is the parent's.) Wall time is CLOCK_MONOTONIC around fork and reap.
Around each case the bench also reads /proc/stat: the CPU time the machine
spent on anything but this process and what it reaped is "others' CPU" (other users, and kernel
threads such as writeback), and a case during which others used more than a quarter of a core
on average is marked as not idle.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

HZ = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
OTHERS_BUSY = 0.25  # a case is "not idle" when others used more than this many cores on average


def log(*args):
    print("bench:", *args, file=sys.stderr, flush=True)


def cpu_jiffies():
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])
    return total - idle, total


def others_busy(seconds):
    """Cores busy on average over `seconds`, nothing of ours running."""
    b0, _ = cpu_jiffies()
    time.sleep(seconds)
    b1, _ = cpu_jiffies()
    return (b1 - b0) / HZ / seconds


def wait_idle(timeout, quiet=False):
    """Waits until the machine is idle (load average and /proc/stat); returns whether it was."""
    deadline = time.monotonic() + timeout
    while True:
        load1 = os.getloadavg()[0]
        busy = others_busy(1.0)
        if busy <= OTHERS_BUSY and load1 < 1.0:
            return True
        if time.monotonic() >= deadline:
            if not quiet:
                log(f"machine not idle after {timeout:.0f} s (load {load1:.2f}, "
                    f"{busy:.2f} cores busy); measuring anyway, rows marked")
            return False
        time.sleep(2)


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


class Run:
    """One measured run: wall seconds, peak RSS (KiB) of any process of the command."""

    def __init__(self, wall, rss_kib):
        self.wall, self.rss_kib = wall, rss_kib


TIMED = None  # bench/timed.cpp's binary, set by bench/run: it reports each command's costs


def run_group(argvs, env=None, check=True):
    """Starts every argv at once (each under `timed`) and reaps them all; returns a Run for the
    whole group: from the first start to the last end, the largest peak RSS."""
    env = env or os.environ
    outs = [tempfile.NamedTemporaryFile(prefix="bench-timed-") for _ in argvs]
    errs = [tempfile.TemporaryFile() for _ in argvs]
    procs = [subprocess.Popen([TIMED, o.name] + list(a), env=env, stdout=subprocess.DEVNULL,
                              stderr=e, stdin=subprocess.DEVNULL)
             for a, o, e in zip(argvs, outs, errs)]
    for p in procs:
        p.wait()
    starts, ends, rss, failed = [], [], 0, []
    for p, a, o, e in zip(procs, argvs, outs, errs):
        fields = o.read().split()
        if p.returncode != 0 or len(fields) != 5:
            e.seek(0)
            failed.append((a, p.returncode, e.read().decode(errors="replace")))
        if len(fields) == 5:
            starts.append(int(fields[0]))
            ends.append(int(fields[1]))
            rss = max(rss, int(fields[2]))
        o.close()
        e.close()
    if failed and check:
        a, rc, err = failed[0]
        raise RuntimeError(f"{' '.join(a)} exited {rc}: {err.strip()[-2000:]}")
    wall = (max(ends) - min(starts)) / 1e9 if starts else 0.0
    return Run(wall, rss)


def run_one(argv, env=None, check=True):
    return run_group([argv], env, check)


def run_seq(argvs, env=None):
    """Runs the argvs one after the other as one measured step (e.g. podman create + mount)."""
    runs = [run_one(a, env) for a in argvs]
    wall = sum(r.wall for r in runs)
    return Run(wall, max(r.rss_kib for r in runs))


def sh(cmd, **kw):
    """A shell command the bench needs (not measured); raises on failure."""
    r = subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd} exited {r.returncode}: {(r.stderr or r.stdout).strip()[-2000:]}")
    return r.stdout


class Result:
    """The runs of one case: median and range of wall time, peak RSS, and the cores other
    processes kept busy on average while the case ran (idle when at most OTHERS_BUSY)."""

    def __init__(self, runs, others=0.0):
        self.runs, self.others = runs, others

    @property
    def median(self):
        return statistics.median(r.wall for r in self.runs)

    @property
    def lo(self):
        return min(r.wall for r in self.runs)

    @property
    def hi(self):
        return max(r.wall for r in self.runs)

    @property
    def rss_kib(self):
        return max(r.rss_kib for r in self.runs)

    @property
    def idle(self):
        return self.others <= OTHERS_BUSY


OWN_PIDS = set()  # long-lived helpers of the bench (registries): their CPU counts as ours


def _pid_cpu(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / HZ  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0.0


def _our_cpu():
    t = os.times()
    return (t.user + t.system + t.children_user + t.children_system
            + sum(_pid_cpu(p) for p in list(OWN_PIDS)))


class OthersMeter:
    """Cores busy on average, from /proc/stat, minus this process and what it reaped, between
    start and stop: what other users (and the kernel's threads) did meanwhile."""

    def __init__(self):
        self.t0, self.c0, self.b0 = time.monotonic(), _our_cpu(), cpu_jiffies()[0]

    def stop(self):
        dt = max(time.monotonic() - self.t0, 1e-3)
        busy = (cpu_jiffies()[0] - self.b0) / HZ
        return max(0.0, (busy - (_our_cpu() - self.c0)) / dt)


def measure(n, step, prepare=None, cold=False, cleanup=None):
    """Runs prepare(i) (not timed), drops the page cache if cold, times step(i) -> Run,
    then cleanup(i) (not timed); n times."""
    runs, meter = [], OthersMeter()
    for i in range(n):
        if prepare:
            prepare(i)
        if cold:
            drop_caches()
        runs.append(step(i))
        if cleanup:
            cleanup(i)
    return Result(runs, meter.stop())
