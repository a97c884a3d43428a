"""Which requests the server answers: its own host names only, and changes only from its own pages.

A page on any web site can make a visitor's browser send requests to this server. A form POST
needs no CORS permission, so without a check a foreign page could upload or replace documents
(cross-site request forgery). A domain that re-resolves to 127.0.0.1 after the page loaded (DNS
rebinding) makes the browser treat this server as that domain: same-origin, so it can read every
answer and drive the UI. The first is stopped by refusing writes whose Origin (else Referer) is not
this server's; the second by answering only the Host names the server is meant to be reached at.
`Guard` wraps the whole app, so Gradio's own routes (its event queue and upload endpoint, which
the UI's upload and remove go through) are checked like /api. CORS is off unless origins are named.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

log = logging.getLogger("policyqa.guard")

LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARD_BINDS = ("0.0.0.0", "::", "")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _split_host(value: str) -> tuple[str, int | None] | None:
    """(lower-case name without brackets or trailing dot, port) of a Host header or URL netloc; None when malformed."""
    value = value.strip().lower()
    port = None
    if value.startswith("["):
        name, close, rest = value[1:].partition("]")
        if not close or (rest and not rest.startswith(":")):
            return None
        port = rest[1:] if rest else None
    elif value.count(":") > 1:  # a bare IPv6 address: not valid in a Host header, but unambiguous
        name = value
    else:
        name, colon, rest = value.partition(":")
        port = rest if colon else None
    if not name or (port is not None and not port.isdigit()):
        return None
    return name.rstrip("."), int(port) if port is not None else None


def _is_loopback(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return name == "localhost" or name.endswith(".localhost")


def machine_names() -> set[str]:
    """This machine's host name and addresses: what people type to reach a server bound to 0.0.0.0."""
    names = {socket.gethostname(), socket.getfqdn()}
    with contextlib.suppress(OSError):
        names |= {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)}
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))  # no packet is sent: this asks which address the LAN route would use
        names.add(s.getsockname()[0])
    return {n.lower().split("%")[0] for n in names if n}


def hosts_for(bind: str, extra: Iterable[str] = ()) -> list[str]:
    """The Host names to answer when serving on `bind`: loopback always, `bind` itself, the machine's own
    names and addresses when `bind` is a wildcard (0.0.0.0, ::), and the `--allowed-host` names."""
    names = [*LOOPBACK]
    if bind in WILDCARD_BINDS:
        names += sorted(machine_names())
    else:
        names.append(bind)
    names += [check_host(n) for n in extra]
    return list(dict.fromkeys(n.lower() for n in names))


def check_host(value: str) -> str:
    """A `--allowed-host` value as a name (port dropped), or ValueError naming the form it takes."""
    parts = _split_host(value) if "/" not in value and "@" not in value else None
    if value.strip() == "*" or (value.strip().startswith("*.") and parts):
        return value.strip().lower()
    if parts is None:
        raise ValueError(f"--allowed-host {value!r}: give a host name or address as browsers send it, "
                         "e.g. --allowed-host policy.example.org (no scheme or path; *.example.org for its subdomains)")
    return parts[0]


def check_origin(value: str) -> str:
    """A `--cors-origin` value as browsers send Origin (scheme://host[:port]), or ValueError naming the form."""
    u = urlsplit(value.strip())
    ok = u.scheme in ("http", "https") and u.hostname and not u.path.strip("/") and not u.query and not u.fragment
    try:
        port = u.port
    except ValueError:  # out of range
        ok, port = False, None
    ok = ok and (port is None or 0 < port < 65536)
    if not ok or u.username or _split_host(u.netloc) is None:
        raise ValueError(f"--cors-origin {value!r}: give an origin as browsers send it, e.g. --cors-origin https://portal.example.org "
                         "(scheme, host and port only; no path, no *)")
    netloc = u.netloc.lower()
    if port == DEFAULT_PORTS[u.scheme]:  # browsers leave the default port out of Origin
        netloc = netloc.rsplit(":", 1)[0]
    return f"{u.scheme}://{netloc}"


