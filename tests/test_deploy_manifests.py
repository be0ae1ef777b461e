"""The deployment artefacts, checked statically (no Docker engine or cluster here): the Kubernetes
manifests of deploy/k8s against the Kubernetes schemas (kubernetes-validate) and KEDA's (reduced,
deploy/schemas/), docker-compose.yml against the Compose Specification (vendored by
check-jsonschema), the Dockerfiles, the RabbitMQ definitions, and the Grafana dashboard; plus the
properties we rely on, derived from the code where the code holds the truth (consumer queues,
secret settings, metric names, exchanges, gateway placeholders)."""

import asyncio
import base64
import hashlib
import importlib
import importlib.resources
import importlib.util
import ipaddress
import json
import re
import tomllib
from pathlib import Path
from unittest.mock import Mock

import jsonschema
import kubernetes_validate
import pytest
import yaml

from crs_shared.messaging import definitions, topology
from crs_shared.messaging.contracts import BatchPart
from crs_tools import gateway
from tests.support.compose import prepare_env
from tests.support.settings import service_settings

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
SCHEMAS = ROOT / "deploy" / "schemas"
SERVICES = ("registration", "auth", "results", "notifier")
PORTS = {"registration": 8001, "auth": 8002, "results": 8003, "notifier": 8004}
KUBERNETES_VERSION = "1.33"
KEDA_SCHEMAS = {"ScaledObject": "keda-scaledobject.schema.json",
                "TriggerAuthentication": "keda-triggerauthentication.schema.json"}
# Settings holding credentials although they are not marked repr=False: URLs with a user and password.
CREDENTIAL_URLS = {"MONGODB_URL", "AMQP_URL"}


# --- Kubernetes --------------------------------------------------------------------------------

def _kustomize_resources() -> list[dict]:
    """What `kustomize build` would read: every document of every file in `resources:`."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    documents = []
    for name in kustomization["resources"]:
        documents += [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]
    return documents


RESOURCES = _kustomize_resources()


def _of_kind(kind: str) -> list[dict]:
    return [doc for doc in RESOURCES if doc["kind"] == kind]


def _by_name(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in _of_kind(kind)}


def _selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def test_every_file_in_the_folder_is_a_resource_of_the_kustomization():
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: f"{r['kind']}/{r['metadata']['name']}")
def test_resource_is_valid_against_its_schema(resource):
    if resource["apiVersion"].startswith("keda.sh/"):
        schema = json.loads((SCHEMAS / KEDA_SCHEMAS[resource["kind"]]).read_text())
        jsonschema.Draft202012Validator(schema).validate(resource)
    else:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_schema_validation_catches_mistakes():
    """The validators really check: a misspelt field and a wrong type are refused."""
    deployment = json.loads(json.dumps(_by_name("Deployment")["auth"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"paht": "/readyz"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    scaled = json.loads(json.dumps(_by_name("ScaledObject")["notifier"]))
    scaled["spec"]["triggers"][0]["metadata"]["value"] = 100
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(json.loads((SCHEMAS / KEDA_SCHEMAS["ScaledObject"]).read_text())).validate(scaled)


def test_every_service_and_the_gateway_have_deployment_service_pdb_and_network_policy():
    for name in (*SERVICES, "gateway"):
        labels = _by_name("Deployment")[name]["spec"]["template"]["metadata"]["labels"]
        assert name in _by_name("Service"), name
        assert any(_selects(pdb["spec"]["selector"], labels) for pdb in _of_kind("PodDisruptionBudget")), name
        policies = [p for p in _of_kind("NetworkPolicy") if p["spec"]["podSelector"] and _selects(p["spec"]["podSelector"], labels)]
        assert policies and all(set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"} for p in policies), name
    default_deny = [p for p in _of_kind("NetworkPolicy") if p["spec"]["podSelector"] == {}]
    assert default_deny and "ingress" not in default_deny[0]["spec"] and "egress" not in default_deny[0]["spec"]


@pytest.mark.parametrize("deployment", _of_kind("Deployment"), ids=lambda d: d["metadata"]["name"])
def test_deployment_has_probes_resources_and_runs_as_non_root(deployment):
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    for container in pod["containers"]:
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] in ("/readyz", "/healthz")
        assert set(container["resources"]["requests"]) >= {"cpu", "memory"}
        assert set(container["resources"]["limits"]) >= {"cpu", "memory"}
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"


def test_services_are_ready_only_when_mongodb_and_the_broker_are():
    for name in SERVICES:
        container = _by_name("Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["ports"][0]["containerPort"] == PORTS[name]


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_pod_runs_its_migrate_first_on_the_services_own_database(name):
    """An init container runs the service's migrate console script (its pyproject's) with the
    service's own MONGODB_URL and settings, so the collections and indexes exist before it starts."""
    pod = _by_name("Deployment")[name]["spec"]["template"]["spec"]
    [migrate] = pod["initContainers"]
    [service] = pod["containers"]
    scripts = tomllib.loads((ROOT / "services" / name / "pyproject.toml").read_text())["project"]["scripts"]
    assert migrate["command"] == [f"{name}-migrate"] and scripts[f"{name}-migrate"] == f"{name}.migrate:main"
    assert migrate["image"] == service["image"] and migrate["envFrom"] == service["envFrom"]
    mongodb_url = [e for e in service["env"] if e["name"] in ("MONGODB_URL", "DATABASE_NAME")]
    assert [e for e in migrate["env"] if e["name"] in ("MONGODB_URL", "DATABASE_NAME")] == mongodb_url
    assert set(migrate["resources"]["limits"]) >= {"cpu", "memory"}
    assert migrate["securityContext"]["allowPrivilegeEscalation"] is False


