"""docs/config.md is generated from the configuration dataclass and must be current."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from conftest import ROOT
from kvstore.config import ServerConfig, load_config
from kvstore.config.docs import REGENERATE, render

DOC = ROOT / "docs" / "config.md"


def test_docs_config_md_is_current() -> None:
    assert DOC.read_text() == render(), f"docs/config.md is out of date: run `{REGENERATE}`"


def test_every_option_is_listed_with_its_names() -> None:
    text = render()
    for item in dataclasses.fields(ServerConfig):
        assert f"## {item.name.replace('_', '-')}\n" in text
        assert f"`{ServerConfig.flag_name(item.name)}`" in text
        assert f"`{ServerConfig.env_name(item.name)}`" in text
    assert (
        "| [log-level](#log-level) | `--log-level` | `KVSTORE_LOG_LEVEL` | `info` | yes |" in text
    )
    assert "| [port](#port) | `--port` | `KVSTORE_PORT` | `5000` | no |" in text


def test_the_example_file_loads(tmp_path: Path) -> None:
    example = re.search(r"```toml\n(.*?)```", render(), re.DOTALL)
    assert example is not None
    path = tmp_path / "kvstore.toml"
    path.write_text(example.group(1))
    config = load_config(["--config", str(path)], {})
    assert config.bind == ["0.0.0.0"]
    assert config.log_format == "json"
