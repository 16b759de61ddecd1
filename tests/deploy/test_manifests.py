"""The runner manifests an operator deploys: images, the compose stack, Kubernetes, Dataflow.

Nothing here can be built or started on a machine without Docker, a cluster or a cloud, so the
checks are on what those would read, and on the references between the files: every image is
pinned and our images agree on the Beam and Flink versions; every path compose mounts exists in
the repository and lands where the mounted config expects its neighbours; the local stack
listens on 127.0.0.1 only, at the addresses deploy/prometheus/prometheus.yml scrapes; every
``pilotzone`` option a manifest passes exists; the PodMonitor selects the pod that serves the
metrics port; the PrometheusRule is what its generator makes of deploy/prometheus/rules; every
Flex Template parameter becomes a ``pilotzone stream`` option. ``promtool check config`` runs for
real on the config the stack mounts.

Checks of ``pilotzone stream`` options skip while this build has no ``stream`` command.
"""

from __future__ import annotations

import functools
import importlib.util
import ipaddress
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

import pytest
import yaml

from pilotzone.pipelines.jobs.flex_launcher import stream_arguments
from tests.servers import run_tool

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_DIR = DEPLOY / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
K8S = DEPLOY / "k8s"
DATAFLOW = DEPLOY / "dataflow"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
FLINK_DOCKERFILE = DEPLOY / "docker" / "flink.Dockerfile"
EXPANSION_DOCKERFILE = DEPLOY / "docker" / "kafka-expansion.Dockerfile"
LAUNCHER_DOCKERFILE = DATAFLOW / "Dockerfile"
DOCKERFILES = (DOCKERFILE, FLINK_DOCKERFILE, EXPANSION_DOCKERFILE, LAUNCHER_DOCKERFILE)
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
RULES_DIR = DEPLOY / "prometheus" / "rules"
GRAFANA = DEPLOY / "grafana"
README = DEPLOY / "README.md"

OWNED_ELSEWHERE = ("prometheus", "alertmanager", "grafana")
"""deploy/ folders whose own tests check their contents; here only references into them."""

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT_VERSION: str = PYPROJECT["project"]["version"]
BEAM_VERSION = next(
    dep.split("==")[1] for dep in PYPROJECT["project"]["dependencies"] if dep.startswith("apache-beam==")
)
WHEEL = f"{PYPROJECT['project']['name'].replace('-', '_')}-{PROJECT_VERSION}-py3-none-any.whl"

LOOPBACK_NAMES = ("localhost",)

EXPECTED_KINDS = {
    ("v1", "Namespace"),
    ("v1", "ConfigMap"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("batch/v1", "Job"),
    ("flink.apache.org/v1beta1", "FlinkDeployment"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}


# -- reading the files --------------------------------------------------------------------------


def our_manifest_files() -> list[Path]:
    """YAML and JSON under deploy/, except the folders other tests own."""
    return sorted(
        path
        for path in DEPLOY.rglob("*")
        if path.suffix in {".yaml", ".yml", ".json"}
        and path.relative_to(DEPLOY).parts[0] not in OWNED_ELSEWHERE
    )


def load_documents(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return [json.loads(text)]
    return [document for document in yaml.safe_load_all(text) if document is not None]


@functools.cache
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return document


def services() -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose()["services"]
    return result


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool

    @property
    def is_bind(self) -> bool:
        return self.source.startswith((".", "/", "~", "$"))

    def host_path(self) -> Path:
        return (COMPOSE_DIR / self.source).resolve()


def mounts(service: dict[str, Any]) -> list[Mount]:
    """A compose service's volumes in short syntax (the only one compose.yaml uses)."""
    result = []
    for entry in service.get("volumes", []):
        assert isinstance(entry, str), f"use the short volume syntax: {entry!r}"
        source, target, *mode = entry.split(":")
        result.append(Mount(source, target, mode == ["ro"]))
    return result


def host_path_of(service: dict[str, Any], container_path: str) -> Path | None:
    """Where a path inside the container comes from on the host, through the bind mounts."""
    path = PurePosixPath(container_path)
    for mount in sorted(mounts(service), key=lambda m: -len(m.target)):
        if mount.is_bind and path.is_relative_to(mount.target):
            return mount.host_path() / path.relative_to(mount.target)
    return None


def option_values(arguments: list[str], option: str) -> list[str]:
    """Values of ``option`` in an argument list, given as ``--opt value`` or ``--opt=value``."""
    values = []
    for index, argument in enumerate(arguments):
        if argument == "--":
            break
        if argument == option and index + 1 < len(arguments):
            values.append(arguments[index + 1])
        elif argument.startswith(option + "="):
            values.append(argument.split("=", 1)[1])
    return values


def option_value(arguments: list[str], option: str) -> str:
    values = option_values(arguments, option)
    assert len(values) == 1, f"expected one {option} in {arguments}, found {values}"
    return values[0]


def options_before_separator(arguments: list[str]) -> list[str]:
    """The ``--options`` meant for ``pilotzone`` (those after ``--`` are Beam's)."""
    head = arguments[: arguments.index("--")] if "--" in arguments else arguments
    return [argument.split("=", 1)[0] for argument in head if argument.startswith("--")]


def listen_addresses() -> dict[str, tuple[str, int]]:
    """Where each compose service listens, from its own flags or environment."""
    found: dict[str, tuple[str, int]] = {}
    for name, service in services().items():
        command = service.get("command", [])
        environment = service.get("environment", {})
        if name in {"pipeline", "register"}:
            found[name] = (
                option_value(command, "--metrics-host"),
                int(option_value(command, "--metrics-port")),
            )
        elif name == "grafana":
            found[name] = (environment["GF_SERVER_HTTP_ADDR"], int(environment["GF_SERVER_HTTP_PORT"]))
        else:
            host, port = option_value(command, "--web.listen-address").rsplit(":", 1)
            found[name] = (host, int(port))
    return found


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- Dockerfiles --------------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [argument for instruction, argument in self.instructions if instruction == keyword]


@dataclass
class Dockerfile:
    args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        return next(stage for stage in self.stages if stage.name == name)

    def lineage(self, stage: Stage) -> list[Stage]:
        """The stage and the stages it is built FROM, nearest first."""
        chain = [stage]
        names = {s.name: s for s in self.stages if s.name}
        while chain[-1].base in names:
            chain.append(names[chain[-1].base])
        return chain

    def effective(self, stage: Stage, keyword: str) -> str | None:
        """The last ``keyword`` (USER, ENTRYPOINT ...) in force in ``stage``, inherited or its own."""
        for ancestor in self.lineage(stage):
            values = ancestor.all(keyword)
            if values:
                return values[-1]
        return None


def parse_dockerfile(path: Path) -> Dockerfile:
    """Instructions by stage, with line continuations joined and comments dropped; the ARG
    defaults declared before the first FROM are substituted into FROM lines, as Docker does."""
    lines: list[str] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    assert not pending, f"{path}: dangling line continuation"
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        keyword, _, argument = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages and "=" in argument:
            variable, value = argument.split("=", 1)
            args[variable] = value
        elif keyword == "FROM":
            words = [word for word in argument.split() if not word.startswith("--platform")]
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), words[0])
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, alias))
        else:
            stages[-1].instructions.append((keyword, argument))
    return Dockerfile(args, stages)


