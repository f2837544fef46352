#!/usr/bin/env python3
"""The library's import arrows point one way (docs/ARCHITECTURE.md, "Rooms and arrows").

Two checks over a built tree, both from what the compiler and linker see, not from guesses:
  1. calls: `nm` over every object of the library gives, for each object file, the symbols it
     defines and the ones it uses; a use of a symbol defined in another file is an arrow. No
     arrow may run from a room to a room above it, and no two source files of plugin/ may reach
     each other through arrows (a circle), whatever rooms they are in.
  2. includes: every `#include "room/x.h"` of a plugin/ file points at its own room or one below.
Usage: python3 tests/check_layers.py BUILD_DIR   (prints "N passed, N failed"; exit 1 on failure)
"""
import os
import re
import subprocess
import sys

# Bottom to top. A room may use rooms on its own level or below. A file entry overrides its room.
LEVELS = [
    ["os"],
    ["kernels"],
    ["plugin/base"],
    ["plugin/ops", "plugin/gguf"],
    ["plugin/vocab", "plugin/media", "plugin/store"],
    ["plugin/draft/draft_state"],  # the session's drafting sub-state: a leaf the session calls
    ["plugin/model"],
    ["plugin/draft", "plugin/chat"],
    ["plugin/grammar"],
    ["plugin/generate"],
    ["plugin/abi"],
]
LEVEL = {room: i for i, rooms in enumerate(LEVELS) for room in rooms}


def room_of(src):
    """'plugin/model/session.c' -> 'plugin/model' (or a file override such as 'plugin/draft/draft_state')."""
    stem = os.path.splitext(src)[0]
    if stem in LEVEL:
        return stem
    parts = src.split("/")
    if parts[0] == "plugin" and len(parts) >= 3:
        return "plugin/" + parts[1]
    return parts[0]


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    nm = os.environ.get("NM", "nm")
    objs = []
    for top in ("plugin", "kernels", "os"):
        for dirpath, _, files in os.walk(os.path.join(build, top)):
            # objects of sources that still exist (a moved file leaves its old object behind)
            objs += [os.path.join(dirpath, f) for f in files
                     if f.endswith(".o") and os.path.exists(os.path.relpath(os.path.join(dirpath, f), build)[:-2] + ".c")]
    if not objs:
        print(f"check_layers: no objects under {build}/ (build first)")
        print("0 passed, 1 failed")
        return 1
    defined, used = {}, {}
    for o in sorted(objs):
        src = os.path.relpath(o, build)[:-2] + ".c"
        out = subprocess.run([nm, "-P", o], capture_output=True, text=True, check=True).stdout
        used[src] = set()
        for line in out.splitlines():
            f = line.split()
            if len(f) < 2:
                continue
            name, kind = f[0], f[1]
            if kind == "U":
                used[src].add(name)
            elif kind in "TDBRCVW" and not name.startswith("."):
                defined.setdefault(name, src)
    edges = {s: set() for s in used}
    for s, names in used.items():
        for n in names:
            d = defined.get(n)
            if d and d != s:
                edges[s].add(d)

    failed, passed = [], 0
    # 1a. arrows between rooms
    for s in sorted(edges):
        for d in sorted(edges[s]):
            rs, rd = room_of(s), room_of(d)
            if rs not in LEVEL or rd not in LEVEL:
                failed.append(f"{s} -> {d}: room {rs if rs not in LEVEL else rd} is not in the level list")
            elif LEVEL[rd] > LEVEL[rs]:
                failed.append(f"{s} -> {d}: {rs} calls up into {rd}")
            else:
                passed += 1
    # 1b. circles between source files of plugin/ (strongly connected components, Tarjan)
    index, low, stack, on, sccs = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    for comp in sccs:
        plug = sorted(c for c in comp if c.startswith("plugin/"))
        if len(plug) > 1:
            failed.append("circle: " + " <-> ".join(plug))
        else:
            passed += 1
    # 2. includes
    inc = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/([A-Za-z0-9_]+\.h)"')
    for dirpath, _, files in os.walk("plugin"):
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, f)
            rs = room_of(path)
            with open(path, encoding="utf-8") as fh:
                for ln, line in enumerate(fh, 1):
                    m = inc.match(line)
                    if not m:
                        continue
                    target = f"plugin/{m.group(1)}/{m.group(2)}"
                    rd = room_of(target)
                    if not os.path.exists(target):
                        failed.append(f"{path}:{ln}: includes {target}, which does not exist")
                    elif rs in LEVEL and rd in LEVEL and LEVEL[rd] > LEVEL[rs]:
                        failed.append(f"{path}:{ln}: includes {target}: {rs} reaches up into {rd}")
                    else:
                        passed += 1
    for f in failed:
        print("FAIL", f)
    print(f"check_layers: {passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
