#!/usr/bin/env python3
"""Reads an OpenMetrics text exposition on stdin with the Prometheus project's reference parser
(prometheus_client.openmetrics.parser) and prints its samples as JSON: a list of
[name, labels, value]. Exits non-zero, with the parser's message, when the text is not valid
OpenMetrics (a missing `# EOF`, a badly escaped label value, ...)."""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    if family.type != "gauge":
        sys.exit(f"{family.name}: type {family.type}, expected gauge")
    for sample in family.samples:
        samples.append([sample.name, sample.labels, sample.value])
json.dump(samples, sys.stdout)
