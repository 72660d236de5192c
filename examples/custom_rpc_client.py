"""
Custom RPC client
=================

The simplest use of ZeroMQ and json to talk to an RPC server: a template for driving pyacq_etvr from
other languages. pyacq_etvr's remote API is its Python API: any method you can call in Python can be called
remotely; this example only shows how requests and replies are framed on the wire.

A request is the multipart message ``[req_id, action, return_type, serializer, opts]``; the reply is one
json object with ``req_id``, ``rval`` and ``error``. Remote objects come back as dicts that identify them;
send such a dict back (with ``attributes``) to call a method of the object.
"""

from __future__ import annotations

# First we start a manager in a subprocess to test our client against
from pyacq_etvr.core import create_manager

manager_proxy = create_manager("rpc")
address = manager_proxy._rpc_addr

# --- From here on, we don't use any pyacq_etvr code ---
import json

import zmq


def create_socket(address, name):
    """Return a ZeroMQ DEALER socket connected to an RPC server, after a successful ping."""
    if isinstance(name, str):
        name = name.encode()
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.IDENTITY, name)
    socket.setsockopt(zmq.RCVTIMEO, 5000)  # 5 s timeout
    socket.setsockopt(zmq.LINGER, 0)
    if isinstance(address, str):
        address = address.encode()
    socket.connect(address)
    ping(socket)
    print(f"\nConnected to server @ {address.decode()}")
    return socket


next_req_id = 0


def send(socket, action, opts=None, request_response=True, return_type="auto"):
    """Send a request; return its id (-1 when no reply is wanted)."""
    global next_req_id
    if request_response:
        req_id = next_req_id
        next_req_id += 1
    else:
        req_id = -1
    opts_str = b"" if opts is None else json.dumps(opts).encode()
    msg = [str(req_id).encode(), action.encode(), return_type.encode(), b"json", opts_str]
    socket.send_multipart(msg)
    print(f"\n>>> send to {socket.last_endpoint.decode()}:\n" + "\n".join("    " + m.decode() for m in msg))
    return req_id


def recv(socket):
    """Wait for a reply (5 s), raise if it carries a remote error, return its value."""
    try:
        msg = socket.recv().decode()
    except zmq.error.Again:
        raise TimeoutError("Timed out while waiting for server response.") from None
    print(f"\n<<< recv from {socket.last_endpoint.decode()}:\n    {msg}")
    msg = json.loads(msg)
    if msg.get("error", None) is not None:
        raise RuntimeError("Exception in remote process:\n" + "".join(msg["error"][1]))
    return msg["rval"]


def get_attr(socket, obj, attr_name):
    """Return an attribute of an object owned by the server."""
    attr = obj.copy()
    attr["attributes"] = (attr_name,)
    send(socket, action="get_obj", opts={"obj": attr})
    return recv(socket)


def call_method(socket, obj, method_name, *args, **kwds):
    """Ask the server to call a method of one of its objects."""
    func = obj.copy()
    func["attributes"] = (method_name,)
    send(socket, action="call_obj", opts={"obj": func, "args": args, "kwargs": kwds})
    return recv(socket)


def ping(socket):
    """Ping the server until it answers (3 tries)."""
    for _ in range(3):
        send(socket, action="ping")
        try:
            if recv(socket) == "pong":
                return
        except TimeoutError:
            pass
    raise RuntimeError(f"Did not receive any response from server at {socket.last_endpoint}!")


# Create a zmq socket with a unique name
socket = create_socket(address, "my_custom_client")

# Request a reference to the manager
send(socket, action="get_item", opts={"name": "manager"})
manager = recv(socket)

# Ask the manager to create a nodegroup
nodegroup = call_method(socket, manager, "create_nodegroup", name="my_nodegroup")

# Request from the manager a list of all available nodegroups
ng_list = call_method(socket, manager, "list_nodegroups")
print(f"\nNodeGroups: {ng_list}")

# Connect to the newly spawned nodegroup and ask it a question
ng_socket = create_socket(nodegroup["rpc_addr"], "my_nodegroup_socket")
node_types = call_method(ng_socket, nodegroup, "list_node_types")
print(f"\nAvailable node types: {node_types}")

socket.close()
ng_socket.close()

# Back to pyacq_etvr: stop the manager and every process it started
manager_proxy.close()
assert "NoiseGenerator" in node_types
print("\ncustom RPC client: done")
