"""``tapievent lint`` against Asterisk's own loader, on the Asterisk testsuite's dialplans.

Usage: ``python -m tests.live.lint_agreement [--version 22.10.1] [--limit N]``
(from the repository root; needs the kit in ../shared/asterisk). Prints, per
kind of problem, how often both, only lint, or only Asterisk reported it.

Every file is loaded into a real server (its own instance, with nothing else
in its dialplan) and Asterisk's warnings are read from ``DIR/log/messages``:
most files are ``#include``\\ d together into one ``dialplan reload`` (their
contexts prefixed per file so files cannot collide; [general] and [globals]
stay as they are), and the files lint says Asterisk refuses to load at all
are loaded one by one, so one of them cannot take the batch down with it.
Lint reads exactly the same prefixed text.
"""

from __future__ import annotations

import argparse
import re
import sys
import tarfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from tapievent.dialplan.lint import lint_paths

from .kit import KIT, Instance, build

TARBALL = KIT / "testsuite-dialplans.tar.xz"
#: Our own cases: one of each loader problem, and the files Asterisk refuses whole.
OWN = Path(__file__).resolve().parents[1] / "dialplans" / "loader"

# Asterisk's warning (pbx_config.c, config.c) -> the lint code of the same problem.
KINDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), kind)
    for pattern, kind in (
        (r"Invalid priority/label '.*' at line (\d+) of (\S+)", "bad-priority"),
        (r"Invalid priority '.*' at line (\d+) of (\S+)", "bad-priority"),
        (r"Can't use '(?:next|same)' priority on the first entry at line (\d+) of (\S+)",
         "bad-priority"),
        (r"Label missing trailing '\)' at line (\d+) of (\S+)", "bad-priority"),
        (r"No previous pattern in the first entry .* at line (\d+) of (\S+)",
         "same-without-exten"),
        (r"No closing parenthesis found\? .* at line (\d+) of (\S+)", "missing-paren"),
        (r"Unable to register extension at line (\d+) of (\S+)", "duplicate-priority"),
        (r"Unknown directive: .* at line (\d+) of (\S+) -- IGNORING", "unknown-statement"),
        (r"Unknown directive '#.*' at line (\d+) of (\S+)", "unknown-directive"),
        (r"Directive '#.*' needs an argument .* at line (\d+) of (\S+)", "unknown-directive"),
        (r"No '=' \(equal sign\) in line (\d+) of (\S+)", "no-equals"),
        (r"No variable name in line (\d+) of (\S+)", "no-name"),
        (r"parse error: no closing '[\])]', line (\d+) of (\S+)", "bad-context"),
        (r"(?:Inheritance|Category addition) requested, but category .* line (\d+) of (\S+)",
         "unknown-template"),
        (r"parse error: No category context for line (\d+) of (\S+)", "no-context"),
        (r"Invalid escape in line (\d+) of (\S+)", "invalid-escape"),
        (r"There is no existence of context .* included at line (\d+) of (\S+)",
         "include-unknown-context"),
        (r"Context '.*' already included in .* at line (\d+) of (\S+)", "include-twice"),
        (r"The use of '_[.!]' for an extension .* at line (\d+) of (\S+)", "pattern-catch-all"),
    )
)  # fmt: skip
# Lint codes that are not about loading (TAPI checks) are left out of the comparison.
COMPARED = frozenset(kind for _, kind in KINDS)
# Findings whose message says Asterisk refuses the whole file.
FATAL = frozenset({"bad-context", "unknown-template", "no-context", "include-not-found",
                   "include-cycle", "include-depth"})  # fmt: skip

_HEADER = re.compile(r"^(\s*\[)([^\]]*)(\](?:\(([^)]*)\))?)", re.M)
_INCLUDE = re.compile(r"^(\s*include\s*=>?\s*)([^,|;\s]+)", re.M | re.I)

Key = tuple[str, int, str]


def prefixed(text: str, prefix: str) -> str:
    """``text`` with every context it defines renamed ``prefix + name``."""
    names = {m.group(2).strip() for m in _HEADER.finditer(text)} - {"general", "globals"}

    def header(m: re.Match[str]) -> str:
        name = m.group(2)
        new = prefix + name if name.strip() in names else name
        options = m.group(4)
        if options is None:
            return m.group(1) + new + m.group(3)
        opts = ",".join(
            prefix + o if o.strip() in names and o not in ("!", "+") else o
            for o in options.split(",")
        )
        return f"{m.group(1)}{new}]({opts})"

    def include(m: re.Match[str]) -> str:
        target = m.group(2)
        return m.group(1) + (prefix + target if target in names else target)

    return _INCLUDE.sub(include, _HEADER.sub(header, text))