def _secret_settings(service: str) -> set[str]:
    """The settings that are secrets, from the code: fields hidden from repr, and credential URLs."""
    settings = importlib.import_module(f"{service}.config").Settings
    hidden = {name.upper() for name, field in settings.model_fields.items() if field.repr is False}
    return hidden | CREDENTIAL_URLS


def test_secrets_are_referenced_never_inlined():
    for path in [*ROOT.glob("deploy/**/*.yaml"), *ROOT.glob("deploy/**/*.yml"), ROOT / "docker-compose.yml"]:
        for doc in yaml.safe_load_all(path.read_text()):
            assert not (isinstance(doc, dict) and doc.get("kind") == "Secret"), f"{path}: a Secret is committed"
    config = {key for cm in _of_kind("ConfigMap") for key in cm["data"]}
    for name in SERVICES:
        secrets = _secret_settings(name) - {"JWT_SIGNING_KEY"}  # auth reads its key from a mounted file
        assert not secrets & config, f"{name}: a secret setting is in a ConfigMap"
        env = {e["name"]: e for e in _by_name("Deployment")[name]["spec"]["template"]["spec"]["containers"][0]["env"]}
        for secret in secrets:
            assert secret in env, f"{name} is given no {secret}"
            assert set(env[secret]) == {"name", "valueFrom"} and "secretKeyRef" in env[secret]["valueFrom"], secret
    auth = _by_name("Deployment")["auth"]["spec"]["template"]["spec"]
    assert any("secret" in volume for volume in auth["volumes"]), "auth's signing key comes from a Secret volume"


@pytest.mark.parametrize("name", ["registration", "auth"])
def test_argon2id_hashes_at_once_follow_the_cpu_limit(name):
    """A process sees every CPU of its node, not its limit: as many 19 MiB hashes at once as the node
    has cores would break the memory limit (crs_shared.config, argon2_workers)."""
    container = _by_name("Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["ARGON2_WORKERS"]["valueFrom"] == {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1"}}
    assert "cpu" in container["resources"]["limits"]


