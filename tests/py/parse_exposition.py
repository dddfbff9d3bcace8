"""Parses an exposition read from stdin with the reference Python parser.

Usage: parse_exposition.py prometheus|openmetrics

Prints one JSON object: {"families": [{"name", "type", "unit", "help",
"samples": [{"name", "labels", "value", "exemplar"}]}]}. Float values are given as
Python's repr() strings so that NaN and infinities survive JSON.
"""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as text_parse


def main() -> None:
    fmt = sys.argv[1]
    text = sys.stdin.read()
    parse = {"prometheus": text_parse, "openmetrics": om_parse}[fmt]
    families = []
    for family in parse(text):
        samples = []
        for s in family.samples:
            exemplar = None
            if s.exemplar is not None:
                exemplar = {
                    "labels": dict(s.exemplar.labels),
                    "value": repr(float(s.exemplar.value)),
                    "timestamp": None if s.exemplar.timestamp is None else repr(float(s.exemplar.timestamp)),
                }
            samples.append(
                {
                    "name": s.name,
                    "labels": dict(s.labels),
                    "value": repr(float(s.value)),
                    "exemplar": exemplar,
                }
            )
        families.append(
            {
                "name": family.name,
                "type": family.type,
                "unit": getattr(family, "unit", ""),
                "help": family.documentation,
                "samples": samples,
            }
        )
    json.dump({"families": families}, sys.stdout)


if __name__ == "__main__":
    main()
