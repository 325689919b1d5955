"""Write docs/configuration.md from cockpit/engine/config.py: every preset key with its default,
what it accepts and its field docstring, so the reference cannot drift from the code.

    .venv/bin/python scripts/config_reference.py          # rewrite docs/configuration.md
    .venv/bin/python scripts/config_reference.py --check  # exit 1 if the file is stale

Field docstrings are attribute docstrings (a string right after the field), which Python drops at
run time; they are read from the source with `ast`. Defaults come from the dataclasses themselves.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "configuration.md"
COMMAND = ".venv/bin/python scripts/config_reference.py"

TYPE_WORDS = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false"}
TYPE_WORDS.update({"dict": "a table", "list": "a list", "bool | None": "true or false"})

HEADER = """\
# Configuration reference

<!-- Generated from cockpit/engine/config.py by `{command}`; do not edit by hand. -->

A preset is a TOML file with the tables below; every key is optional and falls back to the default
shown. `--set TABLE.KEY=VALUE` overrides a key from the command line (the value is read as TOML, else
taken as a string). A bad key or value is refused in one line naming the file, the key, the value and
what was expected (exit 2), before torch is imported. Keys marked **live** can also be changed while
the run trains (`h` in the cockpit, `cockpit ctl RUN_DIR set dqn.KEY=VALUE`). How presets relate to
Stable-Baselines3 and CleanRL names: [presets.md](presets.md).
"""


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass, by field name, from its source."""
    (definition,) = ast.parse(inspect.getsource(cls)).body
    assert isinstance(definition, ast.ClassDef)
    body = definition.body
    docs = {}
    for node, following in zip(body, body[1:], strict=False):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
            docs[node.target.id] = " ".join(str(following.value.value).split())
    return docs


def default_text(key: str, value: object, absent: tuple[str, ...]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value) and key in absent):
        return "absent"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, dict) and not value:
        return "`{}`"
    return f"`{value!r}`"


def render() -> str:
    from cockpit.engine import config as cfg
    from cockpit.engine import config_values as values

    ranges = values.RANGES  # the validator's own words for what each key accepts
    lines = [HEADER.format(command=COMMAND)]
    for table, cls in cfg.TABLES.items():
        doc = " ".join((cls.__doc__ or "").split()) if "__doc__" in vars(cls) else ""
        lines += [f"## `[{table}]`", ""]
        if doc and not doc.startswith(cls.__name__ + "("):  # not the dataclass's generated signature
            lines += [doc, ""]
        lines += ["| key | default | accepts | meaning |", "|---|---|---|---|"]
        docs = field_docs(cls)
        defaults = cls()
        for f in dataclasses.fields(cls):
            key = f"{table}.{f.name}"
            accepts = ranges[key][1] if key in ranges else TYPE_WORDS.get(str(f.type), str(f.type))
            meaning = docs.get(f.name, "")
            if table == "dqn" and f.name in cfg.LIVE_KEYS:
                meaning = f"**live** · {meaning}"
            default = default_text(key, getattr(defaults, f.name), values.NAN_MEANS_ABSENT)
            cells = [f"`{f.name}`", default, accepts, meaning]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/configuration.md is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run {COMMAND}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
