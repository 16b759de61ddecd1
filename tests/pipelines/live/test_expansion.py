"""Beam's Java expansion service starts from the engine cache, answers gRPC on its port, and stops."""

from __future__ import annotations

import json

import pytest

from pilotzone.pipelines.live.expansion import ExpansionService
from pilotzone.pipelines.live.process import port_is_open
from tests.pipelines.live.kafka_clients import assert_gone, engines_or_skip


def test_the_command_declares_a_process_environment_with_the_cached_worker() -> None:
    engines = engines_or_skip()
    service = ExpansionService(engines=engines, port=12345)
    command = service.command()
    assert command[command.index("org.apache.beam.sdk.expansion.service.ExpansionService") + 1] == "12345"
    config = next(arg for arg in command if arg.startswith("--defaultEnvironmentConfig="))
    assert json.loads(config.partition("=")[2]) == {"command": str(engines.java_worker())}
    assert "--defaultEnvironmentType=PROCESS" in command
    assert (service.address, service.pipeline_args()) == (
        "localhost:12345",
        ["--experiments=disable_jamm_agent"],
    )


@pytest.mark.integration
def test_the_service_answers_on_its_port_and_stops() -> None:
    import grpc
    from apache_beam.portability.api import beam_expansion_api_pb2, beam_expansion_api_pb2_grpc

    service = ExpansionService(engines=engines_or_skip())
    with service:
        assert service.running
        with grpc.insecure_channel(service.address) as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            stub = beam_expansion_api_pb2_grpc.ExpansionServiceStub(channel)
            # Listing the transforms it can expand is a real round trip; KafkaIO must be among them.
            response = stub.DiscoverSchemaTransform(
                beam_expansion_api_pb2.DiscoverSchemaTransformRequest(), timeout=60
            )
        assert any("kafka" in urn for urn in response.schema_transform_configs)
        log_path = service.log_path
    assert not service.running
    assert_gone(service.pid)
    assert log_path is not None and not log_path.exists()
    assert not port_is_open(service.port)
