"""CURVE authentication and encryption for RPC servers reachable from the network.

Trust model
-----------

An RPC server executes whatever its clients ask (imports, calls, attribute access): **being able to talk
to a server means being able to run arbitrary code as the user who started it.** pyacq_etvr therefore
protects every server that is reachable from the network with ZeroMQ CURVE (elliptic-curve encryption and
authentication, ``zmq.auth``):

* A server bound to an address other than loopback (``127.0.0.0/8``, ``::1``, ``localhost``), ``ipc://``
  or ``inproc://`` **refuses to start** without CURVE keys, unless the user explicitly passes
  ``insecure=True`` (``--insecure`` on the command line) — only do that on an isolated, trusted network.
* ``pyacq-etvr-host --generate-keys DIR`` creates one *deployment* key directory::

      DIR/server.key  DIR/server.key_secret          the servers' key pair (hosts, NodeGroups, manager)
      DIR/client.key  DIR/client.key_secret          the clients' key pair (manager, user scripts, nodes)
      DIR/authorized_clients/client.key              public keys of the clients the servers accept

  Copy DIR (mode 0700, secret files 0600) to every machine of the deployment and start each host with
  ``pyacq-etvr-host tcp://IP:PORT --keys DIR``; in the controlling script call
  :func:`use_keys_dir` ``(DIR)`` before :func:`~pyacq_etvr.core.manager.create_manager`. Processes spawned
  by a host or the manager inherit the key directory.
* A server accepts a connection only if the client's public key is in ``authorized_clients/`` (re-read on
  every connection attempt, so adding or removing a ``*.key`` file takes effect for new connections).
  A client without an authorised key gets nothing: the handshake fails before any request is read, and
  the server logs the refused attempt (WARNING, with the client's public key).
* Clients authenticate the server too: they only talk to servers holding ``server.key_secret``.
* Whoever holds ``client.key_secret`` controls every host of the deployment; whoever holds
  ``server.key_secret`` can impersonate a host. Keep the directory private; to revoke a client, delete its
  public key from ``authorized_clients/`` on every host; to rotate, generate a new directory.
* Data streams between nodes (the stream sockets, not RPC) are not encrypted: they carry data, never code.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import zmq

from pyacq_etvr.core.errors import SecurityError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerCurve:
    """CURVE settings of a server: its key pair (z85 bytes) and the folder of authorised client public keys."""

    public_key: bytes
    secret_key: bytes
    authorized_dir: str


@dataclass(frozen=True)
class ClientCurve:
    """CURVE settings of a client: its key pair and the public key of the servers it talks to."""

    public_key: bytes
    secret_key: bytes
    server_key: bytes


_keys_dir: str | None = None
_server_curve: ServerCurve | None = None
_client_curve: ClientCurve | None = None
_authenticators: dict[int, Any] = {}


def is_local_address(address: str) -> bool:
    """True if ``address`` can only be reached from this machine (loopback tcp, ipc, inproc)."""
    scheme, _, rest = address.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    if scheme != "tcp":
        return False
    host = urlsplit("tcp://" + rest).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # '*', an interface name or a host name: may be public


def advertised_address(endpoint: str, advertise: str | None = None) -> str:
    """The address peers should use for a socket bound to ``endpoint``.

    A wildcard bind (``0.0.0.0``, ``*``, ``::``) is reachable at ``advertise`` (a host name or IP) or, by
    default, at this machine's resolved host name.
    """
    scheme, _, rest = endpoint.partition("://")
    if scheme != "tcp":
        return endpoint
    host, _, port = rest.rpartition(":")
    if host in ("0.0.0.0", "*", "[::]", "::") or advertise:
        if not advertise:
            import socket

            try:
                advertise = socket.gethostbyname(socket.gethostname())
            except OSError:
                advertise = "127.0.0.1"
        return f"tcp://{advertise}:{port}"
    return endpoint


def generate_keys(directory: str) -> dict[str, str]:
    """Create a deployment key directory (see the module docstring); return the file paths.

    Refuses to overwrite existing keys.
    """
    import zmq.auth

    os.makedirs(directory, mode=0o700, exist_ok=True)
    for name in ("server.key_secret", "client.key_secret"):
        if os.path.exists(os.path.join(directory, name)):
            raise SecurityError(f"{directory} already holds keys ({name}); refusing to overwrite them")
    server_pub, server_sec = zmq.auth.create_certificates(directory, "server")
    client_pub, client_sec = zmq.auth.create_certificates(directory, "client")
    authorized = os.path.join(directory, "authorized_clients")
    os.makedirs(authorized, mode=0o700, exist_ok=True)
    shutil.copy(client_pub, os.path.join(authorized, "client.key"))
    for path in (server_sec, client_sec):
        os.chmod(path, 0o600)
    return {
        "server_public": server_pub,
        "server_secret": server_sec,
        "client_public": client_pub,
        "client_secret": client_sec,
        "authorized_dir": authorized,
    }


def load_keys_dir(directory: str) -> tuple[ServerCurve, ClientCurve]:
    """Read a deployment key directory made by :func:`generate_keys`."""
    import zmq.auth

    def load(name: str, secret: bool) -> tuple[bytes, bytes | None]:
        path = os.path.join(directory, name + (".key_secret" if secret else ".key"))
        try:
            return zmq.auth.load_certificate(path)
        except (OSError, ValueError) as exc:
            raise SecurityError(f"cannot read CURVE key {path}: {exc}") from None

    spub, ssec = load("server", True)
    cpub, csec = load("client", True)
    authorized = os.path.join(directory, "authorized_clients")
    if not os.path.isdir(authorized):
        raise SecurityError(f"{authorized} is missing: no client could be authorised")
    assert ssec is not None and csec is not None
    return ServerCurve(spub, ssec, authorized), ClientCurve(cpub, csec, spub)


def use_keys_dir(directory: str | None) -> None:
    """Make every server and client created later in this process use the CURVE keys of ``directory``.

    ``None`` switches back to no process-wide keys.
    """
    global _keys_dir, _server_curve, _client_curve
    if directory is None:
        _keys_dir = _server_curve = _client_curve = None
        return
    directory = os.path.abspath(directory)
    _server_curve, _client_curve = load_keys_dir(directory)
    _keys_dir = directory


def keys_dir() -> str | None:
    """The process-wide key directory (passed on to spawned processes), or None."""
    return _keys_dir


def check_bind(address: str, curve: ServerCurve | None, insecure: bool) -> ServerCurve | None:
    """Return the CURVE settings a server binding ``address`` must use; refuse an unprotected public bind."""
    curve = curve or _server_curve
    if curve is None and not insecure and not is_local_address(address):
        raise SecurityError(
            f"refusing to bind an RPC server to {address} without CURVE keys: anyone reaching it could run "
            "code here. Generate keys (pyacq-etvr-host --generate-keys DIR) and use them, or pass "
            "insecure=True (--insecure) on a trusted network."
        )
    return curve


class _KeyChecker:
    """ZAP credentials provider: accept the public keys found in a folder, log refusals."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def allowed_keys(self) -> set[bytes]:
        import zmq.auth

        keys = set()
        try:
            names = os.listdir(self.directory)
        except OSError:
            return keys
        for name in names:
            if name.endswith(".key"):
                try:
                    pub, _ = zmq.auth.load_certificate(os.path.join(self.directory, name))
                except (OSError, ValueError):
                    continue
                keys.add(pub)
        return keys

    def callback(self, domain: str, key: bytes) -> bool:
        if key in self.allowed_keys():
            return True
        logger.warning("refused RPC connection: client public key %s is not authorised", key.decode(errors="replace"))
        return False


