#!/usr/bin/env python3
"""scripts/gtest-totals.py: how the test command counts a ctest run whose cases are whole GoogleTest binaries."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "gtest-totals.py")


def report(tests, failed_names=()):
    cases = [{"name": n, "failures": [{"failure": "x"}]} for n in failed_names]
    cases += [{"name": f"Ok{i}"} for i in range(tests - len(failed_names))]
    return {"tests": tests, "failures": len(failed_names), "errors": 0,
            "testsuites": [{"name": "Suite", "testsuite": cases}]}


class GtestTotals(unittest.TestCase):
    def run_script(self, log_lines, reports):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "ctest.log")
            with open(log, "w", encoding="utf-8") as f:
                f.write("\n".join(log_lines) + "\n")
            rdir = os.path.join(d, "gtest")
            os.mkdir(rdir)
            for name, doc in reports.items():
                with open(os.path.join(rdir, name + ".json"), "w", encoding="utf-8") as f:
                    json.dump(doc, f)
            out = subprocess.run([sys.executable, SCRIPT, log, rdir], check=True, capture_output=True, text=True)
            lines = out.stdout.splitlines()
            passed, failed = (int(x) for x in lines[0].split())
            return passed, failed, lines[1:]

    def test_a_binary_counts_as_its_tests_and_other_cases_as_one(self):
        passed, failed, names = self.run_script(
            [" 1/3 Test #1: rtcache_core_tests ..........   Passed    2.18 sec",
             " 2/3 Test #2: pg_source_cluster_start .....   Passed    3.01 sec",
             " 3/3 Test #3: ThreadSafety.RejectsUnlockedAccess ...   Passed    0.97 sec"],
            {"rtcache_core_tests": report(412)})
        self.assertEqual((passed, failed, names), (414, 0, []))

    def test_failed_tests_of_a_binary_are_counted_and_named(self):
        passed, failed, names = self.run_script(
            [" 1/1 Test #1: rtcache_hub_tests ..........***Failed    2.18 sec"],
            {"rtcache_hub_tests": report(75, ["Breaks", "AlsoBreaks"])})
        self.assertEqual((passed, failed), (73, 2))
        self.assertEqual(names, ["Suite.Breaks (rtcache_hub_tests)", "Suite.AlsoBreaks (rtcache_hub_tests)"])

    def test_a_binary_that_crashed_without_a_report_is_one_failure(self):
        passed, failed, names = self.run_script(
            [" 1/1 Test #1: rtcache_gateway_tests .....***Exception: SegFault  3.00 sec"], {})
        self.assertEqual((passed, failed), (0, 1))
        self.assertEqual(len(names), 1)
        self.assertIn("rtcache_gateway_tests", names[0])

    def test_a_binary_that_failed_after_its_tests_passed_adds_a_failure(self):
        # e.g. LeakSanitizer at exit: every TEST passed, the process did not.
        passed, failed, names = self.run_script(
            [" 1/1 Test #1: rtcache_auth_tests ........***Failed    3.25 sec"],
            {"rtcache_auth_tests": report(106)})
        self.assertEqual((passed, failed), (106, 1))
        self.assertIn("after its TESTs passed", names[0])

    def test_a_skipped_case_is_not_a_failure(self):
        passed, failed, _ = self.run_script(
            [" 1/1 Test #1: FactoryApi.ServesTheHandler ....***Skipped   0.19 sec"], {})
        self.assertEqual((passed, failed), (1, 0))


if __name__ == "__main__":
    unittest.main()
