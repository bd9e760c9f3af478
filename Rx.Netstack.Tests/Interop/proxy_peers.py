#!/usr/bin/env python3
"""Peers for the `rx-netstack proxy` interop tests (ProxyCommandTests.cs), each run inside one of the test's namespaces.

  proxy_peers.py serve PORT HTTP_PORT      TCP echo and UDP echo on PORT, a small HTTP server on HTTP_PORT (IPv4 and IPv6);
                                           prints "ready" once listening, then one line per TCP connection it served.
  proxy_peers.py bigecho HOST PORT BYTES   one TCP connection: sends BYTES of seeded random data while reading the echo,
                                           shuts down its write side, reads to end of stream; prints JSON, exit 0 when exact.
  proxy_peers.py udp HOST PORT COUNT       COUNT datagrams, each answered (echo) within 5 s; or "refused" if ICMP said so.
  proxy_peers.py connect HOST PORT         one TCP connect (20 s at most): prints "connected", "refused" or the errno's name.
  proxy_peers.py stream HOST PORT          sends to the echo server until the connection fails; prints how it ended.
  proxy_peers.py socks5 PORT               a SOCKS5 server (RFC 1928, no authentication, CONNECT and UDP ASSOCIATE) on
                                           127.0.0.1:PORT; prints a line per connect, association and relayed datagram.
"""
import asyncio
import hashlib
import json
import random
import resource
import socket
import struct
import sys
import time


def raise_file_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))


async def serve(port, http_port):
    raise_file_limit()
    served = 0

    async def echo(reader, writer):
        nonlocal served
        total = 0
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                total += len(chunk)
                writer.write(chunk)
                await writer.drain()
            writer.write_eof()
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            served += 1

    async def http(reader, writer):
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            path = request.split(b" ")[1].decode()
            body = f"<h1>behind the proxy</h1><p>{path}</p>\n".encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            await writer.drain()
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    class UdpEcho(asyncio.DatagramProtocol):
        def connection_made(self, transport):
            self.transport = transport

        def datagram_received(self, data, addr):
            self.transport.sendto(data, addr)

    loop = asyncio.get_running_loop()
    servers = []
    for host in ("0.0.0.0", "::"):
        servers.append(await asyncio.start_server(echo, host, port, backlog=4096, reuse_address=True))
        servers.append(await asyncio.start_server(http, host, http_port, backlog=4096, reuse_address=True))
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        await loop.create_datagram_endpoint(UdpEcho, sock=sock)
    print("ready", flush=True)
    await asyncio.Event().wait()


async def bigecho(host, port, size):
    started = time.monotonic()
    rng = random.Random(size)
    reader, writer = await asyncio.open_connection(host, port)
    sent_hash, received_hash = hashlib.sha256(), hashlib.sha256()
    received = 0

    async def send():
        left = size
        while left > 0:
            chunk = rng.randbytes(min(65536, left))
            sent_hash.update(chunk)
            writer.write(chunk)
            await writer.drain()
            left -= len(chunk)
        writer.write_eof()

    async def receive():
        nonlocal received
        while True:
            chunk = await reader.read(262144)
            if not chunk:
                return
            received += len(chunk)
            received_hash.update(chunk)

    await asyncio.gather(send(), receive())
    writer.close()
    seconds = time.monotonic() - started
    ok = received == size and sent_hash.digest() == received_hash.digest()
    print(json.dumps({"ok": ok, "sent": size, "received": received, "seconds": round(seconds, 2),
                      "mbit_s": round(size * 8 * 2 / seconds / 1e6, 1)}))
    return 0 if ok else 1


def udp(host, port, count):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.settimeout(5)
    sock.connect((host, port))
    answered = 0
    try:
        for i in range(count):
            payload = f"datagram {i}".encode() * (i + 1)
            sock.send(payload)
            if sock.recv(65536) == payload:
                answered += 1
    except ConnectionRefusedError:
        print("refused")
        return 2
    except socket.timeout:
        print(f"timeout after {answered}")
        return 1
    print(f"answered {answered} of {count}")
    return 0 if answered == count else 1


def connect(host, port):
    import errno
    started = time.monotonic()
    try:
        socket.create_connection((host, port), timeout=20).close()
        print("connected")
        return 0
    except ConnectionRefusedError:
        print(f"refused after {time.monotonic() - started:.2f} s")
        return 0
    except socket.timeout:
        print("timeout")
        return 1
    except OSError as e:
        print(f"{errno.errorcode.get(e.errno, e.errno)} after {time.monotonic() - started:.2f} s")
        return 0


