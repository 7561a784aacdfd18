#!/usr/bin/python3
"""Parses a Prometheus text-format file with prometheus_client's own parser (so a file the
parser refuses fails the test) and prints its samples as JSON:
{"families": {NAME: TYPE}, "samples": [[NAME, {LABELS}, VALUE], ...]}.

usage: check_prometheus.py FILE
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    with open(sys.argv[1]) as f:
        text = f.read()
    families, samples = {}, []
    for family in text_string_to_metric_families(text):
        families[family.name] = family.type
        for s in family.samples:
            samples.append([s.name, dict(s.labels), s.value])
    print(json.dumps({"families": families, "samples": samples}))


if __name__ == "__main__":
    main()
