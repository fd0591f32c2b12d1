"""Settings: precedence, parsing, validation, and that every setting is documented."""
from __future__ import annotations

import re

import pytest

from signbridge.errors import ConfigError
from signbridge.settings import SETTINGS_TABLE, Settings, load_settings


def test_defaults_env_and_overrides(tmp_path):
    s = load_settings(env={})
    assert s.fps == 15.0 and s.composer == "rules" and s.s3_endpoint is None
    s = load_settings(env={"SIGNBRIDGE_FPS": "30", "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
                           "SIGNBRIDGE_S3_PATH_STYLE": "false", "SIGNBRIDGE_HOME": str(tmp_path)})
    assert s.fps == 30.0 and s.s3_endpoint == "http://127.0.0.1:9000" and s.s3_path_style is False
    assert s.home == str(tmp_path)
    s = load_settings(env={"SIGNBRIDGE_FPS": "30"}, fps=10.0)
    assert s.fps == 10.0  # a CLI flag beats the environment


def test_endpoint_variables_in_boto3_order():
    """AWS_ENDPOINT_URL_S3 beats AWS_ENDPOINT_URL (as in boto3); the --s3-endpoint flag beats both."""
    env = {"AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_S3": "http://b:2"}
    assert load_settings(env=env).s3_endpoint == "http://b:2"
    assert load_settings(env={"AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_S3": ""}).s3_endpoint == "http://a:1"
    assert load_settings(env=env, s3_endpoint="http://c:3").s3_endpoint == "http://c:3"
    s = load_settings(env={})
    assert s.s3_region is None and s.s3_path_style is None and s.store == "auto"  # boto3 and the store decide
    with pytest.raises(ConfigError, match="SIGNBRIDGE_STORE='aws' is not one of auto, s3, embedded"):
        load_settings(env={"SIGNBRIDGE_STORE": "aws"})


@pytest.mark.parametrize("env,match", [
    ({"SIGNBRIDGE_FPS": "fast"}, "SIGNBRIDGE_FPS='fast' is not a valid float"),
    ({"SIGNBRIDGE_COMPOSER": "gpt"}, "SIGNBRIDGE_COMPOSER='gpt' is not one of rules, local, vllm"),
    ({"SIGNBRIDGE_S3_PATH_STYLE": "maybe"}, "SIGNBRIDGE_S3_PATH_STYLE"),
    ({"SIGNBRIDGE_FPS": "-1"}, "must be >= 0"),
])
def test_invalid_values_name_the_variable(env, match):
    with pytest.raises(ConfigError, match=re.escape(match)):
        load_settings(env=env)


def test_table_and_dataclass_agree():
    fields = set(Settings.__dataclass_fields__) - {"extra"}
    assert {s.name for s in SETTINGS_TABLE} == fields


def test_every_setting_is_documented(repo_root):
    doc = (repo_root / "docs" / "configuration.md").read_text()
    missing = [v for s in SETTINGS_TABLE for v in s.envs if f"`{v}`" not in doc]
    assert not missing, f"add these to docs/configuration.md: {missing}"
