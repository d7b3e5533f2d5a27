#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Fails when the core's units call each other in a circle.

A unit is a file of src/portlayer (without .c), or a whole subdirectory (network/, storage/).
Unit A depends on unit B when A calls a pl_* function B defines. The core is layered when
this graph has no cycle: the lifecycle (container.c) calls sessions, the link, the store,
the network; none of them calls back into it, they use about.c's accessors and
pl_portlayer_subscribe. Prints each cycle with the calls that close it.
Usage: scripts/check-cycles.py [REPO]"""
import glob
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
core = os.path.join(root, "src", "portlayer")


def unit(path):
    rel = os.path.relpath(path, core)
    return rel.split("/")[0] + "/" if "/" in rel else rel[:-2]


defs, calls = {}, {}
for path in sorted(glob.glob(core + "/**/*.c", recursive=True)):
    text = re.sub(r"/\*.*?\*/", "", open(path, encoding="utf-8").read(), flags=re.S)
    u = unit(path)
    for m in re.finditer(r"^[A-Za-z_][\w \*]*?\b(pl_\w+)\([^;{]*\)\s*\{", text, flags=re.M):
        defs[m.group(1)] = u
    calls.setdefault(u, set()).update(re.findall(r"\b(pl_\w+)\(", text))

graph = {u: {defs[f] for f in fs if f in defs and defs[f] != u} for u, fs in calls.items()}

# Tarjan's strongly connected components
index, low, stack, on_stack, cycles = {}, {}, [], set(), []


def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in graph.get(v, ()):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on_stack.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            cycles.append(sorted(comp))


sys.setrecursionlimit(10000)
for v in sorted(graph):
    if v not in index:
        visit(v)

for comp in cycles:
    print("cycles: src/portlayer units call each other in a circle: " + ", ".join(comp),
          file=sys.stderr)
    for u in comp:
        for w in sorted(graph[u] & set(comp)):
            used = sorted(f for f in calls[u] if defs.get(f) == w)
            print(f"  {u} -> {w}: {', '.join(used)}", file=sys.stderr)
sys.exit(1 if cycles else 0)
