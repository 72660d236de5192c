"""The seed's "Custom RPC client": raw zmq + json against our Manager (no pyacq_etvr in the client part)."""

from __future__ import annotations

import json

import pytest
import zmq


class JsonClient:
    """Port of the seed script's helper functions (create_socket, send, recv, call_method, ping)."""

    def __init__(self, address: str, name: str) -> None:
        self.next_req_id = 0
        self.socket = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.setsockopt(zmq.IDENTITY, name.encode())
        self.socket.setsockopt(zmq.RCVTIMEO, 5000)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(address.encode())
        self.ping()

    def send(self, action, opts=None, request_response=True, return_type="auto"):
        if request_response:
            req_id = self.next_req_id
            self.next_req_id += 1
        else:
            req_id = -1
        opts_str = b"" if opts is None else json.dumps(opts).encode()
        msg = [str(req_id).encode(), action.encode(), return_type.encode(), b"json", opts_str]
        self.socket.send_multipart(msg)
        return req_id

    def recv(self, req_id=None):
        try:
            msg = self.socket.recv().decode()
        except zmq.error.Again:
            raise TimeoutError("Timed out while waiting for server response.") from None
        msg = json.loads(msg)
        if req_id is not None:
            assert msg["req_id"] == req_id
        if msg.get("error", None) is not None:
            traceback = "".join(msg["error"][1])
            raise RuntimeError(f"Exception in remote process:\n{traceback}")
        return msg["rval"]

    def request(self, action, opts=None, return_type="auto"):
        return self.recv(self.send(action, opts, return_type=return_type))

    def get_attr(self, obj, attr_name):
        attr = obj.copy()
        attr["attributes"] = (attr_name,)
        return self.request("get_obj", {"obj": attr})

    def call_method(self, obj, method_name, *args, **kwds):
        func = obj.copy()
        func["attributes"] = (method_name,)
        return self.request("call_obj", {"obj": func, "args": args, "kwargs": kwds})

    def ping(self):
        assert self.request("ping") == "pong"

    def close(self):
        self.socket.close(0)


@pytest.mark.timeout(60)
def test_seed_custom_json_client_drives_the_manager():
    from pyacq_etvr.core import create_manager
    from pyacq_etvr.core.manager import shutdown_manager

    manager_proxy = create_manager("rpc")
    address = manager_proxy._rpc_addr
    clients = []
    try:
        # --- no pyacq_etvr code from here ---
        sock = JsonClient(address, "my_custom_client")
        clients.append(sock)
        manager = sock.request("get_item", {"name": "manager"})
        assert manager["___type_name___"] == "proxy"
        nodegroup = sock.call_method(manager, "create_nodegroup", name="my_nodegroup")
        ng_list = sock.call_method(manager, "list_nodegroups")
        assert ng_list[0] == nodegroup
        ng_socket = JsonClient(nodegroup["rpc_addr"], "my_nodegroup_socket")
        clients.append(ng_socket)
        node_types = ng_socket.call_method(nodegroup, "list_node_types")
        assert "NumpyDeviceBuffer" in node_types and "StreamMonitor" in node_types
        # a node created and driven through json
        node = ng_socket.call_method(nodegroup, "create_node", "NumpyDeviceBuffer")
        ng_socket.call_method(node, "configure", nb_channel=3, chunksize=8)
        assert ng_socket.call_method(node, "configured") is True
        # remote errors arrive as [type, traceback lines]
        with pytest.raises(RuntimeError, match="unknown node type"):
            ng_socket.call_method(nodegroup, "create_node", "NoSuchNode")
        # a no-reply request (req_id -1) gets no reply: the next reply is the ping's
        assert ng_socket.send("ping", request_response=False) == -1
        assert ng_socket.request("ping") == "pong"
        status = sock.call_method(manager, "list_nodegroups", status=True)
        assert status[0]["name"] == "my_nodegroup" and status[0]["alive"] is True
    finally:
        for c in clients:
            c.close()
        shutdown_manager(manager_proxy)
