"""Which store `s3://` URIs mean (storage/target.py), on the boto3 clients SignBridge builds, and transfers
through an endpoint named only by AWS_ENDPOINT_URL_S3 on a real SeaweedFS.

Real AWS cannot be reached from the test machines: the AWS cases are checked on the client objects
(endpoint, region, addressing as a presigned URL shows it, the credential source boto3 found), which is
everything SignBridge decides; the requests themselves are boto3's. Profiles come from a private
AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE, never the machine's ~/.aws.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from signbridge.settings import load_settings
from signbridge.storage import resolve_s3_settings
from signbridge.storage.s3 import make_client
from signbridge.storage.target import AWS, EMBEDDED, ENDPOINT, choose_store

SB = [sys.executable, "-m", "signbridge"]


@pytest.fixture
def aws_env(tmp_path, monkeypatch):
    """A clean AWS environment with one profile, `dev` (region ap-southeast-2), in private files."""
    for k in list(os.environ):
        if k.startswith(("AWS_", "SIGNBRIDGE_")):
            monkeypatch.delenv(k)
    (tmp_path / "config").write_text("[profile dev]\nregion = ap-southeast-2\n")
    (tmp_path / "credentials").write_text("[dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = devsecret\n")
    env = {"AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
           "AWS_EC2_METADATA_DISABLED": "true", "SIGNBRIDGE_HOME": str(tmp_path / "home")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def _settings(monkeypatch, **env):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return load_settings()


class _Sent(Exception):
    pass


def _url(client, bucket="my-bucket", key="a/b.mp4") -> str:
    """The URL of the HeadObject request the client would send: stopped just before sending (no network)."""
    seen: list[str] = []

    def stop(request, **_kw):
        seen.append(request.url)
        raise _Sent

    client.meta.events.register("before-send.s3.HeadObject", stop)
    with pytest.raises(_Sent):
        client.head_object(Bucket=bucket, Key=key)
    return seen[0]


def test_zero_configuration_is_still_the_embedded_store(aws_env, monkeypatch):
    s = load_settings()
    choice = choose_store(s)
    assert choice.kind == EMBEDDED and "no endpoint, no AWS identity" in choice.reason
    client = make_client(resolve_s3_settings(s))  # the embedded store's endpoint, even while it is stopped
    assert client.meta.endpoint_url == f"http://127.0.0.1:{s.s3_port}"
    assert urlsplit(_url(client)).path == "/my-bucket/a/b.mp4"  # path-style


def test_a_profile_means_aws_with_its_region_and_virtual_hosted_addressing(aws_env, monkeypatch):
    s = _settings(monkeypatch, AWS_PROFILE="dev")
    choice = choose_store(s)
    assert choice.kind == AWS and "AWS_PROFILE" in choice.reason
    r = resolve_s3_settings(s)
    assert r.s3_endpoint is None and r.s3_region is None  # nothing of ours overrides boto3's resolution
    client = make_client(r)
    assert client.meta.region_name == "ap-southeast-2"  # the profile's region, not us-east-1
    assert client.meta.endpoint_url == "https://s3.ap-southeast-2.amazonaws.com"
    assert urlsplit(_url(client)).netloc == "my-bucket.s3.ap-southeast-2.amazonaws.com"  # virtual-hosted
    assert client._request_signer._credentials.method == "shared-credentials-file"
    # an explicit region still wins, as in boto3
    assert make_client(_settings(monkeypatch, AWS_DEFAULT_REGION="eu-central-1")).meta.region_name == "eu-central-1"


def test_store_s3_uses_the_credential_chain_without_any_aws_variable(aws_env, monkeypatch):
    """An instance role or the default profile leaves no variable: SIGNBRIDGE_STORE=s3 says 'AWS'."""
    with open(aws_env["AWS_CONFIG_FILE"], "a") as f:
        f.write("[default]\nregion = eu-west-3\n")
    with open(aws_env["AWS_SHARED_CREDENTIALS_FILE"], "a") as f:
        f.write("[default]\naws_access_key_id = AKIADEF\naws_secret_access_key = defsecret\n")
    assert choose_store(load_settings()).kind == EMBEDDED  # ~/.aws alone never moves a zero-config user to AWS
    s = _settings(monkeypatch, SIGNBRIDGE_STORE="s3")
    assert choose_store(s).kind == AWS
    client = make_client(resolve_s3_settings(s))
    assert client.meta.region_name == "eu-west-3" and urlsplit(_url(client)).netloc.startswith("my-bucket.s3.")
    assert client._request_signer._credentials.access_key == "AKIADEF"


def test_endpoint_variables_and_addressing(aws_env, monkeypatch):
    s = _settings(monkeypatch, AWS_ENDPOINT_URL="http://other.example:9000", AWS_ENDPOINT_URL_S3="http://minio.local:9000",
                  AWS_PROFILE="dev")
    choice = choose_store(s)
    assert choice.kind == ENDPOINT and choice.endpoint == "http://minio.local:9000"
    assert choice.reason == "AWS_ENDPOINT_URL_S3 is set"
    client = make_client(resolve_s3_settings(s))
    assert _url(client) == "http://minio.local:9000/my-bucket/a/b.mp4"  # path-style for an endpoint
    virtual = make_client(_settings(monkeypatch, SIGNBRIDGE_S3_PATH_STYLE="false"))
    assert _url(virtual) == "http://my-bucket.minio.local:9000/a/b.mp4"
    # the embedded store on request, whatever else is set
    assert choose_store(_settings(monkeypatch, SIGNBRIDGE_STORE="embedded")).kind == EMBEDDED


def test_the_tasks_get_the_same_choice(aws_env, monkeypatch):
    from signbridge.orchestrate.airflow_env import airflow_env

    env = airflow_env(_settings(monkeypatch, AWS_PROFILE="dev"))
    assert env["SIGNBRIDGE_STORE"] == "auto" and env["AWS_PROFILE"] == "dev"
    assert not {"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION"} & set(env)  # the profile's region holds
    s = load_settings(env={"SIGNBRIDGE_HOME": aws_env["SIGNBRIDGE_HOME"]})
    from signbridge.storage.embedded import EmbeddedStore

    env = airflow_env(EmbeddedStore(s).client_settings())
    assert env["AWS_ENDPOINT_URL"] == env["AWS_ENDPOINT_URL_S3"] == f"http://127.0.0.1:{s.s3_port}"


def test_process_does_not_start_the_embedded_store_for_aws(aws_env, monkeypatch):
    from signbridge.orchestrate.embedded import ensure_store

    s = _settings(monkeypatch, AWS_PROFILE="dev")
    said: list[str] = []
    got, started = ensure_store(s, ["s3://my-bucket/videos/"], said.append)
    assert not started and got == s
    assert said == ["object store: AWS S3 (AWS_PROFILE set and no endpoint: boto3's credential chain and region "
                    "(SIGNBRIDGE_STORE=embedded keeps the embedded store))"]
    assert not (os.path.exists(os.path.join(s.home, "s3", "weed.pid")))


def test_info_says_which_store_and_why(aws_env, tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SIGNBRIDGE_"))}, **aws_env,
           "AWS_PROFILE": "dev"}
    res = subprocess.run(SB + ["info", "--json"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    store = json.loads(res.stdout)["store"]
    assert store["kind"] == "AWS S3" and store["why"].startswith("AWS_PROFILE set and no endpoint")
    assert store["endpoint"] == "https://s3.ap-southeast-2.amazonaws.com" and store["region"] == "ap-southeast-2"
    assert store["addressing"].startswith("virtual-hosted") and store["credentials"] == "shared-credentials-file"
    text = subprocess.run(SB + ["info"], env={k: v for k, v in env.items() if k != "AWS_PROFILE"}, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path).stdout
    assert "embedded SeaweedFS at http://127.0.0.1:" in text and "why" in text and "no AWS identity" in text
    assert not os.path.exists(os.path.join(aws_env["SIGNBRIDGE_HOME"], "s3"))  # `info` creates nothing


def test_transfers_through_an_endpoint_named_by_aws_endpoint_url_s3(s3_server, s3_bucket, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SIGNBRIDGE_"))}
    env.update({"SIGNBRIDGE_HOME": str(tmp_path / "home"), "AWS_ENDPOINT_URL_S3": s3_server.s3_endpoint,
                "AWS_ACCESS_KEY_ID": s3_server.s3_access_key, "AWS_SECRET_ACCESS_KEY": s3_server.s3_secret_key})
    (tmp_path / "a.bin").write_bytes(os.urandom(4000))
    put = subprocess.run(SB + ["storage", "put", str(tmp_path / "a.bin"), f"{s3_bucket}/x/a.bin"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert put.returncode == 0, put.stderr
    get = subprocess.run(SB + ["storage", "get", f"{s3_bucket}/x/a.bin", str(tmp_path / "b.bin")], env=env,
                         capture_output=True, text=True, timeout=60)
    assert get.returncode == 0, get.stderr
    assert (tmp_path / "b.bin").read_bytes() == (tmp_path / "a.bin").read_bytes()
    assert not (tmp_path / "home" / "s3" / "weed.pid").exists()  # no embedded store was started for it
