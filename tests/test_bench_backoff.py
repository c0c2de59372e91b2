"""The load generator's reconnect policy (bench/backoff.py) is the browsers' (socket.js).

socket.js itself runs under node with the same random numbers as the Python side: its exported
functions, and its `createSocket` state machine through a scripted sequence of closes (a server
restart with and without a `restart` frame, refused connects, a welcome resetting the backoff).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bench import backoff

ROOT = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node runs socket.js")

RANDOMS = [0.0, 0.13, 0.5, 0.77, 0.999]

SCRIPT = r"""
import * as S from "./static/shared/socket.js";
const randoms = %(randoms)s;
const out = { constants: {}, backoff: [], restart: [], actions: [], machine: {} };
for (const name of %(names)s) out.constants[name] = S[name];
for (const [k, v] of Object.entries(S.CLOSE)) out.constants[`CLOSE_${k}`] = v;
for (let attempt = 0; attempt < 20; attempt += 1)
  for (const r of randoms) out.backoff.push(S.backoffDelay(attempt, () => r));
for (const r of randoms) out.restart.push(S.restartDelay(() => r));
for (const code of [1000, 1006, 4003, 4004, 4008, 4009, 4011, 4012, 4029])
  for (const role of ["console", "widget"])
    out.actions.push([code, role, S.closeAction(code, role)]);

// The state machine: a fake WebSocket that the script opens, feeds and closes.
const made = [];
class Fake {
  constructor() { this.readyState = 0; made.push(this); }
  send() {}
  close() { this.readyState = 3; }
}
const steps = %(steps)s;
for (const role of ["widget", "console"]) {
  let i = 0;
  const random = () => randoms[i++ %% randoms.length];
  const delays = [];
  const socket = S.createSocket({
    url: "ws://x/", role, hello: () => ({ type: "hello" }), handlers: {},
    onClose: (info) => delays.push(info.delay), random, WebSocket: Fake,
    win: new EventTarget(), doc: new EventTarget(),
  });
  for (const step of steps) {
    if (step[0] === "connect") socket.connect();
    else if (step[0] === "open") { made.at(-1).readyState = 1; made.at(-1).onopen({}); }
    else if (step[0] === "frame") made.at(-1).onmessage({ data: JSON.stringify(step[1]) });
    else if (step[0] === "close") made.at(-1).onclose({ code: step[1] });
  }
  socket.stop();
  out.machine[role] = delays;
}
console.log(JSON.stringify(out));
"""

# A restart with a frame, one without, refused connects in between, a welcome resetting the
# count, an erasure (the widget forgets and backs off), and the console's end of login.
STEPS = [
    ["connect"],
    ["open"],
    ["frame", {"type": "welcome"}],
    ["frame", {"type": "restart", "retry_after_ms": 1234}],
    ["close", 4012],
    ["connect"],
    ["close", 1006],
    ["connect"],
    ["close", 1006],
    ["connect"],
    ["open"],
    ["frame", {"type": "welcome"}],
    ["close", 4012],
    ["connect"],
    ["open"],
    ["frame", {"type": "restart", "retry_after_ms": 99999}],
    ["close", 4012],
    ["connect"],
    ["open"],
    ["frame", {"type": "restart", "retry_after_ms": "soon"}],
    ["close", 4011],
    ["connect"],
    ["close", 4004],
    ["connect"],
    ["close", 4003],
]


@pytest.fixture(scope="module")
def js():
    script = SCRIPT % {
        "randoms": json.dumps(RANDOMS),
        "names": json.dumps(backoff.NAMES),
        "steps": json.dumps(STEPS),
    }
    proc = subprocess.run(
        [NODE, "--input-type=module", "-e", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_constants_are_read_from_socket_js(js):
    assert backoff.constants() == js["constants"]
    assert set(backoff.NAMES) <= set(js["constants"])


def test_backoff_and_restart_delays_match(js):
    ours = [backoff.backoff_delay_ms(a, lambda r=r: r) for a in range(20) for r in RANDOMS]
    assert ours == pytest.approx(js["backoff"])
    assert max(ours) > 0  # the comparison covers real delays, not zeros only
    assert [backoff.restart_delay_ms(lambda r=r: r) for r in RANDOMS] == pytest.approx(
        js["restart"]
    )


def test_close_actions_match(js):
    assert [[c, role, backoff.close_action(c, role)] for c, role, _ in js["actions"]] == js[
        "actions"
    ]
    assert {a for *_, a in js["actions"]} == {"login", "forget", "restart", "backoff"}


def test_the_reconnect_state_machine_matches(js):
    for role in ("widget", "console"):
        seq = iter(RANDOMS * 10)
        machine = backoff.Reconnect(role, lambda seq=seq: next(seq))
        delays = []
        for step in STEPS:
            if step[0] == "frame":
                machine.on_frame(step[1])
            elif step[0] == "close":
                delays.append(machine.on_close(step[1]))
        assert delays == pytest.approx(js["machine"][role]), role
    # The sequence exercises each branch: the frame's delay, its cap, the jittered restart,
    # growing backoff after refused connects, and the console's stop at 4003.
    assert js["machine"]["widget"][0] == 1234
    assert js["machine"]["widget"][4] == backoff.constants()["BACKOFF_CAP_MS"]
    assert js["machine"]["console"][-1] is None


def test_a_socket_js_without_the_constants_is_a_clear_error(tmp_path):
    bad = tmp_path / "socket.js"
    bad.write_text("export const BACKOFF_BASE_MS = 1000;\n")
    with pytest.raises(RuntimeError, match="no longer defines"):
        backoff.constants.__wrapped__(bad)
