"""The measured cases: for each image, cold creates (registry, layout), warm creates, delete and
10 at once for grootfs, podman, skopeo+umoci and the floors; then clean and stats of grootfs on a
btrfs store with quotas. Each case appends rows (case, image, tool, Result) to ctx.rows."""

import json
import os

import images
import tools
from measure import log, measure, run_group, run_one, run_seq, sh, wait_idle


class Ctx:
    def __init__(self, args, work, grootfs, floor_bin, registry):
        self.runs, self.cold_runs = args.runs, args.cold_runs
        self.case_idle_timeout = args.case_idle_timeout
        self.work, self.g, self.floor, self.registry = work, grootfs, floor_bin, registry
        self.rows = []  # (case, image, tool, Result, note)
        self.requests = {}  # (image, case) -> registry requests per create

    def add(self, case, image, tool, result, note=""):
        ms = result.median * 1000
        log(f"{case:<22} {image:<10} {tool:<16} {ms:9.1f} ms  {result.rss_kib / 1024:6.1f} MiB"
            + ("" if result.idle else "  (not idle)"))
        self.rows.append((case, image, tool, result, note))

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    def settle(self):
        # Written back first: a create that unpacked (the warm cases' first, a cold case) leaves
        # dirty pages whose writeback would otherwise share the next case's minutes.
        os.sync()
        wait_idle(self.case_idle_timeout, quiet=True)


def _podman_oci(ctx, image):
    """The layout as podman can pull it: by a path without dots (bench/run links it)."""
    return f"oci:{ctx.path('oci', image)}:latest"


def _cold(ctx, image, case, tool, step, prepare, cleanup):
    ctx.settle()
    ctx.add(case, image, tool,
            measure(ctx.cold_runs, lambda i: step(), lambda i: prepare(), True, lambda i: cleanup()))


def cold_cases(ctx, image, layout, refs):
    """Cold create from the registry and from the layout, page cache dropped before each run."""
    g, store = ctx.g, ctx.path(f"g-{image}-cold")
    pod = tools.Podman(ctx.path(f"podman-{image}-cold"))
    pid = tools.image_id(layout)
    out, bundle = ctx.path(f"skopeo-{image}"), ctx.path(f"umoci-{image}")
    dest = ctx.path(f"tar-{image}")
    blobs = images.layer_blobs(layout)

    def fresh_dirs():
        for d in (out, bundle, dest):
            tools.remove_tree(d)
        os.makedirs(dest)

    for case, ref, pref in (("cold create, registry", refs["tag"], refs["tag"]),
                            ("cold create, layout", refs["oci"], _podman_oci(ctx, image))):
        _cold(ctx, image, case, "grootfs", lambda: run_one(g.create(store, ref, "c")),
              lambda: g.init(store), lambda: g.remove(store))
        _cold(ctx, image, case, "podman",
              lambda: run_seq([pod.pull(pref)] + pod.create_mount(pid, "c")),
              pod.reset, pod.remove)
        if case.endswith("registry"):
            steps = lambda: run_seq([tools.skopeo_copy(ref, out), tools.umoci_unpack(out, bundle)])
        else:
            steps = lambda: run_one(tools.umoci_unpack(layout, bundle))
        _cold(ctx, image, case, "skopeo+umoci" if case.endswith("registry") else "umoci",
              steps, fresh_dirs, fresh_dirs)
    case = "cold create, layout"
    _cold(ctx, image, case, "tar -xzf", lambda: run_one(tools.tar_floor(blobs, dest, False)),
          fresh_dirs, fresh_dirs)
    _cold(ctx, image, case, "igzip | tar", lambda: run_one(tools.tar_floor(blobs, dest, True)),
          fresh_dirs, fresh_dirs)
    fresh_dirs()
    os.rmdir(dest)


def _counted(ctx, image, case, n, step):
    """Runs `step` n times (timed), counting the registry's requests per run."""
    ctx.settle()
    since = ctx.registry.log_offset()
    result = measure(n, step)
    ctx.requests[(image, case)] = ctx.registry.served(since)[0] / n
    return result


