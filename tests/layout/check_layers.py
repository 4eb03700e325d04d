#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks that the folder graph of cmake/layers.txt is acyclic and that no
source includes a folder outside its line (docs/design.md, "Layout").

usage: check_layers.py ROOT       check the tree at ROOT
       check_layers.py --self-test  check that the checker catches a back
                                    edge, an unknown folder and a cycle
"""
import os
import re
import subprocess
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
SOURCE_EXT = (".c", ".h", ".cc")


def read_layers(root):
    """{folder: set of folders it may include}, in file order."""
    layers = {}
    path = os.path.join(root, "cmake", "layers.txt")
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if ":" not in line:
                raise SystemExit("%s:%d: expected 'folder: folders...'" % (path, n))
            name, deps = line.split(":", 1)
            layers[name.strip()] = set(deps.split())
    return layers


def find_cycle(layers):
    """A list of folders forming a cycle, or None."""
    state = {}

    def visit(f, stack):
        state[f] = 1
        for d in sorted(layers.get(f, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d] if d in stack else [f, d]
            if d not in state:
                c = visit(d, stack + [d])
                if c:
                    return c
        state[f] = 2
        return None

    for f in layers:
        if f not in state:
            c = visit(f, [f])
            if c:
                return c
    return None


def tracked_sources(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files"], check=True,
                             capture_output=True, text=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        out = []
        for d, _, files in os.walk(root):
            for fn in files:
                out.append(os.path.relpath(os.path.join(d, fn), root))
    return [p for p in out if p.endswith(SOURCE_EXT)]


def check(root):
    """Returns the list of problems (empty when the tree is clean)."""
    layers = read_layers(root)
    problems = []
    for f, deps in layers.items():
        for d in deps:
            if d not in layers:
                problems.append("cmake/layers.txt: %s names '%s', which has no line" % (f, d))
    cyc = find_cycle(layers)
    if cyc:
        problems.append("cmake/layers.txt: cycle " + " -> ".join(cyc))
    for rel in tracked_sources(root):
        top = rel.split("/", 1)[0]
        if top not in layers:
            continue  # include/ (public), tests/ (may include everything)
        allowed = layers[top] | {top}
        with open(os.path.join(root, rel), errors="replace") as f:
            for n, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                inc = m.group(1)
                first = inc.split("/", 1)[0]
                if "/" in inc and first in layers and first not in allowed:
                    problems.append("%s:%d: includes \"%s\": %s may include only %s"
                                    % (rel, n, inc, top, ", ".join(sorted(allowed))))
                elif "/" in inc and first not in layers and first != "htmgil" and \
                        not os.path.exists(os.path.join(root, os.path.dirname(rel), inc)):
                    problems.append("%s:%d: includes \"%s\", which is in no folder of "
                                    "cmake/layers.txt" % (rel, n, inc))
    return problems


def self_test():
    def tree(layers_txt, files):
        d = tempfile.mkdtemp(prefix="hg_layers_")
        os.makedirs(os.path.join(d, "cmake"))
        with open(os.path.join(d, "cmake", "layers.txt"), "w") as f:
            f.write(layers_txt)
        for p, text in files.items():
            os.makedirs(os.path.join(d, os.path.dirname(p)), exist_ok=True)
            with open(os.path.join(d, p), "w") as f:
                f.write(text)
        return d

    graph = "base:\nhtm: base\nengine: base htm\n"
    clean = {"base/a.h": "", "htm/b.c": '#include "base/a.h"\n',
             "engine/c.c": '#include "htm/b.h"\n#include "htmgil/x.h"\n'}
    cases = [
        ("clean tree", graph, clean, False),
        ("back edge", graph, dict(clean, **{"htm/d.c": '#include "engine/e.h"\n'}), True),
        ("sibling edge", graph + "fallback: base\n",
         dict(clean, **{"fallback/f.c": '#include "htm/b.h"\n'}), True),
        ("cycle", "base: htm\nhtm: base\n", {"base/a.h": ""}, True),
        ("unknown folder", "base: nowhere\n", {"base/a.h": ""}, True),
    ]
    bad = 0
    for name, g, files, want in cases:
        got = bool(check(tree(g, files)))
        ok = got == want
        bad += not ok
        print("%s: %s (%s)" % ("ok" if ok else "FAIL", name,
                               "problems found" if got else "clean"))
    return 1 if bad else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    problems = check(sys.argv[1])
    for p in problems:
        print(p)
    if problems:
        print("%d include(s) break the folder graph of cmake/layers.txt "
              "(move the code down a folder, or argue the edge in docs/design.md "
              "and add it there)" % len(problems))
        return 1
    print("folder graph: %d folders, acyclic; every include follows it"
          % len(read_layers(sys.argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
