#!/usr/bin/env python3
"""Reads a unified diff (-U0) on stdin and writes it back without the
added lines that only moved: a line added whose text (whitespace and a
leading visibility ignored) was removed elsewhere in the same diff is code
moved between files or places, not a change. Each hunk left is rewritten
as pure additions at its new-side line numbers, which is all
`cargo mutants --in-diff` reads. One pass over the diff."""
import re
import sys

VIS = re.compile(r"^(pub(\([a-z]+\))?\s+)")


def norm(text):
    text = VIS.sub("", text.strip())
    return re.sub(r"\s+", " ", text)


def main():
    lines = sys.stdin.read().split("\n")
    gone = {norm(l[1:]) for l in lines if l.startswith("-") and not l.startswith("---")}
    out, header, new_line = [], [], 0
    for line in lines:
        if line.startswith("diff --git"):
            header = [line]
            continue
        if line.startswith(("index ", "new file", "deleted file", "similarity", "rename ")):
            continue
        if line.startswith(("---", "+++")):
            header.append(line)
            continue
        m = re.match(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@", line)
        if m:
            new_line = int(m.group(1))
            continue
        if line.startswith("+"):
            text = norm(line[1:])
            if text and text not in gone:
                out.extend(header)
                header = []
                out.append(f"@@ -0,0 +{new_line},1 @@")
                out.append(line)
            new_line += 1
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))


main()
