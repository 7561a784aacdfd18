#!/usr/bin/env python3
"""Tests of the bench's own logic (ctest bench_logic, label unit): the timed wrapper's wall time
and peak RSS, the registry access-log count, the targets' verdicts and marks, the Markdown
escaping, and the generated image's determinism, whiteouts and hardlinks. Needs python3, g++,
tar and gzip; no root, no network. Usage: bench/test_bench.py [-v]"""

import os
import subprocess
import sys
import tempfile
import unittest

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(BENCH, "lib"))

import images  # noqa: E402
import measure  # noqa: E402
import report  # noqa: E402
from measure import Result, Run  # noqa: E402
from registry import Registry  # noqa: E402


class TimedTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        measure.TIMED = os.path.join(cls.tmp.name, "timed")
        subprocess.run(["g++", "-std=c++20", "-O2", "-o", measure.TIMED,
                        os.path.join(BENCH, "timed.cpp")], check=True)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_small_command_reports_its_own_rss_not_pythons(self):
        ballast = bytearray(64 << 20)  # makes this process's RSS large
        ballast[::4096] = b"x" * len(ballast[::4096])
        run = measure.run_one(["true"])
        self.assertLess(run.rss_kib, 16 * 1024)
        self.assertGreater(run.wall, 0)

    def test_peak_rss_covers_descendants(self):
        run = measure.run_one(["sh", "-c", "python3 -c 'b = bytearray(48 << 20)'; true"])
        self.assertGreater(run.rss_kib, 48 * 1024)

    def test_group_wall_spans_the_slowest(self):
        run = measure.run_group([["sleep", "0.3"], ["true"]])
        self.assertGreaterEqual(run.wall, 0.3)

    def test_failure_raises_with_stderr(self):
        with self.assertRaisesRegex(RuntimeError, "boom"):
            measure.run_one(["sh", "-c", "echo boom >&2; exit 3"])


class AccessLogTest(unittest.TestCase):
    def test_counts_blob_bytes_and_filters_by_agent(self):
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            for path, n, agent in (("/v2/", 2, "grootfs"), ("/v2/r/manifests/latest", 348, "grootfs"),
                                   ("/v2/r/blobs/sha256:aa", 1000, "grootfs"),
                                   ("/v2/r/blobs/sha256:aa", 1000, "Go-http-client/1.1")):
                f.write(f'127.0.0.1 - - [06/Dec/2026:11:08:52 +0000] "GET {path} HTTP/1.1" 200 '
                        f'{n} "" "{agent}"\nlevel=info msg="not an access line"\n')
        reg = Registry.__new__(Registry)
        reg.log_path = f.name
        try:
            self.assertEqual(reg.served(0), (3, 2348, 2000))
            self.assertEqual(reg.served(0, agent="grootfs"), (2, 1348, 1000))
        finally:
            os.unlink(f.name)


def _res(ms, rss_mib=10, others=0.0):
    return Result([Run(ms / 1000, rss_mib * 1024)], others)


class TargetsTest(unittest.TestCase):
    def verdicts(self, rows, requests=None):
        out = report.targets(rows, requests or {}, ["img"])
        return {what: (value, verdict) for what, _, value, _, verdict in out}

    def test_ratios_against_floor_and_podman(self):
        rows = [("warm create, tag", "img", "grootfs", _res(3), ""),
                ("warm create, tag", "img", "floor", _res(2), ""),
                ("warm create, tag", "img", "podman", _res(70), ""),
                ("delete", "img", "grootfs", _res(4), ""),
                ("delete", "img", "floor", _res(2), "")]
        v = self.verdicts(rows)
        self.assertEqual(v["warm create (tag) / floor create"], ("1.50×", "PASS"))
        self.assertEqual(v["podman create+mount / warm create (tag)"], ("23.33×", "PASS"))
        self.assertEqual(v["delete / floor delete"], ("2.00×", "MISS"))
        self.assertNotIn("podman rm / delete", v)  # no podman row: no ratio

    def test_the_two_process_floor_is_a_reference_without_a_verdict(self):
        rows = [("warm create, tag", "img", "floor", _res(2), ""),
                ("warm create, tag", "img", "floor, 2 processes", _res(3), ""),
                ("delete", "img", "floor", _res(2), ""),
                ("delete", "img", "floor, 2 processes", _res(3), "")]
        v = self.verdicts(rows)
        self.assertEqual(v["two-process floor create / floor create"], ("1.50×", "ref"))
        self.assertEqual(v["two-process floor delete / floor delete"], ("1.50×", "ref"))
        self.assertNotIn("podman rm / floor delete", v)  # no podman row: no reference

    def test_podman_against_the_floor_is_a_reference(self):
        rows = [("delete", "img", "floor", _res(4), ""), ("delete", "img", "podman", _res(48), "")]
        self.assertEqual(self.verdicts(rows)["podman rm / floor delete"], ("12.00×", "ref"))

    def test_not_idle_marks_the_ratio(self):
        rows = [("warm create, tag", "img", "grootfs", _res(3, others=1.0), ""),
                ("warm create, tag", "img", "floor", _res(2), "")]
        self.assertEqual(self.verdicts(rows)["warm create (tag) / floor create"][0], "1.50× †")

    def test_rss_stats_clean_and_requests(self):
        rows = [("stats, 10000 files", "alpine", "grootfs", _res(60, rss_mib=40), ""),
                ("stats, 10000 files, first", "alpine", "grootfs", _res(900), ""),
                ("clean, 50 unused layers", "layers50", "grootfs", _res(20), ""),
                ("warm create, tag", "img", "podman", _res(70, rss_mib=100), "")]
        v = self.verdicts(rows, {("img", "warm create, tag"): 1, ("img", "warm create, digest"): 2})
        self.assertEqual(v["peak RSS of any grootfs process, any case"], ("40.0 MiB", "MISS"))
        self.assertEqual(v["stats, 10000 files (btrfs, quotas)"][1], "MISS")
        self.assertEqual(v["clean, 50 unused layers (btrfs, quotas)"][1], "PASS")
        self.assertNotIn("stats, 10000 files, first (btrfs, quotas)", v)
        self.assertEqual(v["registry requests per warm create, tag"], ("1", "PASS"))
        self.assertEqual(v["registry requests per warm create, digest"], ("2", "MISS"))

    def test_pipe_in_a_cell_is_escaped(self):
        self.assertEqual(report._cells("igzip | tar", 1), "| igzip \\| tar | 1 |")


class GeneratedImageTest(unittest.TestCase):
    def test_deterministic_with_whiteouts_and_hardlinks(self):
        with tempfile.TemporaryDirectory() as tmp:
            a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
            images.build_gen(a, 1000)
            images.build_gen(b, 1000)
            with open(os.path.join(a, "index.json")) as fa, open(os.path.join(b, "index.json")) as fb:
                self.assertEqual(fa.read(), fb.read())
            blobs = images.layer_blobs(a)
            self.assertEqual(len(blobs), 5)
            listing = subprocess.run(["tar", "-tvzf", blobs[4]], capture_output=True, text=True,
                                     check=True).stdout
            self.assertIn("/.wh.f", listing)
            self.assertIn(".wh..wh..opq", listing)
            self.assertIn(" link to ", listing)
            self.assertEqual(len(os.listdir(os.path.join(a, "lower"))), 5)
            self.assertEqual(images.lowers(a).split(":")[0], os.path.join(a, "lower", "4"))


if __name__ == "__main__":
    unittest.main()
