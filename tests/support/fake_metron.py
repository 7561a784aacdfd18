#!/usr/bin/python3
"""A fake loggregator agent (metron) for the tests: receives dropsonde envelopes over UDP on
127.0.0.1, decodes them with the project's own .proto files (compiled here with protoc) and
appends each as one JSON line to OUT. Writes its port to PORT_FILE once it listens.

usage: fake_metron.py PROTO_DIR PORT_FILE OUT
"""
import json
import os
import socket
import subprocess
import sys
import tempfile


def main():
    proto_dir, port_file, out_path = sys.argv[1:4]
    gen = tempfile.mkdtemp(prefix="fake-metron-")
    protos = [os.path.join("events", n) for n in ("envelope.proto", "metric.proto", "error.proto")]
    subprocess.run(["protoc", "-I", proto_dir, "--python_out", gen] + protos, check=True)
    sys.path.insert(0, gen)
    from events import envelope_pb2  # noqa: E402  (generated just now)
    from google.protobuf import json_format  # noqa: E402

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    with open(port_file + ".tmp", "w") as f:
        f.write(str(sock.getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    with open(out_path, "a") as out:
        while True:
            data, _ = sock.recvfrom(65536)
            env = envelope_pb2.Envelope()
            try:
                env.ParseFromString(data)
                record = json_format.MessageToDict(env, preserving_proto_field_name=True)
                record["eventType"] = envelope_pb2.Envelope.EventType.Name(env.eventType)
            except Exception as e:  # a datagram that is not an envelope is a finding too
                record = {"undecodable": repr(e), "bytes": len(data)}
            out.write(json.dumps(record) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