def warm_cases(ctx, image, layout, refs):
    """Warm create (tag, digest, layout), delete and 10 at once, against podman and the floor."""
    g, store, n = ctx.g, ctx.path(f"g-{image}"), ctx.runs
    g.init(store)
    sh(g.create(store, refs["tag"], "first"))
    for kind, case in (("tag", "warm create, tag"), ("digest", "warm create, digest"),
                       ("oci", "warm create, layout")):
        ref = refs[kind]
        res = _counted(ctx, image, case, n, lambda i: run_one(g.create(store, ref, f"{kind}{i}")))
        ctx.add(case, image, "grootfs", res)
    ctx.settle()
    ctx.add("delete", image, "grootfs", measure(n, lambda i: run_one(g.delete(store, f"tag{i}"))))
    ctx.settle()
    ten = lambda i: run_group([g.create(store, refs["tag"], f"p{i}-{k}") for k in range(10)])
    ctx.add("10 creates at once", image, "grootfs",
            measure(n, ten, cleanup=lambda i: [sh(g.delete(store, f"p{i}-{k}")) for k in range(10)]))
    g.remove(store)

    pod = tools.Podman(ctx.path(f"podman-{image}"))
    pod.reset()
    sh(pod.pull(_podman_oci(ctx, image)))
    pid = tools.image_id(layout)
    ctx.settle()
    ctx.add("warm create, tag", image, "podman",
            measure(n, lambda i: run_seq(pod.create_mount(pid, f"t{i}"))))
    ctx.settle()
    ctx.add("delete", image, "podman", measure(n, lambda i: run_one(pod.rm(f"t{i}"))))
    pod.remove()

    fdir, lowers = ctx.path(f"floor-{image}"), images.lowers(layout)
    os.makedirs(fdir)
    create = lambda name: [ctx.floor, "create", os.path.join(fdir, name), lowers]
    ctx.settle()
    ctx.add("warm create, tag", image, "floor", measure(n, lambda i: run_one(create(f"t{i}"))))
    ctx.settle()
    ctx.add("delete", image, "floor",
            measure(n, lambda i: run_one([ctx.floor, "delete", os.path.join(fdir, f"t{i}")])))
    ctx.settle()
    ctx.add("10 creates at once", image, "floor",
            measure(n, lambda i: run_group([create(f"p{i}-{k}") for k in range(10)])))
    # The same with the mount in a second, static process: what the frontend/helper split
    # costs at least (a reference, no target).
    for kind, case in (("create2", "warm create, tag"), ("delete2", "delete")):
        args = (lambda i: [fdir + f"/s{i}", lowers]) if kind == "create2" else \
            (lambda i: [fdir + f"/s{i}"])
        ctx.settle()
        ctx.add(case, image, "floor, 2 processes",
                measure(n, lambda i: run_one([ctx.floor, kind] + args(i))))
    tools.remove_tree(fdir)


class BtrfsStore:
    """A btrfs filesystem with quotas on a loop device, with a grootfs store in it."""

    def __init__(self, ctx):
        self.img, self.mnt = ctx.path("btrfs.img"), ctx.path("btrfs")
        os.makedirs(self.mnt)
        with open(self.img, "wb") as f:
            f.truncate(2 << 30)
        sh(["mkfs.btrfs", "-q", self.img])
        sh(["mount", "-o", "loop", self.img, self.mnt])
        sh(["btrfs", "quota", "enable", self.mnt])
        self.store = os.path.join(self.mnt, "store")

    def close(self, g):
        g.remove(self.store)
        sh(["umount", self.mnt])
        os.remove(self.img)


def store_cases(ctx, layouts, files):
    """`clean` of 50 unused layers and `stats` of an image with `files` written files."""
    g, n = ctx.g, ctx.runs
    bs = BtrfsStore(ctx)
    try:
        g.init(bs.store)
        l50 = f"oci://{layouts['layers50']}"

        def unused_layers(i):
            sh(g.create(bs.store, l50, "l50"))
            sh(g.delete(bs.store, "l50"))

        ctx.settle()
        ctx.add("clean, 50 unused layers", "layers50", "grootfs",
                measure(n, lambda i: run_one(g.g(bs.store, "clean")), prepare=unused_layers))
        out = sh(g.create(bs.store, f"oci://{layouts['alpine']}", "stats"))
        data = os.path.join(json.loads(out)["root"]["path"], "data")
        os.makedirs(data)
        for i in range(files):
            with open(os.path.join(data, f"f{i}"), "wb") as f:
                f.write(b"0123456789" * 10)
        stats = g.g(bs.store, "stats", "stats")
        ctx.add(f"stats, {files} files, first", "alpine", "grootfs",
                measure(1, lambda i: run_one(stats)))
        ctx.settle()
        ctx.add(f"stats, {files} files", "alpine", "grootfs", measure(n, lambda i: run_one(stats)))
        ctx.stats_output = sh(stats).strip()
    finally:
        bs.close(g)
