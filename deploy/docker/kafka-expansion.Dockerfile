# syntax=docker/dockerfile:1
#
# Beam's Java IO expansion service, which turns the pipeline's ReadFromKafka into Java KafkaIO
# when the job is submitted (deploy/k8s/kafka-expansion-service.yaml):
#
#   docker build -f deploy/docker/kafka-expansion.Dockerfile -t pilotzone-kafka-expansion:2.73.0 deploy/docker
#
# Running it as its own service keeps Java out of the pipeline image: the driver is given its
# address (`pilotzone stream --kafka-expansion-service`) instead of downloading the jar and
# starting Java itself. The jar comes
# from Maven Central at build time, so the pod needs no internet access at run time.
ARG BEAM_VERSION=2.73.0

FROM eclipse-temurin:17.0.15_6-jre-jammy
ARG BEAM_VERSION
ADD https://repo1.maven.org/maven2/org/apache/beam/beam-sdks-java-io-expansion-service/${BEAM_VERSION}/beam-sdks-java-io-expansion-service-${BEAM_VERSION}.jar \
    /opt/beam/beam-sdks-java-io-expansion-service.jar
RUN useradd --system --uid 10001 --user-group beam
USER 10001:10001
EXPOSE 8097
# PROCESS: the Java harness runs as a process inside the Flink task manager (flink.Dockerfile
# copies its boot program there). use_deprecated_read selects the legacy unbounded-source read,
# as Beam's own Flink-on-Kubernetes example does, rather than the splittable-DoFn read.
ENTRYPOINT ["java", "-jar", "/opt/beam/beam-sdks-java-io-expansion-service.jar", "8097", \
    "--defaultEnvironmentType=PROCESS", \
    "--defaultEnvironmentConfig={\"command\": \"/opt/apache/beam/boot\"}", \
    "--experiments=use_deprecated_read"]
