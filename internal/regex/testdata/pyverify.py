"""Check the regex package's agreement tables against Python.

Usage:
  go test ./internal/regex -run TestMatchAgreesWithPython -args -pycases=/tmp/cases.json
  python3 internal/regex/testdata/pyverify.py /tmp/cases.json

Rows with module "re" must agree with re.search; rows with module "regex"
(patterns re rejects) with the third-party regex module in V0 mode.
"""
import json
import sys
import warnings

warnings.simplefilter("ignore")  # FutureWarning for literal '[' in classes


def main(path):
    import re
    rows = json.load(open(path, encoding="utf-8"))
    bad = 0
    for row in rows:
        if row["module"] == "regex":
            import regex
            got = regex.search(row["pattern"], row["input"], flags=regex.V0) is not None
        else:
            got = re.search(row["pattern"], row["input"]) is not None
        if got != row["want"]:
            bad += 1
            print("MISMATCH %s: %r on %r: python %s, table %s"
                  % (row["name"], row["pattern"], row["input"], got, row["want"]))
    print("%d cases, %d mismatches (python %s)" % (len(rows), bad, sys.version.split()[0]))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
