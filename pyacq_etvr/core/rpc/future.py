"""Futures for asynchronous remote calls, and the exception that carries a remote traceback."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import TYPE_CHECKING, Any

from pyacq_etvr.core.errors import RemoteError

if TYPE_CHECKING:
    from pyacq_etvr.core.rpc.client import RPCClient


_PENDING = concurrent.futures._base.PENDING
_FINISHED = concurrent.futures._base.FINISHED
_DONE_STATES = (
    concurrent.futures._base.CANCELLED,
    concurrent.futures._base.CANCELLED_AND_NOTIFIED,
    concurrent.futures._base.FINISHED,
)
_condition_lock = threading.Lock()


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

    # The base class builds a threading.Condition per future (~2 µs); pipelined calls create thousands, most
    # of them only ever touched by the owner thread. So the condition is created on first use (another
    # thread waiting, a done-callback...), under a lock that also guards the condition-free fast path.

    def __init__(self, client: RPCClient, call_id: int) -> None:
        self._state = _PENDING
        self._result = None
        self._exception = None
        self._waiters: list[Any] = []
        self._done_callbacks: list[Any] = []
        self._client = client
        self.call_id = call_id

    def __getattr__(self, name: str) -> Any:
        if name != "_condition":
            raise AttributeError(name)
        with _condition_lock:
            cond = self.__dict__.get("_condition")
            if cond is None:
                cond = self.__dict__["_condition"] = threading.Condition()
        return cond

    def _fast_set(self, result: Any, exc: BaseException | None) -> bool:
        with _condition_lock:
            if "_condition" in self.__dict__ or self._state != _PENDING:
                return False
            self._result, self._exception = result, exc
            self._state = _FINISHED
        return True

    def set_result(self, result: Any) -> None:
        if not self._fast_set(result, None):
            super().set_result(result)

    def set_exception(self, exception: BaseException | None) -> None:
        if not self._fast_set(None, exception):
            super().set_exception(exception)

    def done(self) -> bool:
        return self._state in _DONE_STATES

    def result(self, timeout: float | None = None) -> Any:
        if self._state != _FINISHED:
            self._pump(timeout)
        if self._state == _FINISHED:
            if self._exception is not None:
                raise self._exception
            return self._result
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
