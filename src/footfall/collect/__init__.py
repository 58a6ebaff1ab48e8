"""The write path: parse a protocol, validate against the event contract, stamp, enqueue."""
