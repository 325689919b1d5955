"""The documentation keeps up with the code: the configuration reference is regenerated from
config.py, and every flag and key a user can use is named in README.md or docs/."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

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
