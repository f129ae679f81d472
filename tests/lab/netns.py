"""Network namespaces: run ``ip``/``nft``/``tc`` commands, and open sockets or run blocking code
inside a namespace from the test process itself.

A network namespace is per *thread* once entered with setns(2), and a socket stays in the
namespace it was created in for its whole life. So a short-lived thread enters the namespace,
runs the given function (which opens its sockets there) and ends; the sockets it made can then be
used from any thread or from the asyncio loop. Python 3.11 has no ``os.setns``: libc's is called
through ctypes.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000  # <sched.h>
_libc = ctypes.CDLL(None, use_errno=True)


def run(*argv: str, input_text: str | None = None) -> str:
    """Runs a command; a failure raises with the command and its stderr (nothing is hidden)."""
    done = subprocess.run(argv, input=input_text, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def ns_run(namespace: str, *argv: str, input_text: str | None = None) -> str:
    return run("ip", "netns", "exec", namespace, *argv, input_text=input_text)


def nft(namespace: str, ruleset: str) -> None:
    """Loads an nftables ruleset (``nft -f -``) into the namespace, atomically."""
    ns_run(namespace, "nft", "-f", "-", input_text=ruleset)


def list_namespaces() -> list[str]:
    # Lines look like "name (id: 3)" or just "name".
    return [line.split()[0] for line in run("ip", "netns", "list").splitlines() if line.strip()]


def add_namespace(name: str) -> None:
    run("ip", "netns", "add", name)
    # No IPv6 duplicate address detection on the lab's links (set before any link exists, so
    # every one inherits it): otherwise each new link's fe80:: address turns from tentative to
    # valid a second or two after the link comes up, Chromium sees a network change
    # (NetworkChangeNotifier) and fails the page's requests in flight with ERR_NETWORK_CHANGED.
    ns_run(name, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0",
           "net.ipv6.conf.all.accept_dad=0")  # fmt: skip
    ns_run(name, "ip", "link", "set", "lo", "up")


def namespace_pids(name: str) -> list[int]:
    try:
        return [int(pid) for pid in run("ip", "netns", "pids", name).split()]
    except RuntimeError:
        return []


def delete_namespace(name: str) -> None:
    """Removes the namespace; its veth ends go with it (the peer end disappears too)."""
    run("ip", "netns", "delete", name)


def _enter(namespace: str) -> None:
    fd = os.open(f"/var/run/netns/{namespace}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({namespace}): {os.strerror(errno)}")
    finally:
        os.close(fd)


def call_in(namespace: str, function: Callable[[], T]) -> T:
    """Runs ``function`` in a fresh thread inside the namespace and returns its result."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            _enter(namespace)
            outcome.append(function())
        except BaseException as exc:  # handed to the caller's thread below
            failure.append(exc)

    thread = threading.Thread(target=body, name=f"netns-{namespace}", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


async def acall_in(namespace: str, function: Callable[[], T]) -> T:
    """``call_in`` without blocking the event loop (a blocking HTTP request to a lab node)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def body() -> None:
        try:
            _enter(namespace)
            result = function()
        except BaseException as exc:
            loop.call_soon_threadsafe(_settle_error, future, exc)
        else:
            loop.call_soon_threadsafe(_settle, future, result)

    threading.Thread(target=body, name=f"netns-{namespace}", daemon=True).start()
    return await future


def _settle(future: asyncio.Future[T], result: T) -> None:
    if not future.done():
        future.set_result(result)


def _settle_error(future: asyncio.Future[T], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def open_socket(
    namespace: str, family: socket.AddressFamily, kind: socket.SocketKind
) -> socket.socket:
    """A socket that lives in the namespace (bind/connect/send from anywhere afterwards)."""
    return call_in(namespace, lambda: socket.socket(family, kind))


def exec_argv(namespace: str, argv: Sequence[str]) -> list[str]:
    """The command line that runs ``argv`` inside the namespace (``ip netns exec`` execs it in
    place, so the process id is the program's own)."""
    return ["ip", "netns", "exec", namespace, *argv]