class Guard:
    """Pure ASGI middleware: refuse a Host not in `hosts`, and a write from a page of another origin.

    Writes (POST, PUT, PATCH, DELETE; every WebSocket) must come from a page of this server
    (Origin, else Referer, with the same host and port as the request's Host) or from an origin
    named with `--cors-origin`. A request with neither header is not from a browser page and passes:
    CSRF needs a browser. Refusals are one line of JSON, like every error of the API.
    """

    def __init__(self, app, hosts: Iterable[str] = LOOPBACK, origins: Iterable[str] = ()):
        self.app = app
        names = [h.lower() for h in hosts]
        self.any_host = "*" in names
        self.suffixes = tuple(h[1:] for h in names if h.startswith("*."))
        self.hosts = frozenset(h for h in names if not h.startswith("*"))
        self.origins = frozenset(o.lower() for o in origins)

    def host_allowed(self, name: str) -> bool:
        return self.any_host or name in self.hosts or _is_loopback(name) or (bool(self.suffixes) and name.endswith(self.suffixes))

    def _same_origin(self, origin: str, host: tuple[str, int | None]) -> bool:
        if origin.lower() in self.origins:
            return True
        u = urlsplit(origin)
        parts = _split_host(u.netloc) if u.scheme in DEFAULT_PORTS else None
        if parts is None:
            return False  # "null" (a sandboxed frame, a file:// page) or garbage
        default = DEFAULT_PORTS[u.scheme]
        return (parts[0], parts[1] or default) == (host[0], host[1] or default)

    def refusal(self, scope) -> tuple[int, str] | None:
        """(status, message) when the request must not reach the app, else None."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        raw = headers.get("host", "")
        host = _split_host(raw)
        if host is None or not self.host_allowed(host[0]):
            name = _shown(host[0] if host else raw) or "(none)"
            return 400, f"host {name} is not allowed; start with: policyqa serve --allowed-host {name}"
        if scope["type"] == "http" and scope.get("method", "GET").upper() not in WRITE_METHODS:
            return None
        origin = headers.get("origin") or _origin_of(headers.get("referer", ""))
        if origin is None or self._same_origin(origin, host):
            return None
        return 403, (f"cross-site request refused: a page from {_shown(origin)} cannot change this server's documents; "
                     f"if that page is yours, start with: policyqa serve --cors-origin {_shown(origin)}")

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refused = self.refusal(scope)
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, message = refused
        log.warning("refused %s %s: %s", scope.get("method", "WEBSOCKET"), scope.get("path", ""), message)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        body = json.dumps({"error": message}, ensure_ascii=False).encode("utf-8")
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _origin_of(referer: str) -> str | None:
    """scheme://host[:port] of a Referer, or None without one."""
    if not referer:
        return None
    u = urlsplit(referer)
    return f"{u.scheme}://{u.netloc}" if u.scheme and u.netloc else "null"


def _shown(text: str) -> str:
    """A header value in a message: printable, one line, short."""
    text = "".join(c if c.isprintable() and not c.isspace() else "?" for c in text)
    return text[:100] + ("…" if len(text) > 100 else "")


def protect(app: FastAPI, hosts: Iterable[str] = LOOPBACK, cors_origins: Iterable[str] = ()) -> FastAPI:
    """Wrap `app` (with the UI mounted) in `Guard` and a CORS policy that allows only `cors_origins`.

    A CORSMiddleware on the parent app also turns off Gradio's own, which allows any origin with
    credentials when the Host is not a loopback name, and any localhost origin when it is."""
    origins = list(cors_origins)
    app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "DELETE"],
                       allow_headers=["content-type"], allow_credentials=False)
    app.add_middleware(Guard, hosts=list(hosts), origins=origins)  # added last: the outermost
    return app
