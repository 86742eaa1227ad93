"""Who may see the ``--serve`` page: the Host check, the viewer key and the security headers.

* **DNS rebinding**: a web page elsewhere can point its own name at 127.0.0.1 and read a local
  server through the visitor's browser. The browser still sends that name in ``Host``, so only
  requests naming the bound address (or, for a wildcard bind, an IP address or this machine's
  own name) are answered.
* **Viewer key** (``--serve-token``): beyond localhost, anyone on the network could watch the
  camera; the key must come with every request (``?token=`` or ``Authorization: Bearer``).
* **Headers**: ``nosniff``, a Content-Security-Policy allowing only this page's own script and
  style (by nonce) and same-origin images and fetches, ``X-Frame-Options: DENY`` and no referrer
  (the key is in the address).
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
import socket
from urllib.parse import parse_qs

from edgeres.errors import UsageError

TOKEN_RE = re.compile(r"[A-Za-z0-9._~-]{8,128}")
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def make_token(token: str | None) -> str | None:
    """The viewer key to require: ``auto`` makes a random one; ``None`` for none.

    Raises:
        UsageError: A key that is too short or has characters an address cannot carry as is.
    """
    if token is None or token == "":
        return None
    if token == "auto":
        return secrets.token_urlsafe(18)
    if not TOKEN_RE.fullmatch(token):
        raise UsageError(
            "--serve-token must be 8 to 128 letters, digits or '-', '_', '.', '~' (or 'auto' for "
            "a random one), so it can sit in the page's address as is"
        )
    return token


def check_exposure(host: str, port: int, token: str | None, public: bool) -> None:
    """Refuse a bind beyond localhost with neither a viewer key nor ``--serve-public``."""
    if token is None and not public and not is_loopback(host):
        raise UsageError(
            f"--serve {host}:{port} lets anyone on the network watch the camera; give a "
            "viewer key with --serve-token KEY (or --serve-token auto), or pass "
            "--serve-public to serve without one"
        )


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bound address) is only reachable from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _split_host_header(value: str) -> tuple[str, int | None]:
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8080
        name, _, rest = value[1:].partition("]")
        port = rest.removeprefix(":")
    elif value.count(":") == 1:
        name, _, port = value.partition(":")
    else:
        name, port = value, ""
    return name.rstrip("."), (int(port) if port.isdigit() else None)


class Guard:
    """The checks every request passes before it is answered.

    Args:
        host: The bound address (``127.0.0.1``, ``0.0.0.0``, a LAN address, ...).
        port: The bound port.
        token: The viewer key (``None``: no key needed).
    """

    def __init__(self, host: str, port: int, token: str | None) -> None:
        self.port, self.token = port, token
        self.wildcard = host in ("0.0.0.0", "::", "")
        names = {host.lower()}
        if is_loopback(host):
            names |= LOOPBACK_NAMES
        if self.wildcard:
            own = socket.gethostname().lower()
            names |= LOOPBACK_NAMES | {own, f"{own}.local"}
        self.names = frozenset(names)

    def host_ok(self, header: str | None) -> bool:
        """Whether the ``Host`` header names this server (DNS rebinding check)."""
        if not header:
            return False
        name, port = _split_host_header(header)
        if port is None and self.port != 80:
            return False
        if port is not None and port != self.port:
            return False
        return name in self.names or (self.wildcard and _is_ip(name))

    def token_ok(self, query: str, authorization: str | None) -> bool:
        """Whether the request carries the viewer key (always true without one)."""
        if self.token is None:
            return True
        given = parse_qs(query).get("token", [""])[0]
        if authorization and authorization.lower().startswith("bearer "):
            given = authorization[7:].strip()
        return hmac.compare_digest(given.encode(), self.token.encode())

    def query(self) -> str:
        """What the page appends to its own addresses so they carry the key."""
        return f"?token={self.token}" if self.token else ""


def security_headers(nonce: str | None = None) -> dict[str, str]:
    """Headers every answer carries; ``nonce`` allows the page's own inline script and style."""
    own = f"'nonce-{nonce}'" if nonce else "'none'"
    csp = (
        f"default-src 'none'; img-src 'self'; connect-src 'self'; script-src {own}; "
        f"style-src {own}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
