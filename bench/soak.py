#!/usr/bin/env python3
"""Hostile clients against a running inkspot, for bench/soak.sh.

`soak.py attack` runs the attackers; `soak.py poll` the display, in a
process of its own so that its timings are not the attackers' event loop.

Holds IDLE sockets open that send nothing (opening a new one whenever the
server closes one), SLOW slowloris sockets that send a request header a
byte a second, all from HOST's address, and meanwhile polls URL_PATH every
POLL_MS on a new connection each time, as a display does, from another
address (POLLER_FROM). Runs SECONDS, then prints one JSON line:
the polls, their latency (max, p99, over 100 ms), failed polls, and how
many sockets the attackers held at the end.
"""
import asyncio
import json
import os
import sys
import time

HOST = os.environ.get("HOST", "127.0.0.1")
# The display polls from another loopback address than the attackers: to
# the server, another client.
POLLER_FROM = os.environ.get("POLLER_FROM", "127.0.0.2")
PORT = int(os.environ["PORT"])
URL_PATH = os.environ.get("URL_PATH", "/image?spot=linda-mar&device=trmnl")
IDLE = int(os.environ.get("IDLE", "2000"))
SLOW = int(os.environ.get("SLOW", "100"))
SECONDS = float(os.environ.get("SOAK_SECONDS", "120"))
# A socket the server closes at once (a client past its share) is opened
# again after this long: a client holding sockets, not a connect flood.
# 0 floods.
REFUSED_WAIT = float(os.environ.get("REFUSED_WAIT", "1"))
POLL_MS = float(os.environ.get("POLL_MS", "200"))

held = {"idle": 0, "slow": 0}
reopened = {"idle": 0, "slow": 0}


async def hold(kind, deadline, use):
    """Keeps one socket of `kind` open until `deadline`, doing `use` with
    it, and opens it again whenever the server closes it."""
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection(HOST, PORT)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        held[kind] += 1
        opened = time.monotonic()
        try:
            await use(reader, writer, deadline)
        except (asyncio.TimeoutError, OSError):
            pass
        finally:
            held[kind] -= 1
            writer.close()
        reopened[kind] += 1
        if time.monotonic() - opened < 0.5:
            await asyncio.sleep(REFUSED_WAIT)


async def send_nothing(reader, writer, deadline):
    left = max(0.0, deadline - time.monotonic())
    await asyncio.wait_for(reader.read(1), timeout=left)


SLOW_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 4000


async def trickle(reader, writer, deadline):
    for byte in SLOW_REQUEST:
        if time.monotonic() >= deadline:
            break
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(1.0)


async def poll_once():
    start = time.monotonic()
    reader, writer = await asyncio.open_connection(HOST, PORT, local_addr=(POLLER_FROM, 0))
    writer.write(f"GET {URL_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    ok = data.startswith(b"HTTP/1.1 200")
    return time.monotonic() - start, ok


async def poller(deadline, out):
    await asyncio.sleep(5)  # the attackers first
    while time.monotonic() < deadline:
        try:
            took, ok = await asyncio.wait_for(poll_once(), timeout=5)
        except (asyncio.TimeoutError, OSError):
            took, ok = 5.0, False
        out.append((took, ok))
        await asyncio.sleep(POLL_MS / 1000)


async def attack():
    deadline = time.monotonic() + SECONDS
    tasks = [asyncio.create_task(hold("idle", deadline, send_nothing)) for _ in range(IDLE)]
    tasks += [asyncio.create_task(hold("slow", deadline, trickle)) for _ in range(SLOW)]
    await asyncio.sleep(SECONDS - 1)
    at_end = dict(held)
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps({"attackers_held_at_end": at_end, "reopened": reopened}))


async def poll():
    deadline = time.monotonic() + SECONDS
    polls = []
    await poller(deadline, polls)
    times = sorted(t for t, _ in polls)
    p99 = times[max(0, int(len(times) * 0.99) - 1)] if times else None
    print(json.dumps({
        "polls": len(polls),
        "failed": sum(1 for _, ok in polls if not ok),
        "max_ms": round(times[-1] * 1000, 1) if times else None,
        "p99_ms": round(p99 * 1000, 1) if p99 is not None else None,
        "over_100ms": sum(1 for t in times if t > 0.1),
    }))


if __name__ == "__main__":
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "attack":
        if hard < IDLE + SLOW + 64:
            sys.exit(f"this process may open {hard} files; IDLE + SLOW needs more")
        asyncio.run(attack())
    elif mode == "poll":
        asyncio.run(poll())
    else:
        sys.exit("usage: soak.py attack|poll")
