"""Fails when a function in src/ runs over LIMIT lines (issue 28: no
function a reader cannot hold in their head). Counts from the `fn` line to
its closing brace, strings and comments aside; prints every offender."""

import os
import re
import sys

LIMIT = 150
FN = re.compile(r"\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def code_of(line):
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])'", "''", line)
    return line.split("//")[0]


def long_functions(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m:
            continue
        depth, started, j = 0, False, i
        while j < len(lines):
            code = code_of(lines[j])
            for ch in code:
                if ch == "{":
                    depth += 1
                    started = True
                elif ch == "}":
                    depth -= 1
            if started and depth <= 0:
                break
            if not started and code.rstrip().endswith(";"):
                break
            j += 1
        if started and j - i + 1 > LIMIT:
            yield i + 1, m.group(6), j - i + 1


def main():
    found = []
    for root, _, files in os.walk(sys.argv[1] if len(sys.argv) > 1 else "src"):
        for f in sorted(files):
            if f.endswith(".rs"):
                path = os.path.join(root, f)
                found += [(path, *x) for x in long_functions(path)]
    for path, line, name, n in found:
        print(f"{path}:{line}: fn {name} is {n} lines (at most {LIMIT})")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