def _consumer_queues() -> dict[str, set[str]]:
    """Every consumer queue the code declares: `<service>.<routing key>` of each Subscription."""
    queues = {}
    for name in SERVICES:
        subscriptions = importlib.import_module(f"{name}.consumers").subscriptions(Mock())
        queues[name] = {definitions.queue_name(name, s.event.ROUTING_KEY) for s in subscriptions}
    return queues


def test_every_consumer_queue_has_a_keda_trigger_on_its_depth():
    code = _consumer_queues()
    assert code["notifier"] >= {"notifier.results.released", "notifier.candidate.registered"}
    scaled = _by_name("ScaledObject")
    for name, queues in code.items():
        spec = scaled[name]["spec"]
        assert spec["scaleTargetRef"]["name"] == name
        triggered = {t["metadata"]["queueName"] for t in spec["triggers"] if t["type"] == "rabbitmq"}
        assert triggered == queues, f"{name}: ScaledObject triggers {sorted(triggered)}, code consumes {sorted(queues)}"
        auth_names = {t["authenticationRef"]["name"] for t in spec["triggers"] if t["type"] == "rabbitmq"}
        assert auth_names <= set(_by_name("TriggerAuthentication")), auth_names
        assert any(t["type"] == "cpu" for t in spec["triggers"]), f"{name}: no CPU trigger for HTTP load"


def test_each_deployment_has_exactly_one_autoscaler():
    """KEDA makes an HPA of its own from a ScaledObject: a second HPA would fight it over replicas."""
    targets = [s["spec"]["scaleTargetRef"]["name"] for s in _of_kind("ScaledObject")]
    targets += [h["spec"]["scaleTargetRef"]["name"] for h in _of_kind("HorizontalPodAutoscaler")]
    assert sorted(targets) == sorted(_by_name("Deployment")), targets
    assert _by_name("HorizontalPodAutoscaler"), "an HPA for HTTP load (the gateway)"


