"""Starts `make run` on the embedded defaults, waits for /healthz, opens a visitor websocket,
then stops everything it started."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import websockets

PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"


def wait_for_health(deadline: float) -> dict:
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{BASE}/healthz", timeout=2) as response:
                return json.load(response)
        except Exception:
            time.sleep(1)
    raise SystemExit("make run did not serve /healthz within the time limit")


async def visitor_socket() -> dict:
    async with websockets.connect(
        f"ws://127.0.0.1:{PORT}/ws/visitor/", origin=BASE, open_timeout=10
    ) as ws:
        await ws.send(json.dumps({"type": "hello"}))
        return json.loads(await asyncio.wait_for(ws.recv(), 10))


def main() -> None:
    env = {**os.environ, "HELAO_VAR_DIR": "var/smoke"}
    proc = subprocess.Popen(
        ["make", "run", f"PORT={PORT}"],
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = wait_for_health(time.time() + 120)
        print("healthz:", health["status"], health["database"], health["channel_layer"])
        assert health["database"] == "ok" and health["channel_layer"] == "ok", health
        welcome = asyncio.run(visitor_socket())
        print("visitor websocket:", welcome["type"])
        assert welcome["type"] == "welcome", welcome
        # A fresh install is healthy, and beat's first purge runs at start.
        deadline = time.time() + 60
        while not health["retention"]["last_success_at"]:
            assert time.time() < deadline, health
            time.sleep(1)
            health = wait_for_health(time.time() + 10)
        assert health["status"] == "ok", health
        print("first purge at start:", health["retention"]["last_success_at"])
        # The port `make run` serves on may embed the widget.
        with urllib.request.urlopen(f"{BASE}/widget/panel/?lang=en", timeout=10) as response:
            policy = response.headers["Content-Security-Policy"]
        assert f"frame-ancestors 'self' {BASE}" in policy, policy
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        if "Traceback" in out:
            print(out[-4000:])
            sys.exit(1)
        # The startup output is the addresses and demo accounts, not framework noise.
        for noise in ("SecurityWarning", "No hostname was supplied"):
            if noise in out:
                print(out[-4000:])
                sys.exit(f"make run printed {noise!r}")
        if f"console:   {BASE}/console/" not in out or "demo accounts:" not in out:
            print(out[-4000:])
            sys.exit("make run did not print the addresses and demo accounts")
    print("make run smoke test passed")


if __name__ == "__main__":
    main()