def asterisk_findings(log: str, files: dict[str, str]) -> set[Key]:
    """(file, line, kind) of each warning in ``log`` about one of ``files``
    (written path -> the name reported)."""
    out = set()
    for line in log.splitlines():
        for pattern, kind in KINDS:
            m = pattern.search(line)
            if m:
                path = m.group(2).rstrip("!")
                name = files.get(path) or files.get(Path(path).name)
                if name is not None:
                    out.add((name, int(m.group(1)), kind))
                break
    return out


def lint_findings(path: Path, name: str, major: int) -> tuple[set[Key], bool]:
    """(file, line, code) of the loader-kind findings, and whether one is fatal.

    Asterisk stops reading a file at the first error that refuses it; lint goes
    on (as if that line were fixed), so only what comes up to there is compared.
    """
    found = lint_paths([str(path)], (major,))
    fatal = [f.line for f in found if f.code in FATAL]
    stop = min(fatal) if fatal else None
    keys = {
        (name, f.line, f.code)
        for f in found
        if f.code in COMPARED and (stop is None or f.line <= stop)
    }
    return keys, stop is not None


def _sources(limit: int | None, select: Sequence[str] | None) -> list[tuple[str, bytes]]:
    with tarfile.open(TARBALL) as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)
        if select is not None:
            members = [m for m in members if m.name in select]
        if limit is not None:
            members = members[:limit]
        out = []
        for member in members:
            handle = tar.extractfile(member)
            assert handle is not None
            out.append((member.name, handle.read()))
        return out


def own_sources() -> list[tuple[str, bytes]]:
    return [(f"loader/{p.name}", p.read_bytes()) for p in sorted(OWN.glob("*.conf"))]


def agreement(
    inst: Instance, sources: Iterable[tuple[str, bytes]], extra: dict[str, str] | None = None
) -> tuple[set[Key], set[Key]]:
    """Load ``sources`` (name, bytes) into ``inst`` and lint them: (Asterisk's, lint's)."""
    work = inst.etc / "ts"
    work.mkdir(exist_ok=True)
    batch: dict[str, str] = {}
    single: dict[str, str] = {}
    theirs: set[Key] = set()
    ours: set[Key] = set()
    items = list(sources) + [(n, t.encode()) for n, t in (extra or {}).items()]
    for index, (name, data) in enumerate(items):
        text = prefixed(data.decode("utf-8", "surrogateescape"), f"f{index:04d}-")
        path = work / f"f{index:04d}.conf"
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        keys, fatal = lint_findings(path, name, inst.major)
        ours |= keys
        (single if fatal else batch)[str(path)] = name
    if batch:
        # An included file goes on in the category that was open: a context of
        # its own before each file keeps a file's leading lines out of the last.
        inst.write_extra("".join(f'[tapi-lint-{i}]\n#include "{p}"\n' for i, p in enumerate(batch)))
        theirs |= asterisk_findings(inst.reload(), batch)
    inst.write_extra("")
    # A file Asterisk refuses whole is loaded as extensions.conf itself, alone.
    main_conf = inst.etc / "extensions.conf"
    saved = main_conf.read_bytes()
    try:
        for written, name in single.items():
            main_conf.write_bytes(Path(written).read_bytes())
            names = {"extensions.conf": name, str(main_conf): name}
            theirs |= asterisk_findings(inst.reload(), names)
    finally:
        main_conf.write_bytes(saved)
        inst.reload()
    return theirs, ours


def table(theirs: set[Key], ours: set[Key]) -> str:
    both = Counter(k[2] for k in theirs & ours)
    lint_only = Counter(k[2] for k in ours - theirs)
    asterisk_only = Counter(k[2] for k in theirs - ours)
    kinds = sorted(set(both) | set(lint_only) | set(asterisk_only))
    rows = [f"{'kind':26} {'both':>6} {'lint only':>10} {'Asterisk only':>14}"]
    for kind in kinds:
        rows.append(f"{kind:26} {both[kind]:6} {lint_only[kind]:10} {asterisk_only[kind]:14}")
    rows.append(
        f"{'total':26} {sum(both.values()):6} {sum(lint_only.values()):10} "
        f"{sum(asterisk_only.values()):14}"
    )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default="22.10.1", choices=["22.10.1", "18.26.4"])
    parser.add_argument("--limit", type=int, default=None, help="first N files only")
    parser.add_argument("--show", action="store_true", help="list every disagreement")
    args = parser.parse_args(argv)
    inst = Instance(args.version, build(args.version))
    inst.start()
    try:
        sources = _sources(args.limit, None) + own_sources()
        theirs, ours = agreement(inst, sources)
    finally:
        inst.stop()
        inst.remove()
    print(f"Asterisk {args.version}: {len(sources)} dialplans (the testsuite's and {OWN.name}/)")
    print(table(theirs, ours))
    if args.show:
        for key in sorted(ours - theirs):
            print("lint only:", *key)
        for key in sorted(theirs - ours):
            print("Asterisk only:", *key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
