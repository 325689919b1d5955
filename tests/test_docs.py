"""The documentation keeps up with the code: the configuration reference is regenerated from
config.py, and every flag and key a user can use is named in README.md or docs/."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import pkgutil
import re
import sys
from pathlib import Path

from textual.binding import Binding

from cockpit import cli

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_configuration_reference_is_current():
    reference = load_script("config_reference")
    current = reference.OUTPUT.read_text(encoding="utf-8")
    assert current == reference.render(), f"docs/configuration.md is stale: run {reference.COMMAND}"


class Parsed(Exception):
    """Raised in place of parsing: carries the parser a command built."""


def command_parsers(monkeypatch) -> dict[str, argparse.ArgumentParser]:
    """Every parser a user meets (`cockpit` and each subcommand), as the commands build them."""

    def capture(self, *args, **kwargs):
        raise Parsed(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    parsers = {}
    for name in ["", *cli.COMMANDS]:
        try:
            cli.main([name] if name else [])
        except Parsed as parsed:
            parsers[name or "cockpit"] = parsed.args[0]
    return parsers


def option_strings(parser: argparse.ArgumentParser) -> set[str]:
    """The flags in a parser's help: each option line starts with its flags, then two spaces."""
    flags: set[str] = set()
    for line in parser.format_help().splitlines():
        if not line.lstrip().startswith("-"):
            continue
        invocation = re.split(r"\s{2,}", line.strip())[0]
        flags.update(part.split()[0] for part in invocation.split(", "))
    return flags


def documentation() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def test_every_flag_is_documented(monkeypatch):
    parsers = command_parsers(monkeypatch)
    assert {"cockpit", *cli.COMMANDS} <= set(parsers)
    text = documentation()
    missing = sorted(
        f"cockpit {name} {flag}" if name != "cockpit" else f"cockpit {flag}"
        for name, parser in parsers.items()
        for flag in option_strings(parser)
        if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text)
    )
    assert not missing, f"flags not named in README.md or docs/*.md: {', '.join(missing)}"


KEY_NAMES = {"question_mark": "?", "full_stop": "."}


def ui_bindings() -> dict[str, set[str]]:
    """Every key bound in cockpit/ui (the app, its screens and widgets, `cockpit play`), by class."""
    import cockpit.ui

    found: dict[str, set[str]] = {}
    for info in pkgutil.walk_packages(cockpit.ui.__path__, "cockpit.ui."):
        module = importlib.import_module(info.name)
        for cls in vars(module).values():
            if not (isinstance(cls, type) and cls.__module__ == module.__name__ and "BINDINGS" in vars(cls)):
                continue
            for binding in vars(cls)["BINDINGS"]:
                keys = binding.key if isinstance(binding, Binding) else binding[0]
                found.setdefault(cls.__name__, set()).update(KEY_NAMES.get(k, k) for k in keys.split(","))
    return found


def key_documented(key: str, text: str) -> bool:
    if f"`{key}`" in text:
        return True
    if len(key) == 1 and key.isdigit():  # a range: `1`–`6`
        return any(lo <= key <= hi for lo, hi in re.findall(r"`(\d)`–`(\d)`", text))
    return False


def test_every_key_is_documented():
    bindings = ui_bindings()
    assert "CockpitApp" in bindings and "PlayApp" in bindings
    text = documentation()
    missing = sorted(
        f"{key} ({cls})" for cls, keys in bindings.items() for key in keys if not key_documented(key, text)
    )
    assert not missing, f"keys not named in README.md or docs/*.md: {', '.join(missing)}"


def test_readme_stays_short_and_links_resolve():
    readme = ROOT / "README.md"
    assert len(readme.read_bytes()) < 12_000, "README.md is for a newcomer's five minutes: move reference to docs/"
    broken = [
        f"{page.relative_to(ROOT)}: {target}"
        for page in [readme, *sorted((ROOT / "docs").glob("*.md"))]
        for target in re.findall(r"\]\(([^)#\s]+)[^)]*\)", page.read_text(encoding="utf-8"))
        if "://" not in target and not (page.parent / target).exists()
    ]
    assert not broken, f"links to nothing: {', '.join(broken)}"
