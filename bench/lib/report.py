"""The bench's Markdown: the measurements, the ratios against #15's targets, the fleet."""

import os
import platform
import time

MIB = 1024


def _ms(s):
    v = s * 1000
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def _idle(res):
    return "" if res.idle else " †"


def _cells(*cells):
    """A Markdown table row; a | inside a cell (igzip | tar) escaped."""
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def measurements(rows):
    out = ["| case | image | tool | median ms | min–max ms | peak RSS MiB | runs |",
           "|---|---|---|---:|---:|---:|---:|"]
    for case, image, tool, r, note in rows:
        out.append(_cells(case, image, tool, _ms(r.median) + _idle(r),
                          f"{_ms(r.lo)}–{_ms(r.hi)}", f"{r.rss_kib / MIB:.1f}", len(r.runs)))
    return out


class _Find:
    def __init__(self, rows):
        self.by = {(c, i, t): r for c, i, t, r, _ in rows}

    def __call__(self, case, image, tool):
        return self.by.get((case, image, tool))


def _verdict(value, goal, at_most):
    ok = value <= goal if at_most else value >= goal
    return "PASS" if ok else "MISS"


def targets(rows, requests, images):
    """Ratio rows: (what, image, value, goal text, verdict)."""
    f, out = _Find(rows), []

    def ratio(what, image, num, den, goal, at_most=True):
        if num is None or den is None:
            return
        v = num.median / den.median
        mark = "" if num.idle and den.idle else " †"
        if goal is None:  # a reference beside a target, not one
            out.append((what, image, f"{v:.2f}×{mark}", "—", "ref"))
            return
        out.append((what, image, f"{v:.2f}×{mark}", ("≤ " if at_most else "≥ ") + f"{goal}×",
                    _verdict(v, goal, at_most)))

    for im in images:
        g = lambda case: f(case, im, "grootfs")
        ratio("warm create (tag) / floor create", im, g("warm create, tag"),
              f("warm create, tag", im, "floor"), 1.75)
        ratio("warm create (digest) / floor create", im, g("warm create, digest"),
              f("warm create, tag", im, "floor"), 1.75)
        ratio("podman create+mount / warm create (tag)", im,
              f("warm create, tag", im, "podman"), g("warm create, tag"), 20, False)
        ratio("two-process floor create / floor create", im,
              f("warm create, tag", im, "floor, 2 processes"), f("warm create, tag", im, "floor"),
              None)
        ratio("podman create+mount / floor create", im, f("warm create, tag", im, "podman"),
              f("warm create, tag", im, "floor"), None)
        ratio("delete / floor delete", im, g("delete"), f("delete", im, "floor"), 1.75)
        ratio("podman rm / floor delete", im, f("delete", im, "podman"),
              f("delete", im, "floor"), None)
        ratio("two-process floor delete / floor delete", im, f("delete", im, "floor, 2 processes"),
              f("delete", im, "floor"), None)
        ratio("podman rm / delete", im, f("delete", im, "podman"), g("delete"), 20, False)
        ratio("10 creates at once / one warm create", im, g("10 creates at once"),
              g("warm create, tag"), 10)
        floor = f("cold create, layout", im, "igzip | tar")
        ratio("cold create (registry) / igzip|tar floor", im, g("cold create, registry"), floor, 1.2)
        ratio("cold create (layout) / igzip|tar floor", im, g("cold create, layout"), floor, 1.2)
        ratio("podman pull+create+mount / cold create (registry)", im,
              f("cold create, registry", im, "podman"), g("cold create, registry"), 3, False)
        ratio("skopeo copy+umoci unpack / cold create (registry)", im,
              f("cold create, registry", im, "skopeo+umoci"), g("cold create, registry"), 3, False)
        for case, want in (("warm create, tag", 1), ("warm create, digest", 0)):
            if (im, case) in requests:
                n = requests[(im, case)]
                out.append((f"registry requests per {case}", im, f"{n:g}", f"= {want}",
                            "PASS" if n == want else "MISS"))
    mine = [r for c, i, t, r, _ in rows if t == "grootfs"]
    if mine:
        peak = max(r.rss_kib for r in mine) / MIB
        out.append(("peak RSS of any grootfs process, any case", "all", f"{peak:.1f} MiB",
                    "< 32 MiB", "PASS" if peak < 32 else "MISS"))
    for c, i, t, r, _ in rows:
        if t == "grootfs" and (c.startswith("clean") or c.startswith("stats")) \
                and not c.endswith("first"):
            ms = r.median * 1000
            out.append((f"{c} (btrfs, quotas)", i, f"{ms:.1f} ms{_idle(r)}", "< 50 ms",
                        "PASS" if ms < 50 else "MISS"))
    return out


def targets_md(trows):
    out = ["| target | image | measured | goal | |", "|---|---|---:|---:|---|"]
    out += [_cells(a, b, c, d, e) for a, b, c, d, e in trows]
    return out


def fleet_md(frows):
    out = ["| stores N | images | wall of N cold creates (s) | ÷ N=1 | origin served (MB) | "
           "of which to grootfs directly | one copy of each blob (MB) | origin ÷ one copy | "
           "peak RSS MiB |", "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    base = frows[0]["wall"] if frows else 1
    for r in frows:
        out.append(f"| {r['n']} | {r['images']} | {r['wall']:.2f}{'' if r['idle'] else ' †'} | "
                   f"{r['wall'] / base:.2f} | {r['origin'] / 1e6:.1f} | {r['direct'] / 1e6:.1f} | "
                   f"{r['once'] / 1e6:.1f} | "
                   f"{r['origin'] / r['once']:.2f} | {r['rss_kib'] / MIB:.1f} |")
    return out


def document(args, info, rows, requests, frows, image_names, idle_at_start):
    head = [f"# grootfs bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
            f"Machine: {platform.node()}, {os.cpu_count()} CPUs, kernel {platform.release()}; "
            f"{'quick mode; ' if args.quick else ''}{args.runs} runs per warm case, "
            f"{args.cold_runs} per cold case (page cache dropped before each). "
            f"Idle at start: {'yes' if idle_at_start else 'NO'}. "
            "† marks a figure with a run during which other processes used more than a quarter "
            "of a core (not idle).", "", "| image | layers | compressed MB | tar entries |",
            "|---|---:|---:|---:|"]
    head += [f"| {n} | {l} | {s / 1e6:.1f} | {e} |" for n, (l, s, e) in info.items()]
    doc = head + ["", "## Targets (#15)", ""] + targets_md(targets(rows, requests, image_names))
    doc += ["", "## Measurements", ""] + measurements(rows)
    if frows:
        doc += ["", "## Fleet: N stores through one pull-through mirror", ""] + fleet_md(frows)
        doc += ["", "The origin's bytes are counted from its access log. \"To grootfs directly\" "
                "is what grootfs fetched from the origin, bypassing the mirror (0 when every "
                "store used the mirror). docker-registry 2.8 in proxy mode fetches a blob it "
                "does not hold twice (once to store, once to stream to the client), and once "
                "more for each client asking while it is in flight: so 2× at N = 1."]
    return "\n".join(doc) + "\n"
