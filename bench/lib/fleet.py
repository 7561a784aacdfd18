"""A fleet on one machine: N grootfs stores, each creating the same images at the same moment,
cold, through one pull-through mirror (docker-registry in proxy mode, fresh for each N) in front
of the origin registry. Reports the wall time of the N concurrent creates and the blob bytes the
origin served (its access log), against one copy of each blob."""

import json
import os

import images
from measure import OthersMeter, OTHERS_BUSY, drop_caches, log, run_group, wait_idle
from registry import Registry


def _once(layouts):
    """Bytes of one copy of every blob the images need (layers and configs)."""
    total = 0
    for layout in layouts:
        total += sum(os.path.getsize(b) for b in images.layer_blobs(layout))
        with open(os.path.join(layout, "index.json")) as f:
            m = json.load(f)["manifests"][0]["digest"][7:]
        with open(os.path.join(layout, "blobs/sha256", m)) as f:
            total += json.load(f)["config"]["size"]
    return total


def fleet(ctx, origin, names, layouts, sizes, idle_timeout):
    """One row per N in `sizes`: {n, images, wall, idle, origin, once, rss_kib}."""
    g, rows = ctx.g, []
    once = _once([layouts[n] for n in names])
    for n in sizes:
        mirror = Registry(ctx.work, f"mirror-{n}", proxy_remote=f"http://{origin.host}")
        config = ctx.path(f"fleet-{n}.yml")
        with open(config, "w") as f:
            f.write(f"create:\n  registry_mirrors:\n    - {origin.host}=http://{mirror.host}\n")
        stores = [ctx.path(f"fleet-{n}", f"s{i}") for i in range(n)]
        try:
            for s in stores:
                g.init(s)
            wait_idle(idle_timeout, quiet=True)
            drop_caches()
            since = origin.log_offset()
            chains = []
            for s in stores:
                cmds = [" ".join(g.create(s, f"docker://{origin.host}/bench/{im}:latest", im,
                                          config=config)) for im in names]
                chains.append(["sh", "-ec", " && ".join(cmds)])
            meter = OthersMeter()
            run = run_group(chains)
            others = meter.stop()
            _, _, blobs = origin.served(since)
            _, _, direct = origin.served(since, agent="grootfs")  # not through the mirror
            mreqs = mirror.served(0)[0]
            log(f"fleet N={n}: {run.wall:.2f} s, origin served {blobs / 1e6:.1f} MB "
                f"(one copy: {once / 1e6:.1f} MB), mirror answered {mreqs} requests")
            rows.append({"n": n, "images": "+".join(names), "wall": run.wall, "idle": others <= OTHERS_BUSY,
                         "origin": blobs, "direct": direct, "once": once, "rss_kib": run.rss_kib})
        finally:
            for s in stores:
                g.remove(s)
            mirror.stop()
    return rows
