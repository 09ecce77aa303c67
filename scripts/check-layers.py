#!/usr/bin/env python3
"""Checks the module graph of src/: no import cycle between modules (files), and the layers
of docs/architecture.md respected between top-level modules. Exits 1 with the offending paths.

A module's dependencies are the `crate::...` paths it names (in `use` or inline), resolved to
the longest existing module; `super::` is resolved too. Test modules (`#[cfg(test)]` blocks at
the end of a file) are ignored.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")

# Lower layers may not depend on higher ones (docs/architecture.md#layers).
LAYERS = [
    {"auth", "config", "data_dir", "error_page", "resilience", "telemetry"},
    {"directory", "mail"},
    {"session"},
    {"proxy", "oidc"},
    {"web", "lifecycle", "second_factor"},
    {"state"},
    {"server", "demo", "import", "cli", "main", "lib"},
]
# `state` is the composition root that proxy and web are handed; they may name it (the cycle
# check below still refuses any file-level cycle).
# Operator commands use the directory for their rules and SQL, never the web forms.
FORBIDDEN = {("import", "web"), ("cli", "web")}
ALLOWED_UP = {("proxy", "state"), ("web", "state"), ("lifecycle", "state"), ("second_factor", "state")}


def modules():
    mods = {}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            if rel in (["lib"], ["main"]):
                name = rel[0]
            else:
                name = "::".join(rel)
            mods[name] = path
    return mods


def strip_tests(text):
    i = text.find("#[cfg(test)]\nmod tests")
    return text if i < 0 else text[:i]


def deps(name, text, mods):
    out = set()
    text = strip_tests(text)
    text = re.sub(r"//[^\n]*", "", text)
    parent = name.rsplit("::", 1)[0] if "::" in name else ""
    for m in re.finditer(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)", text):
        base, rest = m.group(1), m.group(2)[2:].split("::")
        if base == "super":
            prefix = parent.split("::") if parent else []
            if name in ("lib", "main"):
                continue
            # `super` of a mod.rs module is its parent, of a file module its directory's module.
            full = prefix + rest
        else:
            full = rest
        for k in range(len(full), 0, -1):
            cand = "::".join(full[:k])
            if cand in mods and cand != name:
                out.add(cand)
                break
    # `use` groups: crate::{a, b::c}
    for m in re.finditer(r"\bcrate::\{([^}]*)\}", text):
        for item in m.group(1).split(","):
            full = item.strip().split("::")
            for k in range(len(full), 0, -1):
                cand = "::".join(full[:k])
                if cand in mods and cand != name:
                    out.add(cand)
                    break
    return out


def sccs(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def layer_of(top):
    for i, layer in enumerate(LAYERS):
        if top in layer:
            return i
    return None


def main():
    mods = modules()
    graph = {}
    for name, path in mods.items():
        with open(path, encoding="utf-8") as f:
            graph[name] = deps(name, f.read(), mods)
    problems = []
    # A module may name its own descendants (mod.rs re-exports); cycles through the module tree
    # itself are not import cycles.
    def is_tree_edge(a, b):
        return b.startswith(a + "::") or a.startswith(b + "::")

    pruned = {a: {b for b in bs if not is_tree_edge(a, b)} for a, bs in graph.items()}
    for comp in sccs(pruned):
        if len(comp) > 1:
            problems.append("import cycle: " + " <-> ".join(sorted(comp)))
    for a, bs in pruned.items():
        ta = a.split("::")[0]
        for b in bs:
            tb = b.split("::")[0]
            la, lb = layer_of(ta), layer_of(tb)
            if la is None or lb is None:
                problems.append(f"{a}: module {ta if la is None else tb} has no layer in scripts/check-layers.py")
                continue
            if (ta, tb) in FORBIDDEN:
                problems.append(f"layering: {a} may not use {b}")
            if lb > la and (ta, tb) not in ALLOWED_UP:
                problems.append(f"layering: {a} (layer {la}) uses {b} (layer {lb})")
    for p in sorted(set(problems)):
        print(p)
    if problems:
        sys.exit(1)
    print(f"layers: {len(mods)} modules, no cycle, layers respected")


if __name__ == "__main__":
    main()
