#!/usr/bin/env python3
"""The layout rules of docs/architecture.md ("Where things live"), checked on every Rust source file
of the library, the functions and the dev tool: at most MAX_FILE_LINES lines of non-test code per
file, at most MAX_FN_LINES lines per function, and no cycle between the library's modules (two
top-level modules, or two files of one folder, that use each other). Test code (a `#[cfg(test)]`
module, files named `tests.rs` or `*_tests.rs`, `tests/` and `benches/` folders) is not counted.
Exits 1 and names every offender."""

import pathlib
import re
import sys

MAX_FILE_LINES = 600
MAX_FN_LINES = 80
ROOTS = ["shared/src", "functions", "infra/devtool/src"]
# Known debt, each to be split when next touched (docs/architecture.md, "Where things live"): a
# new entry needs a reason in review; an entry that no longer offends must be removed (it fails).
KNOWN_LONG: set[str] = set()
FN_START = re.compile(r"^(\s*)(pub(\([^)]*\))?\s+)?(async\s+)?(const\s+)?(unsafe\s+)?fn\s+(\w+)")


def is_test_file(path: pathlib.Path) -> bool:
    return path.name == "tests.rs" or path.name.endswith("_tests.rs") or "tests" in path.parts


def non_test_lines(lines: list[str]) -> list[str]:
    """The file's lines up to its first top-level `#[cfg(test)]` item."""
    for index, line in enumerate(lines):
        if line.startswith("#[cfg(test)]"):
            return lines[:index]
    return lines


def long_functions(lines: list[str]):
    for index, line in enumerate(lines):
        match = FN_START.match(line)
        if not match:
            continue
        body = next(
            (i for i in range(index, len(lines)) if lines[i].rstrip().endswith(("{", ";"))),
            None,
        )
        if body is None or lines[body].rstrip().endswith(";"):
            continue  # a declaration without a body (a trait's method)
        indent = match.group(1)
        for end in range(body + 1, len(lines)):
            if lines[end].startswith(indent + "}") and not lines[end].startswith(indent + "} "):
                length = end - index + 1
                if length > MAX_FN_LINES:
                    yield match.group(7), index + 1, length
                break


USE_OF = re.compile(r"\bcrate::(\w+)(?:::(\w+))?")
SIBLING_USE = re.compile(r"\bsuper::(\w+)")


def module_of(library: pathlib.Path, path: pathlib.Path) -> list[str]:
    parts = list(path.relative_to(library).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "mod" else parts


def module_cycles(library: pathlib.Path) -> list[str]:
    """Edges between top-level modules, and between sibling files of one folder; any pair that
    depends both ways is a cycle."""
    edges: set[tuple[str, str]] = set()
    for path in library.rglob("*.rs"):
        if is_test_file(path.relative_to(library)):
            continue
        module = module_of(library, path)
        if not module or module == ["lib"]:
            continue
        code = "\n".join(
            line for line in non_test_lines(path.read_text().split("\n"))
            if not line.lstrip().startswith("//")
        )
        for top, second in USE_OF.findall(code):
            if top != module[0]:
                edges.add((module[0], top))
            elif len(module) >= 2 and second and second != module[1]:
                edges.add((f"{module[0]}::{module[1]}", f"{module[0]}::{second}"))
        if len(module) == 2 and path.name != "mod.rs":
            for sibling in SIBLING_USE.findall(code):
                if sibling != module[1] and (library / module[0] / f"{sibling}.rs").exists():
                    edges.add((f"{module[0]}::{module[1]}", f"{module[0]}::{sibling}"))
    return sorted(f"module cycle: {a} <-> {b}" for a, b in edges if a < b and (b, a) in edges)


def main() -> int:
    root = pathlib.Path(__file__).resolve().parents[2]
    problems = []
    offenders: set[str] = set()
    for base in ROOTS:
        for path in sorted((root / base).rglob("*.rs")):
            if is_test_file(path.relative_to(root)):
                continue
            code = non_test_lines(path.read_text().split("\n"))
            relative = path.relative_to(root)
            if len(code) > MAX_FILE_LINES:
                offenders.add(str(relative))
                if str(relative) not in KNOWN_LONG:
                    problems.append(f"{relative}: {len(code)} lines of non-test code (at most {MAX_FILE_LINES})")
            for name, line, length in long_functions(code):
                offenders.add(f"{relative}:{name}")
                if f"{relative}:{name}" not in KNOWN_LONG:
                    problems.append(f"{relative}:{line}: fn {name} has {length} lines (at most {MAX_FN_LINES})")
    problems += [f"{entry}: no longer too long; remove it from KNOWN_LONG" for entry in sorted(KNOWN_LONG - offenders)]
    problems += module_cycles(root / "shared/src")
    for problem in problems:
        print(problem)
    print(f"layout: {len(problems)} problems" if problems else f"layout: ok ({len(KNOWN_LONG)} known long items)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
