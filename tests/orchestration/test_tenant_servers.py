"""``python -m orchestration.tenants serve``: one real gRPC code server per tenant, each a
process whose environment holds its tenant's secrets and no other's, serving the tenant's
jobs under its own location name."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from orchestration.tenants import load_tenants, main
from tests.orchestration.tenants_helpers import tenant_raw, tenant_secrets, write_tenant

pytestmark = pytest.mark.xdist_group("tenant_servers")
DEADLINE_S = 300


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise AssertionError("no two free neighbouring ports")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def _healthy(port: int) -> bool:
    check = [sys.executable, "-m", "dagster", "api", "grpc-health-check", "-p", str(port)]
    return subprocess.run(check, capture_output=True).returncode == 0


def test_each_tenant_has_a_code_server_with_only_its_environment(tmp_path):
    folder = tmp_path / "tenants"
    for name in ("acme", "beta"):
        write_tenant(folder, name, tenant_raw(name, tmp_path / name, 8765))
    port = _free_port_pair()
    env = {**os.environ, **tenant_secrets("acme"), **tenant_secrets("beta")}
    env["BETA__SHOPIFY_TOKEN"] = "beta-token-only"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    # the deployment's Dagster home (make test exports one under data/, which a clean
    # checkout does not have yet)
    env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    (tmp_path / "dagster_home").mkdir()
    # its storage created once, before the processes that open it start (two processes
    # creating a fresh SQLite instance at once race on its schema version)
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        instance.get_runs_count()
    serve = subprocess.Popen(
        [sys.executable, "-m", "orchestration.tenants", "--dir", str(folder), "serve",
         "--base-port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not (_healthy(port) and _healthy(port + 1)):
            assert serve.poll() is None, "serve exited"
            assert time.monotonic() < deadline, "the code servers did not come up"
            time.sleep(1)
        servers = [_environ(pid) for pid in _children(serve.pid)]
        by_tenant = {e["CHANNELHOUSE_TENANT"]: e for e in servers}
        assert set(by_tenant) == {"acme", "beta"}
        acme, beta = by_tenant["acme"], by_tenant["beta"]
        assert acme["ACME__SHOPIFY_TOKEN"] and not [k for k in acme if k.startswith("BETA__")]
        assert "beta-token-only" not in acme.values()
        assert beta["BETA__SHOPIFY_TOKEN"] == "beta-token-only"
        assert not [k for k in beta if k.startswith("ACME__")]
        # the workspace points at the servers: each location lists its tenant's jobs
        workspace = tmp_path / "workspace.yaml"
        assert main(["--dir", str(folder), "workspace", "--out", str(workspace),
                     "--base-port", str(port)]) == 0  # fmt: skip
        tenants = load_tenants(folder)
        for tenant in tenants:
            listed = subprocess.run(
                [sys.executable, "-m", "dagster", "job", "list", "-w", str(workspace),
                 "-l", tenant.location_name],
                capture_output=True, text=True, env=env, cwd=tmp_path,
            )  # fmt: skip
            assert "Job: raw_history" in listed.stdout, listed.stderr[-2000:]
        assert yaml.safe_load(workspace.read_text())["load_from"][1]["grpc_server"] == {
            "host": "127.0.0.1",
            "port": port + 1,
            "location_name": "tenant_beta",
        }
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0
