"""Debian's docker-registry on a free port of 127.0.0.1: a plain one the images are pushed to,
or a pull-through mirror (proxy mode) of another one. Its access log (Apache combined format,
on its stderr) tells what it served: requests and bytes."""

import os
import re
import socket
import subprocess
import time

import measure
from measure import sh

REGISTRY_BIN = "/usr/bin/docker-registry"
ACCESS = re.compile(rb'"(GET|HEAD) (\S+) HTTP/[\d.]+" (\d{3}) (\d+) "[^"]*" "([^"]*)"')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, workdir, name, proxy_remote=None):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.log_path = os.path.join(self.dir, "registry.log")
        yaml = ("version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\n"
                f"storage:\n  filesystem:\n    rootdirectory: {self.dir}/data\n"
                "  delete:\n    enabled: true\n"
                f"http:\n  addr: {self.host}\n")
        if proxy_remote:
            yaml += f"proxy:\n  remoteurl: {proxy_remote}\n"
        with open(os.path.join(self.dir, "config.yml"), "w") as f:
            f.write(yaml)
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", os.path.join(self.dir, "config.yml")],
                                     stdout=self.logf, stderr=self.logf, stdin=subprocess.DEVNULL)
        measure.OWN_PIDS.add(self.proc.pid)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not start: {open(self.log_path).read()[-2000:]}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc:
            measure.OWN_PIDS.discard(self.proc.pid)
        self.proc = None
        self.logf.close()

    def log_offset(self):
        self.logf.flush()
        return os.path.getsize(self.log_path)

    def served(self, since=0, agent=None):
        """(requests, bytes of bodies, blob bytes) in the access log after offset `since`, of
        the requests whose User-Agent starts with `agent` if given."""
        time.sleep(0.2)  # the access log is written after the response
        with open(self.log_path, "rb") as f:
            f.seek(since)
            text = f.read()
        reqs = body = blobs = 0
        for m in ACCESS.finditer(text):
            if m.group(2) == b"/v2/" or (agent and not m.group(5).startswith(agent.encode())):
                continue  # the version check every client makes first
            reqs += 1
            n = int(m.group(4))
            body += n
            if b"/blobs/" in m.group(2) and m.group(1) == b"GET":
                blobs += n
        return reqs, body, blobs

    def push(self, layout, repo):
        """Copies the layout's "latest" to REPO:latest; returns the manifest digest."""
        ref = f"docker://{self.host}/{repo}:latest"
        sh(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--preserve-digests",
            f"oci:{layout}:latest", ref])
        return sh(["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}",
                   ref]).strip()
