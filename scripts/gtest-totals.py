#!/usr/bin/env python3
"""Counts the TESTs of a ctest run in which some CTest cases are whole GoogleTest binaries.

Usage: scripts/gtest-totals.py CTEST_LOG REPORT_DIR
Prints "PASSED FAILED" on the first line, then one line per failed TEST (or CTest case).

A CTest case with a GoogleTest JSON report REPORT_DIR/<name>.json (RTCACHE_CTEST_PER_BINARY, the asan preset)
counts as the TESTs in its report; a case that failed while its report shows no failed TEST (a crash, a
sanitizer report at exit, a timeout, no report at all) adds one failure under its own name. Every other case
counts as one, as ctest counts it (a skipped case is not a failure, as in ctest's own totals).
"""
import json
import os
import re
import sys

LINE = re.compile(r"Test +#\d+: (\S+) \.+[ *]*(Passed|Failed|Not Run|Skipped|Timeout|Exception|\S+)")


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    log, report_dir = sys.argv[1], sys.argv[2]
    passed = failed = 0
    failures = []
    with open(log, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = LINE.search(line)
            if not m:
                continue
            name, status = m.group(1), m.group(2)
            ok = status in ("Passed", "Skipped")
            report = os.path.join(report_dir, name + ".json")
            counts = None
            if os.path.isfile(report):
                try:
                    with open(report, encoding="utf-8") as r:
                        doc = json.load(r)
                    counts = (int(doc["tests"]), int(doc["failures"]) + int(doc.get("errors", 0)))
                    for suite in doc.get("testsuites", []):
                        for t in suite.get("testsuite", []):
                            if t.get("failures"):
                                failures.append(f"{suite['name']}.{t['name']} ({name})")
                except (OSError, ValueError, KeyError, TypeError):
                    counts = None
            if counts is None:
                if ok:
                    passed += 1
                else:
                    failed += 1
                    failures.append(f"{name} ({status})")
                continue
            tests, fails = counts
            passed += tests - fails
            failed += fails
            if not ok and fails == 0:
                failed += 1
                failures.append(f"{name}: the binary failed after its TESTs passed ({status})")
    print(passed, failed)
    for f in failures:
        print(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
