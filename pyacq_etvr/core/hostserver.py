"""``pyacq-etvr-host``: run a Host server so that a Manager on another machine can spawn NodeGroups here.

Usage::

    pyacq-etvr-host tcp://10.0.0.53:8000 --keys DIR        # CURVE-protected (required off loopback)
    pyacq-etvr-host tcp://127.0.0.1:8000                   # loopback: no keys needed
    pyacq-etvr-host tcp://10.0.0.53:8000 --insecure        # trusted isolated network only
    pyacq-etvr-host --generate-keys DIR                    # create a deployment key directory

The server publishes a :class:`~pyacq_etvr.core.host.Host` as ``'host'``, prints
``host server listening on ADDRESS`` once it accepts requests, and runs until SIGINT/SIGTERM or a ``close``
request; on exit it stops every NodeGroup process it started. See :mod:`pyacq_etvr.core.rpc.auth` for the
trust model.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pyacq-etvr-host", description="Run a pyacq_etvr host server.")
    p.add_argument("address", nargs="?", help="address to listen on, e.g. tcp://10.0.0.53:8000")
    p.add_argument("--keys", metavar="DIR", help="CURVE key directory (made by --generate-keys)")
    p.add_argument("--insecure", action="store_true", help="allow a non-loopback address without CURVE keys")
    p.add_argument("--generate-keys", metavar="DIR", help="create a CURVE key directory and exit")
    p.add_argument("--name", default=None, help="host name used in log records")
    p.add_argument("--advertise", default=None, help="host name/IP peers use when ADDRESS is a wildcard")
    p.add_argument("--log-level", default="INFO", help="log level (DEBUG, INFO, WARNING...)")
    return p


def _child_address(address: str) -> str:
    """NodeGroups bind the host server's interface on a random port."""
    scheme, _, rest = address.partition("://")
    if scheme != "tcp":
        return "tcp://127.0.0.1:*"
    host = rest.rpartition(":")[0]
    return f"tcp://{host}:*"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from pyacq_etvr.core.errors import PyacqError
    from pyacq_etvr.core.rpc import auth

    if args.generate_keys:
        try:
            paths = auth.generate_keys(args.generate_keys)
        except PyacqError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print("\n".join(f"{k}: {v}" for k, v in paths.items()))
        return 0
    if not args.address:
        print("error: an ADDRESS is required (or --generate-keys DIR)", file=sys.stderr)
        return 2
    level = getattr(logging, str(args.log_level).upper(), None)
    if not isinstance(level, int):
        print(f"error: unknown log level {args.log_level!r}", file=sys.stderr)
        return 2
    from pyacq_etvr.core.rpc.log import RPCLogHandler, log_exceptions, set_process_name

    root = logging.getLogger()
    root.addHandler(RPCLogHandler(delay=0.0))
    root.setLevel(level)
    set_process_name(args.name or "host")
    log_exceptions()
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    from pyacq_etvr.core.errors import PyacqError
    from pyacq_etvr.core.host import Host
    from pyacq_etvr.core.rpc import auth
    from pyacq_etvr.core.rpc.server import RPCServer

    try:
        if args.keys:
            auth.use_keys_dir(args.keys)
        server = RPCServer(args.address, insecure=args.insecure, name="host", advertise=args.advertise)
    except (PyacqError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    host = Host(name=args.name or "host", child_address=_child_address(args.address), insecure=args.insecure)
    server["host"] = host

    def stop(signum, frame):
        server.close()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"host server listening on {server.address}", flush=True)
    try:
        server.run_forever()
    finally:
        host.close()
        auth.stop_authenticators()
    return 0


if __name__ == "__main__":
    sys.exit(main())
