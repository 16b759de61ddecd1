"""Live mode: a local Kafka broker, Beam's Java expansion service, and a fleet publisher.

Replays read files that vehicles uploaded; live mode reads telemetry while vehicles drive, from
Kafka. Everything here runs the engines that ``deploy/engines/install-engines.sh`` put into a
local cache (nothing is downloaded at run time), and stops every process it starts:

* ``engines``: where that cache is and what is in it, with an error that says how to fill it;
* ``process``: starting a Java process, waiting for its port, stopping it (SIGTERM, then SIGKILL);
* ``broker``: a single-node KRaft Kafka broker on 127.0.0.1, for operators and tests;
* ``expansion``: Beam's Java expansion service, which KafkaIO's cross-language transforms need;
* ``framing`` and ``publish``: a simulated fleet's telemetry as Confluent-framed Avro messages,
  sent in event-time order at a chosen speed, as a fleet would send it.

This package imports no Apache Beam: the pipeline side lives in ``pipelines.jobs``.
"""