def test_network_policies_keep_each_service_to_its_own_database():
    for name in SERVICES:
        egress = _by_name("NetworkPolicy")[name]["spec"]["egress"]
        mongo = [peer for rule in egress for peer in rule["to"]
                 if peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name") == "mongodb"]
        assert [peer["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] for peer in mongo] == [f"{name}-mongodb"]
        assert not any("ipBlock" in peer for rule in egress for peer in rule["to"]) or name == "notifier", name


def test_the_gateway_is_rendered_from_the_one_template():
    placeholders = set(gateway.PLACEHOLDER.findall(gateway.TEMPLATE.read_text()))
    dockerfile = (ROOT / "deploy" / "gateway" / "Dockerfile").read_text()
    assert "COPY nginx.conf.template /etc/nginx/templates/nginx.conf.template" in dockerfile
    given = {e["name"] for e in _by_name("Deployment")["gateway"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    given |= set(re.findall(r"^\s*(?:ENV\s+)?([A-Z_]+)=", dockerfile, re.M))
    assert placeholders <= given, placeholders - given
    compose_gateway = _compose()["services"]["gateway"]
    assert placeholders <= set(compose_gateway["environment"])
    assert "./deploy/gateway/nginx.conf.template:/etc/nginx/templates/nginx.conf.template:ro" in compose_gateway["volumes"]


def test_forwarded_addresses_are_trusted_only_from_a_range_in_kubernetes():
    """The ingress's X-Forwarded-For at the gateway, the gateway's at the services: never `*`."""
    [config] = [cm["data"] for cm in _of_kind("ConfigMap") if "FORWARDED_ALLOW_IPS" in cm["data"]]
    env = {e["name"]: e["value"] for e in _by_name("Deployment")["gateway"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    for trusted in (config["FORWARDED_ALLOW_IPS"], env["TRUSTED_PROXIES"]):
        assert ipaddress.ip_network(trusted).num_addresses < 2**24, trusted


# --- docker compose ----------------------------------------------------------------------------

def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _compose_schema() -> dict:
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(vendored.read_text())


def test_compose_files_are_valid_against_the_compose_specification():
    schema = _compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    validator.validate(_compose())
    for override in ("docker-compose.offline.yml", "tests/compose/docker-compose.test.yml"):
        validator.validate(yaml.safe_load((ROOT / override).read_text()))
    broken = _compose()
    broken["services"]["notifier"]["restart"] = ["always"]
    assert not validator.is_valid(broken)


def _healthchecked_in_dockerfile(service: dict) -> bool:
    build = service.get("build")
    return bool(build) and "\nHEALTHCHECK " in (ROOT / build["dockerfile"]).read_text()


def test_compose_services_have_health_checks_and_publish_only_on_loopback():
    services = _compose()["services"]
    one_shot = {dep for s in services.values() for dep, cond in (s.get("depends_on") or {}).items()
                if isinstance(s["depends_on"], dict) and cond.get("condition") == "service_completed_successfully"}
    for name, service in services.items():
        check = service.get("healthcheck", {})
        if name in one_shot:
            assert service.get("restart") == "no", name
            continue
        assert (check and not check.get("disable")) or _healthchecked_in_dockerfile(service), f"{name}: no health check"
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond 127.0.0.1"
    assert {name for name, s in services.items() if s.get("ports")} == {"gateway", "rabbitmq", "mailpit"}


def test_compose_app_services_scale():
    services = _compose()["services"]
    for name in SERVICES:
        assert "container_name" not in services[name] and "ports" not in services[name], name
        assert services[name]["build"] == {"context": ".", "dockerfile": "deploy/docker/Dockerfile",
                                           "args": {"SERVICE": name}}
        env = services[name]["environment"]
        assert env["FORWARDED_ALLOW_IPS"] == services["gateway"]["networks"]["crs"]["ipv4_address"]
        assert "replicaSet=rs0" in env["MONGODB_URL"]


def test_compose_settings_come_from_env_and_none_is_committed():
    text = (ROOT / "docker-compose.yml").read_text()
    example = (ROOT / ".env.example").read_text()
    defined = set(re.findall(r"^([A-Z_]+)=", example, re.M))
    required = set(re.findall(r"\$\{([A-Z_]+)(?::?\?[^}]*)?\}", text))
    assert required <= defined, f"not in .env.example: {required - defined}"
    secrets = set().union(*(_secret_settings(name) for name in SERVICES)) - CREDENTIAL_URLS - {"JWT_SIGNING_KEY"}
    secrets -= {"SMTP_PASSWORD"}  # compose mails Mailpit, which takes no login
    secrets |= {f"RABBITMQ_{name.upper()}_PASSWORD" for name in SERVICES} | {"RABBITMQ_ADMIN_PASSWORD"}
    for key in secrets:
        assert re.search(rf"^{key}=$", example, re.M), f".env.example must leave {key} empty"
        assert re.search(rf"\$\{{{key}:\?", text) or key.startswith("RABBITMQ_"), f"compose must require {key}"
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


def test_compose_mounts_files_that_exist():
    for name, service in _compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and not source.startswith("./var/"):
                assert (ROOT / source).exists(), f"{name} mounts a missing {source}"


def _interpolated(value: str, env: dict[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?error}` from `env`."""
    def substitute(match: re.Match) -> str:
        name, operator, word = match.groups()
        if env.get(name):
            return env[name]
        assert operator != ":?", f"compose would refuse to start: {word}"
        return word or ""
    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}", substitute, value)


@pytest.mark.parametrize("name", SERVICES)
def test_compose_gives_each_service_settings_production_accepts(name, monkeypatch):
    prepare = prepare_env()
    env = prepare.read_env(prepare.fill_secrets((ROOT / ".env.example").read_text()))
    given = {key: _interpolated(str(value), env) for key, value in _compose()["services"][name]["environment"].items()}
    assert service_settings(name, given, monkeypatch).environment == "prod"


@pytest.mark.parametrize("name", SERVICES)
def test_kubernetes_gives_each_service_settings_production_accepts(name, monkeypatch):
    """Secrets are not in the repository: each stands in with a value of the form kustomization.yaml asks for."""
    container = _by_name("Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
    given = {key: value for cm in _of_kind("ConfigMap") for key, value in cm["data"].items()}
    for env in container["env"]:
        secret = env.get("valueFrom", {}).get("secretKeyRef")
        if "value" in env:
            given[env["name"]] = env["value"]
        elif secret and secret["key"] == "amqp-url":
            given[env["name"]] = "amqp://crs:a-random-password@rabbitmq.crs-data:5672/"
        elif secret:
            given[env["name"]] = f"a-random-{secret['key']}"
    assert service_settings(name, given, monkeypatch).environment == "prod"


def test_make_up_fills_every_empty_secret_and_writes_rabbitmq_users_with_hashes():
    prepare = prepare_env()
    env = prepare.read_env(prepare.fill_secrets((ROOT / ".env.example").read_text()))
    assert all(len(value) >= 32 for key, value in env.items() if key.endswith(("PASSWORD", "TOKEN", "_KEY")))
    users = prepare.users_definitions(env)
    accounts = {u["name"]: u for u in users["users"]}
    assert set(accounts) == {*map(definitions.service_user, SERVICES), "board-example", env["RABBITMQ_ADMIN_USER"]}
    for name in SERVICES:
        raw = base64.b64decode(accounts[definitions.service_user(name)]["password_hash"])
        assert raw[4:] == hashlib.sha256(raw[:4] + env[f"RABBITMQ_{name.upper()}_PASSWORD"].encode()).digest()
    assert not any(password in json.dumps(users) for key, password in env.items() if key.endswith("PASSWORD"))
    rights = {p["user"]: p for p in users["permissions"]}
    assert rights["board-example"] | {"user": "", "vhost": ""} == {
        "user": "", "vhost": "", "configure": "^$", "write": "^exams\\.events$", "read": "^$"}
    assert users["topic_permissions"] == [definitions.service_topic_permissions(name, "/") for name in SERVICES] + [
        definitions.board_rights("board-example", "/")[1]]
    assert rights[env["RABBITMQ_ADMIN_USER"]]["configure"] == ".*"


def test_make_up_says_which_broker_password_an_older_env_lacks(capsys):
    prepare = prepare_env()
    env = prepare.read_env(prepare.fill_secrets((ROOT / ".env.example").read_text()))
    del env["RABBITMQ_NOTIFIER_PASSWORD"]
    with pytest.raises(SystemExit) as stopped:
        prepare.users_definitions(env)
    assert "RABBITMQ_NOTIFIER_PASSWORD missing or empty: RabbitMQ has a user per service" in str(stopped.value)


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_reaches_the_broker_with_its_own_account(name):
    compose_url = _compose()["services"][name]["environment"]["AMQP_URL"]
    assert compose_url.startswith(f"amqp://{definitions.service_user(name)}:${{RABBITMQ_{name.upper()}_PASSWORD:?")
    container = _by_name("Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
    secret = next(e for e in container["env"] if e["name"] == "AMQP_URL")["valueFrom"]["secretKeyRef"]
    assert secret == {"name": f"crs-{name}-rabbitmq", "key": "amqp-url"}
    triggers = _by_name("ScaledObject")[name]["spec"]["triggers"]
    assert {t["authenticationRef"]["name"] for t in triggers if t["type"] == "rabbitmq"} == {f"crs-{name}-rabbitmq"}
    keda = _by_name("TriggerAuthentication")[f"crs-{name}-rabbitmq"]["spec"]["secretTargetRef"]
    assert [(ref["name"], ref["key"]) for ref in keda] == [(secret["name"], secret["key"])]


# --- Dockerfiles and RabbitMQ ------------------------------------------------------------------

def test_service_dockerfile_is_pinned_non_root_health_checked_and_installs_from_the_wheelhouse():
    text = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:\d+\.\d+\.\d+-slim", text, re.M), "a slim Python base pinned by version"
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1].split(":")[0] not in ("0", "root"), "runs as a non-root user"
    assert re.search(r"^HEALTHCHECK .*\n?.*crs_shared\.healthcheck", text, re.M)
    assert "PIP_NO_INDEX=1" in text and "PIP_FIND_LINKS=/wheelhouse" in text, "nothing is downloaded in a build"
    assert "./shared ./services/${SERVICE}" in text


@pytest.mark.parametrize("name", SERVICES)
def test_the_health_check_asks_each_service_on_its_port(name, monkeypatch):
    from crs_shared import healthcheck
    asked = []
    monkeypatch.setenv("SERVICE", name)
    monkeypatch.setattr(healthcheck.urllib.request, "urlopen", lambda url, timeout: asked.append(url))
    healthcheck.main()
    monkeypatch.setenv(f"{name.upper()}_PORT", "9999")
    healthcheck.main()
    assert asked == [f"http://127.0.0.1:{PORTS[name]}/healthz", "http://127.0.0.1:9999/healthz"]


def _pins(lock: Path) -> dict[str, tuple[str, int]]:
    """name: (version, number of hashes) of a pip-compile lock."""
    pins, name = {}, None
    for line in lock.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line):
            name = match[1].lower().replace("_", "-")
            pins[name] = (match[2], 0)
        elif name and line.strip().startswith("--hash=sha256:"):
            pins[name] = (pins[name][0], pins[name][1] + 1)
    return pins


def test_locks_carry_hashes_and_the_images_run_what_the_tests_ran():
    project, images = _pins(ROOT / "requirements.lock"), _pins(ROOT / "deploy" / "docker" / "requirements.lock")
    for pins in (project, images):
        assert pins and all(hashes for _, hashes in pins.values()), "a pin without a hash"
    for lock in ("requirements.lock", "deploy/docker/requirements.lock"):  # pip refuses -e when checking hashes
        assert not [line for line in (ROOT / lock).read_text().splitlines() if line.startswith("-e")]
    assert {name: version for name, (version, _) in images.items() if name in project} == \
        {name: project[name][0] for name in images if name in project}
    # Test and benchmark tools stay out of the images.
    assert not {"pytest", "playwright", "schemathesis", "py-spy", "hypothesis", "pypdf"} & images.keys()


class _RecordingChannel:
    """Enough of an aio-pika channel to record what the topology declares."""

    def __init__(self):
        self.exchanges, self.queues = {}, {}

    async def declare_exchange(self, name, type, durable, passive=False):
        self.exchanges[name] = (type.value, durable, passive)
        return Mock()

    async def declare_queue(self, name, durable, arguments):
        self.queues[name] = arguments
        queue = Mock()
        queue.bind = Mock(side_effect=lambda *a, **k: asyncio.sleep(0))
        return queue


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_may_bind_exactly_the_events_it_consumes(service):
    consumers = importlib.import_module(f"{service}.consumers")
    consumed = {subscription.event.ROUTING_KEY for subscription in consumers.subscriptions(Mock())}
    assert set(definitions.CONSUMES[service]) == consumed


def test_rabbitmq_definitions_are_the_code_and_give_the_queues_the_code_declares_their_policy():
    definitions_file = ROOT / "deploy" / "rabbitmq" / "definitions.json"
    assert json.loads(definitions_file.read_text()) == definitions.topology(), (
        f"{definitions_file} is not what the code defines: python -m crs_shared.messaging.definitions > {definitions_file}")
    channel = _RecordingChannel()
    asyncio.run(topology.declare_consumer_queue(channel, "results", "results.published"))
    defined = {e["name"]: (e["type"], e["durable"]) for e in definitions.topology()["exchanges"]}
    # The shared exchange is only looked up: it is the definitions', which no service may change.
    assert {name: kind[:2] for name, kind in channel.exchanges.items() if kind[2]} == defined
    [policy] = [p for p in definitions.topology()["policies"] if p["name"] == "crs-results-queues"]
    [own_exchange] = [name for name, kind in channel.exchanges.items() if not kind[2]]
    assert policy["definition"] == {"dead-letter-exchange": own_exchange, "delivery-limit": definitions.DELIVERY_LIMIT}
    # Only the type as argument: dead-lettering and the limit come from the policy, which can change.
    assert channel.queues == {"results.results.published": {"x-queue-type": "quorum"},
                              "results.results.published.dlq": {"x-queue-type": "quorum"}}
    assert re.search(policy["pattern"], "results.results.published")
    assert not re.search(policy["pattern"], "results.results.published.dlq")
    assert not re.search(policy["pattern"], "notifier.results.released")
    conf = (ROOT / "deploy" / "rabbitmq" / "rabbitmq.conf").read_text()
    assert re.search(r"^load_definitions = /etc/rabbitmq/definitions.d$", conf, re.M)
    assert re.search(r"^default_queue_type = quorum$", conf, re.M)


def test_a_board_may_publish_exactly_the_events_the_contract_gives_boards():
    assert set(definitions.BOARD_ROUTING_KEYS) == {event.ROUTING_KEY for event in BatchPart.__subclasses__()}
    assert definitions.SERVICES == SERVICES


# --- Grafana -----------------------------------------------------------------------------------

METRIC_CALL = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"")
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}


def _exposed_metric_names() -> set[str]:
    """Every series name the services expose, from the prometheus_client metrics in their code."""
    names = set()
    for path in [*ROOT.glob("shared/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]:
        for kind, name in METRIC_CALL.findall(path.read_text()):
            base = name.removesuffix("_total")
            names |= {
                "Counter": {f"{base}_total"},
                "Gauge": {name},
                "Histogram": {f"{name}_bucket", f"{name}_sum", f"{name}_count"},
                "Summary": {f"{name}_sum", f"{name}_count"},
            }[kind]
    return names


def _queried_metric_names(expr: str) -> set[str]:
    expr = re.sub(r'"(?:\\.|[^"\\])*"', "", expr)  # strings
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)  # label matchers, ranges
    expr = re.sub(r"\b(?:by|without)\s*\([^)]*\)", "", expr)  # grouping labels
    tokens = re.finditer(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*", expr)
    # A name followed by "(" is a function.
    return {t.group() for t in tokens if t.group() not in PROMQL_WORDS and not expr[t.end():].lstrip().startswith("(")}


def test_dashboard_queries_only_metrics_that_exist():
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    exposed = _exposed_metric_names()
    assert {"http_request_duration_seconds_bucket", "events_consumed_total", "outbox_backlog"} <= exposed
    queried = set().union(*map(_queried_metric_names, exprs))
    # RabbitMQ's own Prometheus plugin is the one source outside our code.
    ours = {name for name in queried if not name.startswith("rabbitmq_")}
    assert ours <= exposed, f"the dashboard queries metrics no code defines: {sorted(ours - exposed)}"
    assert "rabbitmq_queue_messages_ready" in queried
    # Every metric of ours is on the dashboard (histograms through their buckets or counts).
    shown = {re.sub(r"_(bucket|sum|count)$", "", name) for name in ours}
    missing = {re.sub(r"_(bucket|sum|count)$", "", name) for name in exposed} - shown
    assert not missing, f"metrics without a panel: {sorted(missing)}"
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def test_dashboard_metric_parser_finds_names_and_skips_functions_and_labels():
    found = _queried_metric_names('histogram_quantile(0.99, sum by (service, le) (rate(foo_bucket{a="b"}[5m])))')
    assert found == {"foo_bucket"}
