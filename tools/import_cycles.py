"""Fails when files under src/ import each other in a circle (issue 28).

A file depends on another when its code names an item defined there: by a
`use` (not a `pub use`, which only re-exports) or by a path written inline
(`crate::…`, `super::…`, `self::…`, or a child module's name). Names are
followed through re-exports (`pub use`) to the file that defines them, so a
`mod.rs` that re-exports its children is a front door, not a dependency.
Test modules (`#[cfg(test)] mod … { … }`) are left out: what a test reads
does not shape the code. Prints each circle with the imports that make it.

    python3 tools/import_cycles.py [src]
"""

import os
import re
import sys

ITEM = r"(?:pub(?:\([^)]*\))?\s+)?(?:const\s+|async\s+|unsafe\s+|extern\s+\"C\"\s+)*"
DEFINES = re.compile(
    r"^\s*" + ITEM + r"(?:fn|struct|enum|type|const|static|trait|union|mod|macro_rules!)\s+(\w+)",
    re.M,
)
USE = re.compile(r"\b(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);")
INLINE = re.compile(r"(?<![\w:])((?:crate|super|self)(?:::\w+)+)")
CHILD = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", re.M)


def strip(text):
    """Code without comments, strings and test modules."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    text = re.sub(r"'(?:\\.|[^'\\\s])'", "''", text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def expand(tree):
    """`a::{b, c::{d as e}, self}` -> [("a::b", "b"), ("a::c::d", "e"), ("a", "a")]."""
    tree = re.sub(r"\s+", " ", tree).strip()
    brace = tree.find("{")
    if brace < 0:
        alias = None
        m = re.match(r"(.*?)\s+as\s+(\w+)$", tree)
        if m:
            tree, alias = m.group(1).strip(), m.group(2)
        path = tree.rstrip(":")
        if path.endswith("::self"):
            path = path[: -len("::self")]
        return [(path, alias or path.split("::")[-1])]
    prefix = tree[:brace].rstrip(":").strip()
    inner = tree[brace + 1 : tree.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    parts.append(cur)
    found = []
    for p in parts:
        p = p.strip()
        if not p:
            continue
        if p == "self":
            found.append((prefix, prefix.split("::")[-1]))
            continue
        for path, alias in expand(p):
            found.append((f"{prefix}::{path}" if prefix else path, alias))
    return found


class Crate:
    def __init__(self, root):
        self.files = {}  # module path -> file
        for d, _, names in os.walk(root):
            for n in names:
                if not n.endswith(".rs"):
                    continue
                rel = os.path.relpath(os.path.join(d, n), root)[:-3].split(os.sep)
                if rel == ["main"]:
                    continue
                if rel[-1] in ("mod", "lib"):
                    rel = rel[:-1]
                self.files["::".join(["crate", *rel])] = os.path.join(d, n)
        self.code = {m: strip(open(f, encoding="utf-8").read()) for m, f in self.files.items()}
        self.defined = {m: set(DEFINES.findall(c)) for m, c in self.code.items()}
        self.reexports = {}
        self.globs = {}
        for m, c in self.code.items():
            names, globs = {}, []
            for um in USE.finditer(c):
                if not um.group(1):
                    continue
                for path, alias in expand(um.group(2)):
                    if alias == "*":
                        globs.append(self.absolute(m, path[:-3]))
                    else:
                        names[alias] = self.absolute(m, path)
            self.reexports[m], self.globs[m] = names, [g for g in globs if g]

    def absolute(self, module, path):
        """A path as written in `module`, made absolute (None: another crate)."""
        segs = path.split("::")
        if segs[0] == "crate":
            return path
        base = module.split("::")
        if segs[0] in ("self", "super"):
            while segs and segs[0] in ("self", "super"):
                if segs.pop(0) == "super":
                    base = base[:-1]
            return "::".join(base + segs)
        if "::".join(base + segs[:1]) in self.files:
            return "::".join(base + segs)
        return None

    def owner(self, path, seen=()):
        """The file that defines what an absolute path names."""
        segs = path.split("::")
        for n in range(len(segs), 0, -1):
            module = "::".join(segs[:n])
            if module not in self.files:
                continue
            if n == len(segs):
                return module
            name = segs[n]
            if path in seen:
                return module
            seen = (*seen, path)
            if name in self.reexports[module] and name not in self.defined[module]:
                target = self.reexports[module][name]
                return target and self.owner(target, seen)
            if name not in self.defined[module]:
                for g in self.globs[module]:
                    o = self.owner(f"{g}::{name}", seen)
                    if o != g and o is not None:
                        return o
            return module
        return None

    def edges(self):
        found = {}
        for m, c in self.code.items():
            names = set()
            for um in USE.finditer(c):
                if um.group(1):
                    continue
                names.update(p for p, _ in expand(um.group(2)))
            without_uses = USE.sub("", c)
            names.update(INLINE.findall(without_uses))
            for child in CHILD.findall(c):
                names.update(re.findall(r"(?<![\w:])(" + child + r"(?:::\w+)+)", without_uses))
            for name in names:
                if name.endswith("::*"):
                    name = name[:-3]
                path = self.absolute(m, name)
                target = path and self.owner(path)
                if target and target != m:
                    found.setdefault(m, {}).setdefault(target, name)
        return found


def circles(graph):
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
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
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    crate = Crate(sys.argv[1] if len(sys.argv) > 1 else "src")
    graph = crate.edges()
    found = circles(graph)
    for comp in found:
        print("circle: " + " <-> ".join(crate.files[m] for m in comp))
        for a in comp:
            for b, name in sorted(graph.get(a, {}).items()):
                if b in comp:
                    print(f"  {crate.files[a]} uses {name}")
    if found:
        sys.exit(1)
    print(f"no import circles among {len(crate.files)} files")


if __name__ == "__main__":
    main()
