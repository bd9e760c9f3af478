#!/usr/bin/env python3
"""Load clients for Rx.Netstack's interop load tests (LoadTests.cs), run inside the test's network namespace.

  load_client.py echo HOST PORT --connections N --size BYTES [--deadline S]
      N concurrent TCP connections at once; each sends BYTES of its own random data, shuts down its write side, reads
      to end of stream and checks the echo byte for byte.
  load_client.py http HOST PORT PATH --clients N --requests R [--deadline S]
      N concurrent keep-alive HTTP/1.1 connections, R requests one after another on each; every answer must be 200.

Prints one JSON line (ok, failed, the first failures with their reasons) and exits 0 only when every one succeeded.
"""
import argparse
import asyncio
import json
import os
import resource
import sys
import time


def raise_file_limit(needed):
    # 1,000 sockets plus the interpreter's own descriptors exceed the usual soft limit of 1,024.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, needed + 256)) if hard != resource.RLIM_INFINITY else max(soft, needed + 256)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


async def echo_one(index, host, port, size):
    payload = os.urandom(size)
    stage = "connect"
    try:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            stage = "send"
            writer.write(payload)
            await writer.drain()
            writer.write_eof()
            stage = "receive"
            received = bytearray()
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                received += chunk
        finally:
            writer.close()
        if bytes(received) == payload:
            return None
        first = next((i for i, (a, b) in enumerate(zip(received, payload)) if a != b), min(len(received), len(payload)))
        return f"#{index}: echoed {len(received)} of {size} bytes, first difference at byte {first}"
    except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
        return f"#{index}: {stage}: {type(e).__name__}: {e}"


async def read_response(reader):
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed before a status line")
    parts = status_line.decode("latin-1").split(" ", 2)
    status = int(parts[1])
    length, chunked, close = None, False, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection" and value == "close":
            close = True
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, close


async def http_one(index, host, port, path, requests):
    host_header = f"[{host}]" if ":" in host else host
    request = f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: rx-load\r\n\r\n".encode()
    done = 0
    try:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for _ in range(requests):
                writer.write(request)
                await writer.drain()
                status, close = await read_response(reader)
                if status != 200:
                    return done, f"#{index}: request {done + 1} answered {status}"
                done += 1
                if close and done < requests:
                    return done, f"#{index}: server closed the keep-alive connection after {done} requests"
        finally:
            writer.close()
        return done, None
    except Exception as e:  # noqa: BLE001
        return done, f"#{index}: after {done} answered: {type(e).__name__}: {e}"


async def with_deadline(make, deadline, index):
    try:
        return await asyncio.wait_for(make(), deadline)
    except asyncio.TimeoutError:
        return None


async def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    echo = sub.add_parser("echo")
    echo.add_argument("host")
    echo.add_argument("port", type=int)
    echo.add_argument("--connections", type=int, default=1000)
    echo.add_argument("--size", type=int, default=10240)
    echo.add_argument("--deadline", type=float, default=60)
    http = sub.add_parser("http")
    http.add_argument("host")
    http.add_argument("port", type=int)
    http.add_argument("path")
    http.add_argument("--clients", type=int, default=200)
    http.add_argument("--requests", type=int, default=25)
    http.add_argument("--deadline", type=float, default=60)
    args = parser.parse_args()

    started = time.monotonic()
    failures = []
    if args.mode == "echo":
        raise_file_limit(args.connections)
        tasks = [asyncio.ensure_future(echo_one(i, args.host, args.port, args.size)) for i in range(args.connections)]
        done, pending = await asyncio.wait(tasks, timeout=args.deadline)
        for task in pending:
            task.cancel()
        for i, task in enumerate(tasks):
            if task in pending:
                failures.append(f"#{i}: no complete echo within {args.deadline:g} s")
            elif task.result() is not None:
                failures.append(task.result())
        total = args.connections
        summary = {"mode": "echo", "connections": total, "bytes_each": args.size}
    else:
        raise_file_limit(args.clients)
        tasks = [asyncio.ensure_future(http_one(i, args.host, args.port, args.path, args.requests)) for i in range(args.clients)]
        done, pending = await asyncio.wait(tasks, timeout=args.deadline)
        for task in pending:
            task.cancel()
        answered = 0
        for i, task in enumerate(tasks):
            if task in pending:
                failures.append(f"#{i}: not finished within {args.deadline:g} s")
                continue
            count, failure = task.result()
            answered += count
            if failure is not None:
                failures.append(failure)
        total = args.clients
        summary = {"mode": "http", "clients": total, "requests_each": args.requests, "answered_200": answered,
                   "expected": args.clients * args.requests}
    summary.update({
        "ok": total - len(failures),
        "failed": len(failures),
        "seconds": round(time.monotonic() - started, 2),
        "first_failures": failures[:20],
    })
    print(json.dumps(summary))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
