#!/usr/bin/env python3
"""An example nightshift agent: summarises a topic, idempotently.

nightshift runs it once per attempt with the job's payload on stdin and NIGHTSHIFT_KEY,
NIGHTSHIFT_QUEUE, NIGHTSHIFT_ATTEMPT and NIGHTSHIFT_MAX_ATTEMPTS in its environment.

- Its side effect (one line per key in the effects file, first argument or AGENT_EFFECTS) is
  keyed by NIGHTSHIFT_KEY: a job that runs again after a crash does not write twice.
- Its two model calls are memoized steps (`step` below): an attempt after a failure gets the
  output a former attempt recorded instead of calling (and paying for) the model again. Each
  step's cost is charged against the daily cap once, when it is recorded.
- A payload with "poison" always fails (it ends in the dead letter); "flaky" fails on the
  first attempt only; "invalid" exits 65 (EX_DATAERR), which nightshift dead-letters at once.
- AGENT_SLEEP (seconds) makes each attempt take that long, for trying out shutdown and crashes.
"""

import fcntl
import json
import os
import socket
import sys
import time


def step(name, fn):
    """fn() -> (result, cost_usd), run once per job: a later attempt gets the recorded result."""
    path, lease = os.environ.get("NIGHTSHIFT_SOCKET"), os.environ.get("NIGHTSHIFT_LEASE")
    if not path:  # not under a runner: just run it, its cost charged to the attempt
        result, cost = fn()
        print(json.dumps({"cost_usd": cost}))
        return result
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        f = s.makefile("rw")

        def ask(**request):
            f.write(json.dumps({"lease": lease, "name": name, **request}) + "\n")
            f.flush()
            answer = json.loads(f.readline())
            if not answer["ok"]:
                raise RuntimeError(answer["error"])
            return answer

        found = ask(op="step.get")
        if found.get("none"):
            result, cost = fn()
            found = ask(op="step.put", output=json.dumps(result), cost_usd=cost)
        return json.loads(found["output"])


def main() -> int:
    key = os.environ["NIGHTSHIFT_KEY"]
    attempt = int(os.environ.get("NIGHTSHIFT_ATTEMPT", "1"))
    effects = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("AGENT_EFFECTS", "effects.txt")
    raw = sys.stdin.read()
    try:
        payload = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as e:
        print(f"payload is not JSON: {e}", file=sys.stderr)
        return 65
    if not isinstance(payload, dict) or payload.get("invalid"):
        print("payload is not a topic object", file=sys.stderr)
        return 65

    time.sleep(float(os.environ.get("AGENT_SLEEP", "0")))
    topic = payload.get("topic", key)
    # Two model calls, each a step: recorded once, paid for once.
    notes = step("research", lambda: (f"notes on {topic}", 0.0006))
    if payload.get("poison"):
        print(f"the model refused topic {payload.get('topic')!r}: content policy", file=sys.stderr)
        return 1
    if payload.get("flaky") and attempt == 1:
        # A failed attempt, retried after the backoff. (Exit 75 would snooze the job instead:
        # due again after {"retry_after_s": N}, no attempt counted, for an upstream's 429.)
        print("upstream timed out (HTTP 504)", file=sys.stderr)
        return 1

    summary = step("summarize", lambda: (f"summary of {notes[len('notes on '):]}", 0.0006))
    with open(effects, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        done = {line.split("\t", 1)[0] for line in f.read().splitlines()}
        if key not in done:
            f.write(f"{key}\t{summary}\n")
            f.flush()
            os.fsync(f.fileno())
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
