"""Fails when the test report shows no tests, or any failure, error or skip."""

import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
totals = {
    k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")
}
print("junit:", totals)
if totals["tests"] == 0 or totals["failures"] or totals["errors"] or totals["skipped"]:
    for suite in suites:
        for case in suite.iter("testcase"):
            for child in case:
                if child.tag in ("skipped", "failure", "error"):
                    print(
                        f"{child.tag}: {case.get('classname')}.{case.get('name')}: {child.get('message')}"
                    )
    sys.exit(1)
