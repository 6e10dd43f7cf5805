#!/usr/bin/env python3
"""A nightshift agent that calls an LLM: outlines and drafts a post, waits for a person to
approve it, then publishes it. Stdlib only; run it under `nightshift run` (README, "Agents
that call LLMs", runs it end to end).

- Three memoized steps (`outline`, `draft`, `publish`): an attempt after a crash, a retry or a
  wait gets each recorded output back instead of calling (and paying) again. Each model call's
  cost, model and tokens go to the spend ledger once, when its step is recorded.
- The wait: without an `approval` yet, it prints a `wait` line and exits 75; the job waits,
  holding no worker, until `nightshift signal KEY approval 'TEXT'` (or 24 h, then it is
  dead-lettered). The next attempt finds the text as the step `approval`.
- The limit: enqueue its jobs with `--limit llm` (a `[[limit]]` of the config). A 429 prints
  `{"retry_after_s": N, "limit": "llm"}` and exits 75: the job is snoozed, and every job of
  `llm` is held for N seconds instead of each meeting the 429 in turn.

`call_model` stands in for a provider's client. AGENT_PROVIDER_BUSY names a file: while it
exists, the stand-in answers one call with a 429 (and deletes it), to try the limit's hold.
"""

import json
import os
import socket
import sys

LIMIT = "llm"  # the [[limit]] its jobs name


class RateLimited(Exception):
    def __init__(self, retry_after_s):
        super().__init__(f"429: retry after {retry_after_s}s")
        self.retry_after_s = retry_after_s


def call_model(prompt):
    """-> (text, usage). Replace the body with your provider's call and its reported usage."""
    busy = os.environ.get("AGENT_PROVIDER_BUSY")
    if busy and os.path.exists(busy):
        os.remove(busy)
        raise RateLimited(1)
    words = prompt.split()
    tokens_in, text = len(words), f"(the model's answer to: {' '.join(words)})"
    usage = {"model": "small-model", "tokens_in": tokens_in, "tokens_out": len(text.split())}
    return text, {**usage, "cost_usd": 0.0001 * tokens_in}


def ask(**request):
    """One request to the runner's step socket (NIGHTSHIFT_SOCKET), for this attempt's lease."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(os.environ["NIGHTSHIFT_SOCKET"])
        f = s.makefile("rw")
        f.write(json.dumps({"lease": os.environ["NIGHTSHIFT_LEASE"], **request}) + "\n")
        f.flush()
        answer = json.loads(f.readline())
    if not answer["ok"]:
        raise RuntimeError(answer["error"])
    return answer


def step(name, fn):
    """fn() -> (text, usage), run once per job: a later attempt gets the recorded text."""
    found = ask(op="step.get", name=name)
    if found.get("none"):
        text, usage = fn()
        found = ask(op="step.put", name=name, output=text, **usage)
    return found["output"]


def publish(key, post, note):
    """The side effect, idempotent by key: publishing twice writes the same file."""
    os.makedirs("published", exist_ok=True)
    path = os.path.join("published", f"{key}.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{post}\n\napproved: {note}\n")
    return path, {}


def main():
    key = os.environ["NIGHTSHIFT_KEY"]
    topic = json.loads(sys.stdin.read() or "{}").get("topic", key)
    try:
        outline = step("outline", lambda: call_model(f"Outline a post about {topic}"))
        post = step("draft", lambda: call_model(f"Write the post for:\n{outline}"))
    except RateLimited as e:
        print(json.dumps({"retry_after_s": e.retry_after_s, "limit": LIMIT}))
        return 75
    approval = ask(op="step.get", name="approval")  # what `nightshift signal` stored
    if approval.get("none"):
        print(json.dumps({"wait": {"name": "approval", "timeout": "24h", "on_timeout": "dead"}}))
        return 75
    print("published", step("publish", lambda: publish(key, post, approval["output"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
