# syntax=docker/dockerfile:1
#
# Flink for the Beam pipeline on Kubernetes (the image of deploy/k8s/flink-deployment.yaml):
#
#   docker build -f deploy/docker/flink.Dockerfile -t pilotzone-flink:1.20-beam2.73.0 deploy/docker
#
# Telemetry from Kafka is read by Beam's Java KafkaIO, a cross-language transform. The Kafka
# expansion service (kafka-expansion.Dockerfile) gives it a PROCESS environment, so the Flink task
# manager starts Beam's Java SDK harness as a local process with /opt/apache/beam/boot instead of
# as a Docker container, which a Kubernetes pod cannot start. The Java version of the harness
# must match the Java of this Flink image.
FROM apache/beam_java17_sdk:2.73.0 AS beam-java
FROM flink:1.20.1-scala_2.12-java17
COPY --from=beam-java /opt/apache/beam/ /opt/apache/beam/
