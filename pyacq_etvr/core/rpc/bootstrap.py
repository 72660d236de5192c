"""Entry point of processes started by :class:`~pyacq_etvr.core.rpc.spawner.ProcessSpawner`.

``python -m pyacq_etvr.core.rpc.bootstrap CONFIG_JSON``: set up logging, bind an RPC server (Qt or plain),
report ``{"address": ...}`` (or ``{"error": traceback}``) on the handshake pipe, then serve until closed.
The process exits by itself when its parent dies (EOF on stdin). Imports are kept lean: spawn time is
mostly interpreter start-up plus zmq/msgpack.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback


def _report(fd: int, info: dict) -> None:
    os.write(fd, (json.dumps(info) + "\n").encode())
    os.close(fd)


def _watch_parent(server) -> None:
    """Close the server when the parent process goes away (our stdin reaches EOF)."""
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass
    import logging

    logging.getLogger(__name__).warning("parent process is gone: closing")
    server.close()
    timer = threading.Timer(5.0, os._exit, args=(3,))
    timer.daemon = True
    timer.start()


def _setup_logging(conf: dict) -> None:
    import logging

    from pyacq_etvr.core.rpc import log

    log.set_process_name(conf.get("name") or f"process-{os.getpid()}")
    if conf.get("host_name"):
        log.set_host_name(conf["host_name"])
    log.set_thread_name("main")
    if conf.get("log_level") is not None:
        logging.getLogger().setLevel(int(conf["log_level"]))
    if conf.get("log_addr"):
        log.set_logger_address(conf["log_addr"])
        log.log_exceptions()


def _make_server(conf: dict):
    from pyacq_etvr.core.rpc import auth

    if conf.get("keys_dir"):
        auth.use_keys_dir(conf["keys_dir"])
    address = conf.get("address") or "tcp://127.0.0.1:*"
    kwds = {"insecure": bool(conf.get("insecure")), "name": conf.get("name")}
    if conf.get("max_msg_size"):
        kwds["max_msg_size"] = int(conf["max_msg_size"])
    if conf.get("qt"):
        from pyacq_etvr.core.rpc.qt_server import QtRPCServer, get_qapp

        app = get_qapp()
        return QtRPCServer(address, **kwds), app
    from pyacq_etvr.core.rpc.server import RPCServer

    return RPCServer(address, **kwds), None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    conf = json.loads(argv[0])
    fd = int(conf["handshake_fd"])
    try:
        _setup_logging(conf)
        server, app = _make_server(conf)
        server["self"] = server
    except BaseException:
        _report(fd, {"error": traceback.format_exc()})
        return 1
    watcher = threading.Thread(target=_watch_parent, args=(server,), name="parent-watch", daemon=True)
    watcher.start()
    _report(fd, {"address": server.address, "pid": os.getpid()})
    if app is not None:
        server.run_forever()
        app.exec_()
    else:
        server.run_forever()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)
