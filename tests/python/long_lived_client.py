"""A long-lived credvault client in Python (grpcio, a gRPC C-core client) for the restart
tests: one channel for its whole life, DescribeCredential in a loop, one line per call:

    <unix ms> <status code name>

Calls wait for the channel to be ready within their deadline (wait_for_ready=True), as
docs/api.md ("Reconnecting") asks of C-core clients. Stops when STOP_FILE exists.

Usage: long_lived_client.py STUBS_DIR ADDRESS PKI_DIR ORG NAME STOP_FILE
STUBS_DIR holds the Python code protoc generated from proto/ (credvault/v1/*_pb2*.py).
"""
import os
import sys
import time

stubs, address, pki, org, name, stop_file = sys.argv[1:7]
sys.path.insert(0, stubs)

import grpc  # noqa: E402
from credvault.v1 import credential_service_pb2 as messages  # noqa: E402
from credvault.v1 import credential_service_pb2_grpc as services  # noqa: E402


def read(file_name):
    with open(os.path.join(pki, file_name), "rb") as f:
        return f.read()


credentials = grpc.ssl_channel_credentials(read("ca.pem"), read("backend.key"),
                                           read("backend.pem"))
channel = grpc.secure_channel(address, credentials,
                              options=[("grpc.ssl_target_name_override", "localhost")])
stub = services.CredentialServiceStub(channel)
request = messages.DescribeCredentialRequest(org_id=org, name=name)
while not os.path.exists(stop_file):
    try:
        stub.DescribeCredential(request, timeout=2, wait_for_ready=True)
        code = "OK"
    except grpc.RpcError as error:
        code = error.code().name
    print(int(time.time() * 1000), code, flush=True)
    time.sleep(0.05)