def image_tag(image: str) -> str | None:
    """The tag of ``image`` (``None`` if untagged); registry ports are not tags."""
    if "@sha256:" in image:
        return image.split("@", 1)[1]
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def assert_pinned(image: str, where: str) -> None:
    tag = image_tag(image)
    assert tag is not None and tag != "latest" and "$" not in tag, f"{where}: pin {image!r} to a version"


def exec_form(argument: str) -> list[str]:
    value = json.loads(argument)
    assert isinstance(value, list), f"use the exec form (a JSON array): {argument}"
    return [str(item) for item in value]


# -- Kubernetes ---------------------------------------------------------------------------------


@functools.cache
def k8s_documents() -> tuple[dict[str, Any], ...]:
    return tuple(doc for path in sorted(K8S.glob("*.yaml")) for doc in load_documents(path))


def k8s(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in k8s_documents() if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''} in deploy/k8s, found {len(found)}"
    return found[0]


def pod_specs() -> Iterator[tuple[str, dict[str, str], dict[str, Any]]]:
    """(workload, pod labels, pod spec) of every pod the manifests create directly."""
    for document in k8s_documents():
        if document["kind"] in {"Deployment", "Job"}:
            template = document["spec"]["template"]
            yield document["metadata"]["name"], template["metadata"]["labels"], template["spec"]


def submitter() -> dict[str, Any]:
    containers: list[dict[str, Any]] = k8s("Job", "pilotzone-stream")["spec"]["template"]["spec"][
        "containers"
    ]
    assert len(containers) == 1
    return containers[0]


def worker_pool() -> dict[str, Any]:
    spec = k8s("FlinkDeployment")["spec"]["taskManager"]["podTemplate"]["spec"]
    sidecars = [c for c in spec["containers"] if c.get("args") == ["--worker_pool"]]
    assert len(sidecars) == 1, "the task managers need one Beam worker pool sidecar (--worker_pool)"
    return sidecars[0]


# -- the pilotzone command ----------------------------------------------------------------------