def stream(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_connection((host, port), timeout=30)
    sock.setblocking(True)
    sock.settimeout(30)
    sent = 0
    chunk = b"x" * 65536
    print("streaming", flush=True)
    try:
        while True:
            sent += sock.send(chunk)
            sock.setblocking(False)
            try:
                while sock.recv(1 << 20):
                    pass
            except BlockingIOError:
                pass
            sock.settimeout(30)
    except (ConnectionResetError, BrokenPipeError) as e:
        print(f"reset after {sent} bytes: {type(e).__name__}", flush=True)
        return 0
    except OSError as e:
        print(f"failed after {sent} bytes: {type(e).__name__}: {e}", flush=True)
        return 1


class UdpRelay(asyncio.DatagramProtocol):
    """One UDP association's relay (RFC 1928 section 7) on a dual-stack socket: datagrams from the client (its control
    connection's address; the port it announced, or else the first one seen) are unwrapped and sent to their DST.ADDR:DST.PORT;
    datagrams from anyone else are wrapped with their source and sent to the client. Fragments are not reassembled: dropped."""

    def __init__(self, client_ip, client_port, number):
        self.client_ip = client_ip
        self.client_port = client_port
        self.number = number

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        host, port = addr[0], addr[1]
        if host == self.client_ip and self.client_port in (0, port):
            self.client_port = port
            if len(data) < 4 or data[0:2] != b"\0\0":
                print(f"socks5 udp #{self.number} malformed", flush=True)
                return
            if data[2] != 0:
                print(f"socks5 udp #{self.number} fragment dropped", flush=True)
                return
            if data[3] == 1 and len(data) >= 10:
                destination, offset = socket.inet_ntop(socket.AF_INET, data[4:8]), 8
                target = "::ffff:" + destination
            elif data[3] == 4 and len(data) >= 22:
                destination, offset = socket.inet_ntop(socket.AF_INET6, data[4:20]), 20
                target = destination
            else:
                print(f"socks5 udp #{self.number} malformed", flush=True)
                return
            destination_port = struct.unpack("!H", data[offset:offset + 2])[0]
            payload = data[offset + 2:]
            self.transport.sendto(payload, (target, destination_port))
            print(f"socks5 udp #{self.number} {destination} {destination_port} {len(payload)}", flush=True)
        elif self.client_port:
            if host.startswith("::ffff:"):
                header = b"\0\0\0\x01" + socket.inet_pton(socket.AF_INET, host[7:])
            else:
                header = b"\0\0\0\x04" + socket.inet_pton(socket.AF_INET6, host)
            self.transport.sendto(header + struct.pack("!H", port) + data, (self.client_ip, self.client_port))


async def socks5(port):
    connections = 0
    associations = 0

    async def pipe(reader, writer):
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                writer.write(chunk)
                await writer.drain()
            writer.write_eof()
        except (ConnectionError, OSError):
            writer.close()

    async def associate(reader, writer, address, port_):
        """UDP ASSOCIATE: a relay socket for the association, which lasts until the control connection closes."""
        nonlocal associations
        associations += 1
        number = associations
        peer = writer.get_extra_info("peername")[0]
        relay_socket = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        relay_socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        relay_socket.bind(("::", 0))
        client_ip = peer if ":" in peer else "::ffff:" + peer
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: UdpRelay(client_ip, port_, number), sock=relay_socket)
        relay_port = relay_socket.getsockname()[1]
        print(f"socks5 udp associate #{number} for {address} {port_} on {relay_port}", flush=True)
        writer.write(b"\x05\x00\x00\x01" + socket.inet_pton(socket.AF_INET, "127.0.0.1") + struct.pack("!H", relay_port))
        await writer.drain()
        try:
            while await reader.read(4096):
                pass
        finally:
            transport.close()
            print(f"socks5 udp #{number} ended", flush=True)

    async def handle(reader, writer):
        nonlocal connections
        try:
            version, methods = await reader.readexactly(2)
            await reader.readexactly(methods)
            writer.write(b"\x05\x00")
            _, command, _, atyp = await reader.readexactly(4)
            address = socket.inet_ntop(socket.AF_INET if atyp == 1 else socket.AF_INET6, await reader.readexactly(4 if atyp == 1 else 16))
            port_ = struct.unpack("!H", await reader.readexactly(2))[0]
            if command == 3:
                await associate(reader, writer, address, port_)
                return
            if command != 1:
                writer.write(b"\x05\x07\x00\x01" + bytes(6))  # command not supported
                return
            try:
                up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(address, port_), 10)
            except ConnectionRefusedError:
                writer.write(b"\x05\x05\x00\x01" + bytes(6))
                writer.close()
                return
            except OSError:
                writer.write(b"\x05\x04\x00\x01" + bytes(6))
                writer.close()
                return
            connections += 1
            print(f"socks5 connect {address} {port_} #{connections}", flush=True)
            writer.write(b"\x05\x00\x00\x01" + bytes(6))
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    await asyncio.start_server(handle, "127.0.0.1", port)
    print("ready", flush=True)
    await asyncio.Event().wait()


def main():
    mode = sys.argv[1]
    if mode == "serve":
        return asyncio.run(serve(int(sys.argv[2]), int(sys.argv[3])))
    if mode == "bigecho":
        return asyncio.run(bigecho(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    if mode == "udp":
        return udp(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    if mode == "connect":
        return connect(sys.argv[2], int(sys.argv[3]))
    if mode == "stream":
        return stream(sys.argv[2], int(sys.argv[3]))
    if mode == "socks5":
        return asyncio.run(socks5(int(sys.argv[2])))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
