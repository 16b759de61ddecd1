"""The telemetry contract: Avro schemas (the ``.avsc`` files are the source of truth),
the decoder for what vehicles send, and the checks a vehicle maker runs before connecting."""