@functools.cache
def pilotzone_help(command: str) -> str | None:
    """``pilotzone COMMAND --help``, or ``None`` when this build has no such command."""
    result = subprocess.run(
        [sys.executable, "-m", "pilotzone.pipelines.cli", command, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    return result.stdout if result.returncode == 0 else None


def stream_help() -> str:
    text = pilotzone_help("stream")
    if text is None:
        pytest.skip("this build has no `pilotzone stream` yet (`pilotzone stream --help` fails)")
    return text


def assert_options_exist(options: list[str], help_text: str, where: str) -> None:
    known = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", help_text))
    unknown = sorted(set(options) - known)
    assert not unknown, f"{where} passes options the command does not have: {unknown}"


def environment_option(variable: str) -> str:
    """``PILOTZONE_KAFKA_BOOTSTRAP`` -> ``--kafka-bootstrap``."""
    return "--" + variable.removeprefix("PILOTZONE_").lower().replace("_", "-")


def parse_as_container(
    arguments: list[str], environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Any:
    """``pilotzone`` parses ``arguments`` with ``environment`` set, as in the container; argparse
    exits on anything it refuses, which fails the test with its message."""
    stream_help()
    from pilotzone.pipelines.cli import build_parser

    for name in [name for name in os.environ if name.startswith("PILOTZONE_")]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return build_parser().parse_args(arguments)


@functools.cache
def generator() -> ModuleType:
    path = K8S / "generate_prometheus_rule.py"
    spec = importlib.util.spec_from_file_location("generate_prometheus_rule", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# == every file ==================================================================================


@pytest.mark.parametrize("path", our_manifest_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_manifest_parses(path: Path) -> None:
    documents = load_documents(path)
    assert documents, f"{path} is empty"
    assert all(isinstance(document, dict) for document in documents)


def test_the_manifests_are_all_found() -> None:
    names = {str(path.relative_to(DEPLOY)) for path in our_manifest_files()}
    assert {"compose/compose.yaml", "k8s/flink-deployment.yaml", "dataflow/metadata.json"} <= names


@pytest.mark.parametrize("path", [*our_manifest_files(), *DOCKERFILES, README], ids=lambda p: p.name)
def test_no_machine_specific_paths(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"(?<![\w.])/(work|tmp|home/\w+)/", text), f"{path} names a path of one machine"


# == images =====================================================================================


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_base_image_is_pinned(path: Path) -> None:
    dockerfile = parse_dockerfile(path)
    earlier: set[str] = set()
    for stage in dockerfile.stages:
        if stage.base not in earlier:
            assert_pinned(stage.base, f"{path.name} FROM")
        if stage.name:
            earlier.add(stage.name)


def test_the_wheel_is_built_once_and_installed_with_its_dependencies() -> None:
    dockerfile = parse_dockerfile(DOCKERFILE)
    builder = dockerfile.stage("builder")
    assert any("pip wheel" in run and "--no-deps" in run for run in builder.all("RUN"))
    for name in ("runtime", "worker"):
        installs = [run for run in dockerfile.stage(name).all("RUN") if "pip install" in run]
        assert any("from=builder" in run and "/wheels/*.whl" in run for run in installs), name
        assert not any("--no-deps" in run for run in installs), f"{name} must get the dependencies too"


def test_the_pipeline_image_runs_pilotzone_as_a_user_on_python_311() -> None:
    dockerfile = parse_dockerfile(DOCKERFILE)
    pipeline = dockerfile.stages[-1]
    assert pipeline.name == "pipeline", "the last stage is what a plain `docker build` produces"
    lineage = dockerfile.lineage(pipeline)
    assert lineage[-1].base.startswith("python:3.11."), lineage[-1].base
    entrypoint = dockerfile.effective(pipeline, "ENTRYPOINT")
    assert entrypoint is not None and exec_form(entrypoint) == ["pilotzone"]
    assert "pilotzone" in PYPROJECT["project"]["scripts"]
    assert "9464" in (dockerfile.effective(pipeline, "EXPOSE") or "").split()
    for stage in (pipeline, dockerfile.stage("flink-submitter")):
        user = dockerfile.effective(stage, "USER")
        assert user is not None, f"{stage.name} runs as root"
        uid = user.split(":")[0]
        assert uid.isdigit() and int(uid) != 0, f"{stage.name}: a numeric non-root uid, for runAsNonRoot"


def test_the_shipped_zones_keep_their_layout_in_every_image() -> None:
    """The configs name their boundary file as ../data/<file>; the images keep that layout."""
    boundary = {
        file
        for config in (ROOT / "zones" / "configs").glob("*.yaml")
        for file in re.findall(r"file:\s*\.\./data/([\w.-]+)", config.read_text(encoding="utf-8"))
    }
    assert boundary == {"municipalities-subset.geojson"}
    for dockerfile, stage in ((DOCKERFILE, "runtime"), (DOCKERFILE, "worker"), (LAUNCHER_DOCKERFILE, None)):
        parsed = parse_dockerfile(dockerfile)
        copies = (parsed.stages[-1] if stage is None else parsed.stage(stage)).all("COPY")
        assert "zones/configs /etc/pilotzone/zones/configs" in copies
        assert "zones/data/municipalities-subset.geojson /etc/pilotzone/zones/data/" in copies


def test_beam_and_flink_versions_agree_everywhere() -> None:
    from apache_beam.options.pipeline_options import FlinkRunnerOptions

    dockerfile = parse_dockerfile(DOCKERFILE)
    assert dockerfile.args["BEAM_VERSION"] == BEAM_VERSION
    assert dockerfile.stage("worker").base == f"apache/beam_python3.11_sdk:{BEAM_VERSION}"
    assert parse_dockerfile(EXPANSION_DOCKERFILE).args["BEAM_VERSION"] == BEAM_VERSION
    flink = parse_dockerfile(FLINK_DOCKERFILE)
    java_sdk = flink.stage("beam-java").base
    assert re.fullmatch(rf"apache/beam_java(\d+)_sdk:{re.escape(BEAM_VERSION)}", java_sdk), java_sdk
    flink_major_minor = dockerfile.args["FLINK_VERSION"]
    assert flink_major_minor in FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS
    flink_image = flink.stages[-1].base
    assert flink_image.startswith(f"flink:{flink_major_minor}."), flink_image
    java = re.search(r"java(\d+)", java_sdk)
    assert java is not None and flink_image.endswith(f"-java{java.group(1)}"), "one Java for Flink and Beam"
    assert k8s("FlinkDeployment")["spec"]["flinkVersion"] == "v" + flink_major_minor.replace(".", "_")


def test_the_submitter_image_holds_the_job_server_jar_the_job_names() -> None:
    adds = parse_dockerfile(DOCKERFILE).stage("flink-submitter").all("ADD")
    assert len(adds) == 1
    url, destination = adds[0].split()[-2:]
    assert "beam-runners-flink-${FLINK_VERSION}-job-server/${BEAM_VERSION}" in url
    args = submitter()["args"]
    beam_options = args[args.index("--") + 1 :]
    assert f"--flink_job_server_jar={destination}" in beam_options
    assert "--flink_submit_uber_jar" in beam_options, "without it the driver would need Java"


def test_the_dataflow_launcher_runs_flex_launcher_and_stages_the_wheel() -> None:
    launcher = parse_dockerfile(LAUNCHER_DOCKERFILE)
    final = launcher.stages[-1]
    assert final.base.startswith("gcr.io/dataflow-templates-base/python311-template-launcher-base:")
    environment = dict(
        pair.split("=", 1) for line in final.all("ENV") for pair in shlex.split(line) if "=" in pair
    )
    assert f"pipelines/jobs/flex_launcher.py {environment['FLEX_TEMPLATE_PYTHON_PY_FILE']}" in final.all(
        "COPY"
    )
    assert environment["FLEX_TEMPLATE_PYTHON_EXTRA_PACKAGES"] == f"/template/{WHEEL}"
    assert any(WHEEL in copy and "--from=builder" in copy for copy in final.all("COPY"))
    assert any("pip install" in run and WHEEL in run for run in final.all("RUN"))
    assert any("pip wheel" in run for run in launcher.stage("builder").all("RUN"))


# == the local stack (compose) ==================================================================


def test_compose_has_the_whole_stack() -> None:
    assert set(services()) == {"pipeline", "register", "prometheus", "alertmanager", "pushgateway", "grafana"}


@pytest.mark.parametrize(
    "name", ["pipeline", "register", "prometheus", "alertmanager", "pushgateway", "grafana"]
)
def test_compose_images_are_pinned(name: str) -> None:
    image = services()[name]["image"]
    assert_pinned(image, f"compose service {name}")
    assert re.fullmatch(r"v?\d+(\.\d+)+", image_tag(image) or ""), f"{image}: a version tag"


def test_compose_builds_the_pipeline_from_our_dockerfile_with_the_project_version() -> None:
    pipeline = services()["pipeline"]
    build = pipeline["build"]
    assert (COMPOSE_DIR / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert build["target"] == "pipeline"
    assert image_tag(pipeline["image"]) == PROJECT_VERSION


def test_grafana_is_an_11_release() -> None:
    assert re.fullmatch(r"grafana/grafana:11\.\d+\.\d+", services()["grafana"]["image"])


@pytest.mark.parametrize(
    "name", ["pipeline", "register", "prometheus", "alertmanager", "pushgateway", "grafana"]
)
def test_compose_services_use_the_host_network_and_publish_nothing(name: str) -> None:
    service = services()[name]
    assert service.get("network_mode") == "host"
    assert "ports" not in service and "networks" not in service and "expose" not in service


def test_every_compose_service_listens_on_loopback_only() -> None:
    for name, (host, _port) in listen_addresses().items():
        assert is_loopback(host), f"{name} listens on {host}"
    alertmanager = services()["alertmanager"]["command"]
    assert "--cluster.listen-address=" in alertmanager, "the gossip port would listen on every interface"
    assert "0.0.0.0" not in COMPOSE_FILE.read_text(encoding="utf-8")


def test_prometheus_scrapes_exactly_what_the_stack_serves() -> None:
    """deploy/prometheus/prometheus.yml is written for the tests' servers on 127.0.0.1; the stack
    must put the pipeline, the Pushgateway and Alertmanager at those same addresses."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    listening = listen_addresses()
    served = {port for _host, port in listening.values()}
    targets = [
        target
        for scrape in config.get("scrape_configs", [])
        for static in scrape.get("static_configs", [])
        for target in static["targets"]
    ]
    targets += [
        target
        for manager in config.get("alerting", {}).get("alertmanagers", [])
        for static in manager.get("static_configs", [])
        for target in static["targets"]
    ]
    assert targets
    for target in targets:
        host, port = target.rsplit(":", 1)
        assert is_loopback(host) and int(port) in served, f"{target}: nothing in the stack listens there"
    for needed in ("pipeline", "register", "pushgateway", "alertmanager"):
        assert any(target.endswith(f":{listening[needed][1]}") for target in targets), needed


def compose_bind_mounts() -> list[tuple[str, Mount]]:
    return [(name, m) for name, service in services().items() for m in mounts(service) if m.is_bind]


@pytest.mark.parametrize(
    ("service", "mount"), compose_bind_mounts(), ids=lambda value: getattr(value, "source", value)
)
def test_every_bind_mount_is_a_path_in_the_repository(service: str, mount: Mount) -> None:
    assert mount.source.startswith("."), f"{service}: {mount.source} is a path of one machine"
    path = mount.host_path()
    assert path.is_relative_to(ROOT), f"{service}: {mount.source} leaves the repository"
    assert path.exists(), f"{service}: {mount.source} does not exist in the repository"


def test_prometheus_loads_the_repositorys_config_and_rules() -> None:
    prometheus = services()["prometheus"]
    config_path = option_value(prometheus["command"], "--config.file")
    assert host_path_of(prometheus, config_path) == PROMETHEUS_CONFIG
    config_dir = PurePosixPath(config_path).parent
    rule_files = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))["rule_files"]
    loaded: set[Path] = set()
    for pattern in rule_files:
        inside = PurePosixPath(pattern) if pattern.startswith("/") else config_dir / pattern
        host = host_path_of(prometheus, str(inside))
        assert host is not None, f"rule file {pattern} is not mounted into the container"
        loaded |= set(host.parent.glob(host.name))
    assert loaded == set(RULES_DIR.glob("*.yml")), "the stack must load every rule file the tests check"
    assert all(m.read_only for m in mounts(prometheus) if m.is_bind)


@pytest.mark.integration
def test_promtool_accepts_the_config_the_stack_mounts() -> None:
    run_tool("promtool", "check", "config", PROMETHEUS_CONFIG)


def test_alertmanager_loads_the_repositorys_config() -> None:
    alertmanager = services()["alertmanager"]
    config_path = option_value(alertmanager["command"], "--config.file")
    assert host_path_of(alertmanager, config_path) == DEPLOY / "alertmanager" / "alertmanager.yml"


def test_grafana_mounts_provisioning_and_the_dashboards_where_the_provider_reads_them() -> None:
    grafana = services()["grafana"]
    assert host_path_of(grafana, "/etc/grafana/provisioning") == GRAFANA / "provisioning"
    providers = [
        provider
        for path in (GRAFANA / "provisioning" / "dashboards").glob("*.y*ml")
        for provider in yaml.safe_load(path.read_text(encoding="utf-8"))["providers"]
    ]
    assert providers
    for provider in providers:
        assert host_path_of(grafana, provider["options"]["path"]) == GRAFANA / "dashboards"
    assert list((GRAFANA / "dashboards").glob("*.json")), "no dashboards to provision"


def test_grafana_reaches_the_provisioned_prometheus() -> None:
    """With host networking there is no service DNS: a data source host must be loopback or
    pinned to loopback in extra_hosts, and its port the one Prometheus listens on."""
    grafana = services()["grafana"]
    pinned = dict(entry.split(":", 1) for entry in grafana.get("extra_hosts", []))
    datasources = [
        source
        for path in (GRAFANA / "provisioning" / "datasources").glob("*.y*ml")
        for source in yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]
    ]
    prometheus_port = listen_addresses()["prometheus"][1]
    for source in datasources:
        url = urllib.parse.urlsplit(source["url"])
        assert url.hostname is not None
        assert is_loopback(pinned.get(url.hostname, url.hostname)), f"{source['url']} is not on this host"
        assert url.port == prometheus_port


def test_the_pipeline_streams_from_the_watched_folder_into_a_writable_mount() -> None:
    pipeline = services()["pipeline"]
    command = pipeline["command"]
    assert command[0] == "stream"
    assert option_value(command, "--source") == "folder"
    writable = [m for m in mounts(pipeline) if not m.read_only]
    for option in ("--watch", "--incidents-dir"):
        path = PurePosixPath(option_value(command, option))
        assert any(path.is_relative_to(m.target) for m in writable), f"{option} {path} is not in a mount"
    zones = host_path_of(pipeline, option_value(command, "--zones"))
    assert zones == ROOT / "zones" / "configs"
    assert host_path_of(pipeline, "/etc/pilotzone/zones/data") == ROOT / "zones" / "data"
    assert listen_addresses()["pipeline"][1] == 9464


@pytest.mark.slow
def test_the_register_service_serves_the_register_the_pipeline_writes() -> None:
    pipeline, register = services()["pipeline"], services()["register"]
    url = option_value(pipeline["command"], "--register")
    assert url.startswith("sqlite:////")
    assert register["command"][:2] == ["incidents", "metrics"]
    assert option_value(register["command"], "--register") == url
    database = url.removeprefix("sqlite:///")
    assert (
        host_path_of(register, database)
        == host_path_of(pipeline, database)
        == COMPOSE_DIR / "data" / "register.db"
    )
    assert register["image"] == pipeline["image"] and register["user"] == pipeline["user"]
    assert listen_addresses()["register"] == ("127.0.0.1", 9465)


def test_the_pipeline_service_passes_only_stream_options(monkeypatch: pytest.MonkeyPatch) -> None:
    command = services()["pipeline"]["command"]
    assert_options_exist(options_before_separator(command), stream_help(), "compose service pipeline")
    args = parse_as_container(command, services()["pipeline"].get("environment", {}), monkeypatch)
    assert (args.source, args.runner, args.metrics_port) == ("folder", "direct", 9464)


# == Kubernetes =================================================================================


def test_k8s_kinds_and_api_versions() -> None:
    found = {(document["apiVersion"], document["kind"]) for document in k8s_documents()}
    assert found == EXPECTED_KINDS
    for document in k8s_documents():
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == k8s("Namespace")["metadata"]["name"]


def test_flink_task_managers_have_the_beam_worker_pool_sidecar() -> None:
    sidecar = worker_pool()
    assert "/pilotzone-worker:" in sidecar["image"]
    assert image_tag(sidecar["image"]) == PROJECT_VERSION
    ports = [port["containerPort"] for port in sidecar["ports"]]
    environment_config = option_value(submitter()["args"], "--environment-config")
    host, port = environment_config.rsplit(":", 1)
    assert host == "localhost" and int(port) in ports, "the task manager reaches the pool inside its pod"


def test_the_driver_submits_to_the_session_cluster_with_an_external_environment() -> None:
    container = submitter()
    args = container["args"]
    assert args[0] == "stream"
    assert option_value(args, "--runner") == "flink"
    assert option_value(args, "--environment-type") == "EXTERNAL"
    cluster = k8s("FlinkDeployment")
    assert "job" not in cluster["spec"], "a session cluster: the driver submits the job"
    assert option_value(args, "--flink-master") == f"{cluster['metadata']['name']}-rest:8081"
    assert "/pilotzone-flink-submitter:" in container["image"]
    assert image_tag(container["image"]) == PROJECT_VERSION
    assert k8s("Job")["spec"]["backoffLimit"] == 0, "a retried driver would submit a second job"


@pytest.mark.slow
def test_the_driver_passes_only_run_and_stream_options_that_exist() -> None:
    help_text = stream_help()
    args = submitter()["args"]
    assert_options_exist(options_before_separator(args), help_text, "deploy/k8s/submit-job.yaml")
    settings = k8s("ConfigMap", "pilotzone-stream")["data"]
    variables = [name for name in settings if name.startswith("PILOTZONE_")]
    assert variables
    assert_options_exist([environment_option(v) for v in variables], help_text, "ConfigMap pilotzone-stream")


@pytest.mark.slow
def test_the_driver_command_parses_with_the_config_map(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = k8s("ConfigMap", "pilotzone-stream")["data"]
    args = parse_as_container(submitter()["args"], settings, monkeypatch)
    assert (args.source, args.runner, args.environment_type) == ("kafka", "flink", "EXTERNAL")
    assert args.kafka_bootstrap == settings["PILOTZONE_KAFKA_BOOTSTRAP"]
    assert args.kafka_expansion_service == settings["PILOTZONE_KAFKA_EXPANSION_SERVICE"]
    assert args.pushgateway == settings["PILOTZONE_PUSHGATEWAY"]
    assert "--flink_submit_uber_jar" in args.beam_options


def test_the_environment_option_mapping() -> None:
    assert environment_option("PILOTZONE_KAFKA_BOOTSTRAP") == "--kafka-bootstrap"
    with pytest.raises(AssertionError, match="--no-such-option"):
        assert_options_exist(["--zones", "--no-such-option"], "  --zones PATH\n", "a test")


def test_the_driver_uses_our_kafka_expansion_service() -> None:
    endpoint = k8s("ConfigMap", "pilotzone-stream")["data"]["PILOTZONE_KAFKA_EXPANSION_SERVICE"]
    service = k8s("Service", "pilotzone-kafka-expansion")
    host, port = endpoint.rsplit(":", 1)
    assert host == service["metadata"]["name"]
    assert int(port) in [p["port"] for p in service["spec"]["ports"]]
    expansion = parse_dockerfile(EXPANSION_DOCKERFILE).stages[-1]
    entrypoint = exec_form(expansion.all("ENTRYPOINT")[-1])
    assert port in entrypoint, "the service listens on the port the driver is given"
    assert "--defaultEnvironmentType=PROCESS" in entrypoint, "a pod cannot start Docker containers"
    assert '--defaultEnvironmentConfig={"command": "/opt/apache/beam/boot"}' in entrypoint
    flink = parse_dockerfile(FLINK_DOCKERFILE).stages[-1]
    assert "--from=beam-java /opt/apache/beam/ /opt/apache/beam/" in flink.all("COPY"), "boot must be there"


def test_every_volume_a_pod_mounts_exists() -> None:
    """ConfigMaps and claims come from the manifests, or from the kubectl commands in the README
    (the zone configs, so a zone change needs no edit here)."""
    readme = README.read_text(encoding="utf-8")
    defined = {(d["kind"], d["metadata"]["name"]) for d in k8s_documents()}
    specs = [spec for _name, _labels, spec in pod_specs()]
    specs.append(k8s("FlinkDeployment")["spec"]["taskManager"]["podTemplate"]["spec"])
    for spec in specs:
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        for container in spec["containers"]:
            for mount in container.get("volumeMounts", []):
                volume = volumes[mount["name"]]
                if "configMap" in volume:
                    name = volume["configMap"]["name"]
                    assert ("ConfigMap", name) in defined or f"kubectl create configmap {name} " in readme, (
                        name
                    )
                if "persistentVolumeClaim" in volume:
                    assert ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]) in defined
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                assert ("ConfigMap", source["configMapRef"]["name"]) in defined


def test_zone_configs_and_their_boundary_data_are_mounted_side_by_side() -> None:
    zones = option_value(submitter()["args"], "--zones")
    for spec in (
        k8s("Job")["spec"]["template"]["spec"],
        k8s("FlinkDeployment")["spec"]["taskManager"]["podTemplate"]["spec"],
    ):
        paths = {
            m["mountPath"]
            for c in spec["containers"]
            for m in c.get("volumeMounts", [])
            if m["name"] == "zone-configs"
        } | {
            m["mountPath"]
            for c in spec["containers"]
            for m in c.get("volumeMounts", [])
            if m["name"] == "zone-data"
        }
        assert {zones, str(PurePosixPath(zones).parent / "data")} <= paths


def test_the_pod_monitor_selects_exactly_the_pods_serving_metrics() -> None:
    monitor = k8s("PodMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    endpoints = monitor["spec"]["podMetricsEndpoints"]
    assert [endpoint["port"] for endpoint in endpoints] == ["metrics"]
    selected = [(name, spec) for name, labels, spec in pod_specs() if selector.items() <= labels.items()]
    assert [name for name, _spec in selected] == ["pilotzone-stream"]
    for _name, spec in selected:
        (container,) = spec["containers"]
        port = next(p for p in container["ports"] if p["name"] == "metrics")["containerPort"]
        assert int(option_value(container["args"], "--metrics-port")) == port
        assert not is_loopback(option_value(container["args"], "--metrics-host")), "scraped from other pods"


def test_the_committed_prometheus_rule_is_what_the_generator_makes() -> None:
    committed = (K8S / "prometheus-rule.yaml").read_text(encoding="utf-8")
    assert committed == generator().render(), "stale: run python deploy/k8s/generate_prometheus_rule.py"


def prometheus_rules() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in k8s_documents() if d["kind"] == "PrometheusRule"}


def test_the_prometheus_rules_hold_every_group_of_the_rule_files_one_resource_per_file() -> None:
    expected = {
        f"pilotzone-{path.stem}": yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        for path in sorted(RULES_DIR.glob("*.yml"))
    }
    assert expected and all(expected.values())
    assert {name: rule["spec"]["groups"] for name, rule in prometheus_rules().items()} == expected


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(prometheus_rules()))
def test_promtool_accepts_each_prometheus_rule(name: str, tmp_path: Path) -> None:
    """prometheus-operator writes each resource to one rule file: it must pass as one."""
    rules = tmp_path / "groups.yml"
    rules.write_text(yaml.safe_dump({"groups": prometheus_rules()[name]["spec"]["groups"]}), encoding="utf-8")
    run_tool("promtool", "check", "rules", rules)


def test_the_generator_notices_a_changed_rule(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text("groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n")
    before = generator().render(tmp_path)
    (tmp_path / "b.yml").write_text(
        "groups:\n  - name: b\n    rules:\n      - record: y\n        expr: |\n          up\n          + 1\n"
    )
    after = generator().render(tmp_path)
    assert before != after
    documents = list(yaml.safe_load_all(after))
    assert [d["metadata"]["name"] for d in documents] == ["pilotzone-a", "pilotzone-b"]
    assert [[g["name"] for g in d["spec"]["groups"]] for d in documents] == [["a"], ["b"]]
    assert "expr: |" in after


# == Dataflow ===================================================================================


@functools.cache
def flex_metadata() -> dict[str, Any]:
    result: dict[str, Any] = json.loads((DATAFLOW / "metadata.json").read_text(encoding="utf-8"))
    return result


def test_flex_template_metadata_shape() -> None:
    metadata = flex_metadata()
    assert metadata["name"] and metadata["description"]
    names = [parameter["name"] for parameter in metadata["parameters"]]
    assert len(names) == len(set(names))
    assert {
        "zones",
        "source",
        "kafka_bootstrap",
        "kafka_topic",
        "pubsub_subscription",
        "incidents_dir",
    } <= set(names)
    assert "pushgateway" in names
    for parameter in metadata["parameters"]:
        assert parameter["label"] and parameter["helpText"], parameter["name"]
        assert re.fullmatch(r"[a-z][a-z0-9_]*", parameter["name"]), "Dataflow spells options with underscores"


EXAMPLES_ACCEPTED = {
    "zones": "/etc/pilotzone/zones/configs",
    "source": "kafka",
    "kafka_bootstrap": "broker-1.kafka:9092,10.0.0.5:9093",
    "kafka_topic": "pilotzone.telemetry",
    "pubsub_subscription": "projects/my-project/subscriptions/pilotzone-telemetry",
    "incidents_dir": "gs://my-bucket/pilotzone/incidents",
    "incidents_topic": "pilotzone.incidents",
    "kafka_expansion_service": "pilotzone-kafka-expansion:8097",
    "pushgateway": "http://10.0.0.7:9091",
}
EXAMPLES_REJECTED = {
    "zones": "zones/configs",
    "source": "folder",
    "kafka_bootstrap": "broker-1.kafka",
    "kafka_topic": "pilot zone",
    "pubsub_subscription": "pilotzone-telemetry",
    "incidents_dir": "/data/incidents",
    "incidents_topic": "two words",
    "kafka_expansion_service": "http://expansion:8097",
    "pushgateway": "10.0.0.7:9091",
}


@pytest.mark.parametrize("name", sorted(EXAMPLES_ACCEPTED))
def test_flex_template_regexes_accept_good_and_refuse_bad_values(name: str) -> None:
    parameter = next(p for p in flex_metadata()["parameters"] if p["name"] == name)
    regexes = [re.compile(pattern) for pattern in parameter["regexes"]]
    assert all(regex.search(EXAMPLES_ACCEPTED[name]) for regex in regexes), EXAMPLES_ACCEPTED[name]
    assert not all(regex.search(EXAMPLES_REJECTED[name]) for regex in regexes), EXAMPLES_REJECTED[name]
    for example in re.findall(r"e\.g\. (\S+?)\.?(?:\s|$)", parameter["helpText"]):
        assert all(regex.search(example) for regex in regexes), f"{name}: help text example {example}"


@pytest.mark.slow
def test_every_flex_template_parameter_is_a_stream_option() -> None:
    help_text = stream_help()
    options = ["--" + parameter["name"].replace("_", "-") for parameter in flex_metadata()["parameters"]]
    assert_options_exist(options, help_text, "deploy/dataflow/metadata.json")


def test_the_launcher_hands_template_parameters_to_stream_and_the_rest_to_beam() -> None:
    options = frozenset({"--zones", "--source", "--kafka-bootstrap", "--incidents-dir", "--runner"})
    argv = [
        "--zones=/etc/pilotzone/zones/configs",
        "--kafka_bootstrap=10.0.0.5:9092",
        "--runner=DataflowRunner",
        "--project=my-project",
        "--temp_location",
        "gs://b/tmp",
        "--source",
        "kafka",
        "--streaming",
    ]
    assert stream_arguments(argv, options) == [
        "--runner",
        "dataflow",
        "--zones=/etc/pilotzone/zones/configs",
        "--kafka-bootstrap=10.0.0.5:9092",
        "--source",
        "kafka",
        "--",
        "--project=my-project",
        "--temp_location",
        "gs://b/tmp",
        "--streaming",
    ]
    assert stream_arguments(["--zones=/z"], options) == ["--runner", "dataflow", "--zones=/z"]


@pytest.mark.slow
def test_every_flex_template_parameter_reaches_stream_not_beam(monkeypatch: pytest.MonkeyPatch) -> None:
    help_text = stream_help()
    from pilotzone.pipelines.jobs.flex_launcher import stream_option_names

    options = stream_option_names()
    assert options and set(options) <= set(re.findall(r"--[a-z][a-z0-9-]*", help_text))
    argv = [f"--{name}={value}" for name, value in EXAMPLES_ACCEPTED.items()]
    arguments = stream_arguments(argv, options)
    assert "--" not in arguments, f"parameters that would go to Beam: {arguments}"
    args = parse_as_container(["stream", *arguments, "--", "--project=p"], {}, monkeypatch)
    assert (args.runner, args.kafka_topic) == ("dataflow", EXAMPLES_ACCEPTED["kafka_topic"])


# == the operator's walk-through ================================================================


def readme_commands(command: str) -> list[list[str]]:
    """Every ``pilotzone COMMAND ...`` in deploy/README.md's shell blocks, continuations joined."""
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:sh|bash|shell)\n(.*?)```", text, flags=re.DOTALL)
    found = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            for index in range(len(words) - 1):
                if words[index] == "pilotzone" and words[index + 1] == command:
                    found.append(words[index + 1 :])
    return found


@pytest.mark.slow
def test_the_walk_through_uses_existing_run_options() -> None:
    help_text = pilotzone_help("run")
    assert help_text is not None
    commands = readme_commands("run")
    assert commands, "the README shows a replay pushed to the stack"
    for words in commands:
        assert_options_exist(options_before_separator(words), help_text, "deploy/README.md")


@pytest.mark.slow
def test_the_walk_through_uses_existing_stream_options() -> None:
    help_text = stream_help()
    for words in readme_commands("stream"):
        assert_options_exist(options_before_separator(words), help_text, "deploy/README.md")


def test_the_walk_through_creates_the_zone_config_maps_from_the_repository() -> None:
    readme = README.read_text(encoding="utf-8")
    assert "kubectl create configmap pilotzone-zone-configs --from-file=zones/configs/" in readme
    assert (
        "kubectl create configmap pilotzone-zone-data --from-file=zones/data/municipalities-subset.geojson"
        in readme
    )
