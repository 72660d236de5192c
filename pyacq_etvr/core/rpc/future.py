"""Futures for asynchronous remote calls, and the exception that carries a remote traceback."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import TYPE_CHECKING, Any

from pyacq_etvr.core.errors import RemoteError

if TYPE_CHECKING:
    from pyacq_etvr.core.rpc.client import RPCClient


class RemoteCallException(RemoteError):
    """An exception raised in the remote process, re-raised locally.

    ``remote_type`` is the name of the remote exception type and ``remote_traceback`` the list of lines of
    the remote traceback (both exactly as sent on the wire by the server).
    """

    def __init__(self, remote_type: str, remote_traceback: list[str] | str) -> None:
        if isinstance(remote_traceback, str):
            remote_traceback = [remote_traceback]
        self.remote_type = str(remote_type)
        self.remote_traceback = [str(line) for line in remote_traceback]
        super().__init__(f"{self.remote_type} in remote process:\n{''.join(self.remote_traceback).rstrip()}")


class Future(concurrent.futures.Future):
    """The result of a remote call that may not have arrived yet (``_sync='async'``).

    ``result(timeout)`` called from the thread that owns the client processes incoming messages (and the
    requests to this thread's own server, so that re-entrant calls do not deadlock) until the answer arrives.
    From any other thread it simply waits: the owner thread must be processing its client meanwhile.
    A remote exception is raised as :class:`RemoteCallException`; a dead server as
    :class:`~pyacq_etvr.core.errors.DeadProcessError`.
    """

    def __init__(self, client: RPCClient, call_id: int) -> None:
        super().__init__()
        self._client = client
        self.call_id = call_id

    def result(self, timeout: float | None = None) -> Any:
        self._pump(timeout)
        return super().result(0)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._pump(timeout)
        return super().exception(0)

    def _pump(self, timeout: float | None) -> None:
        if self.done():
            return
        client = self._client
        if threading.get_ident() == client.thread_id and not client.closed:
            client.process_until_future(self, timeout)
        else:
            try:
                concurrent.futures.Future.exception(self, timeout)
            except concurrent.futures.TimeoutError:
                from pyacq_etvr.core.errors import RPCTimeoutError

                raise RPCTimeoutError(f"no answer from {client.address} within {timeout} s") from None

    def hasResult(self) -> bool:
        """pyacq alias of :meth:`done`."""
        self._client.process()
        return self.done()

    def cancel(self) -> bool:
        """Stop waiting for the answer (the remote call may still run)."""
        self._client._forget(self.call_id)
        return super().cancel()