def apply_server_curve(sock: zmq.Socket, curve: ServerCurve) -> None:
    """Configure ``sock`` as a CURVE server and start the context's authenticator (once per folder)."""
    from zmq.auth.thread import ThreadAuthenticator

    ctx = sock.context
    auth = _authenticators.get(id(ctx))
    if auth is None:
        auth = ThreadAuthenticator(ctx, log=logging.getLogger("pyacq_etvr.zap"))
        auth.start()
        _authenticators[id(ctx)] = auth
    domain = os.path.abspath(curve.authorized_dir)
    if domain not in auth.credentials_providers:
        auth.configure_curve_callback(domain=domain, credentials_provider=_KeyChecker(domain))
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_SECRETKEY, curve.secret_key)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, curve.public_key)
    sock.setsockopt(zmq.ZAP_DOMAIN, domain.encode())


def apply_client_curve(sock: zmq.Socket, curve: ClientCurve | None) -> None:
    """Configure ``sock`` as a CURVE client if ``curve`` (or the process-wide keys) is set."""
    curve = curve or _client_curve
    if curve is None:
        return
    sock.setsockopt(zmq.CURVE_SERVERKEY, curve.server_key)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, curve.public_key)
    sock.setsockopt(zmq.CURVE_SECRETKEY, curve.secret_key)


def stop_authenticators() -> None:
    """Stop the ZAP authenticator threads of this process (tests, interpreter exit)."""
    for auth in list(_authenticators.values()):
        auth.stop()
    _authenticators.clear()
