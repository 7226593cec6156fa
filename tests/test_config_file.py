"""``--config FILE`` (TOML): keys named like the options; flag > environment > file > default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SERVER, closed_port
from kvstore.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "kvstore.toml"
    path.write_text(text)
    return str(path)


def test_the_file_sets_options_with_underscores_or_dashes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'port = 7000\nlog-level = "debug"\nbind = ["127.0.0.1", "::1"]\n'
        'no_persist = true\nappendfsync = "always"\nprotected-mode = false\n',
    )
    config = load_config(["--config", path], {})
    assert config.port == 7000
    assert config.log_level == "debug"
    assert config.bind == ["127.0.0.1", "::1"]
    assert config.no_persist is True
    assert config.appendfsync == "always"
    assert config.protected_mode == "no"
    assert config.config == path


def test_flag_beats_environment_beats_file_beats_default(tmp_path: Path) -> None:
    path = write(tmp_path, 'port = 7000\nlog_level = "debug"\nappendfsync = "no"\n')
    environ = {"KVSTORE_CONFIG": path, "KVSTORE_PORT": "7001", "KVSTORE_LOG_LEVEL": "error"}
    config = load_config(["--port", "7002"], environ)
    assert config.port == 7002  # flag
    assert config.log_level == "error"  # environment
    assert config.appendfsync == "no"  # file
    assert config.parser == "auto"  # default


def test_the_password_variable_beats_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'requirepass = "from-file"\n')
    assert load_config(["--config", path], {}).requirepass == "from-file"
    environ = {"KVSTORE_PASSWORD": "from-env"}
    assert load_config(["--config", path], environ).requirepass == "from-env"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 1\n", "unknown option 'colour'"),
        ('config = "other.toml"\n', "unknown option 'config'"),
        ('port = "many"\n', "expected an integer"),
        ('appendfsync = "sometimes"\n', "expected one of always, everysec, no"),
        ("port = 1.5\n", "unsupported value"),
        ("port = \n", "not valid TOML"),
    ],
)
def test_a_bad_file_is_a_one_line_error(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message):
        load_config(["--config", path], {})


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(["--config", str(tmp_path / "absent.toml")], {})


def test_the_server_refuses_to_start_naming_the_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path, "prot = 5000\n")
    with closed_port() as port:  # held: the server stops before it binds a port
        done = subprocess.run(
            [sys.executable, str(SERVER), "--port", str(port), "--config", path],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 2
    assert done.stderr.strip() == f"kvstore-server: error: {path}: unknown option 'prot'"
