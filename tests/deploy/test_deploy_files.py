"""The Kubernetes manifests and the compose file give the app what its settings read: here, the
C2PA signing chain and key (PEM file paths), mounted from a secret into the web processes, which
alone sign the `.c2pa` sidecars; without them every sidecar answers 503 c2pa_not_configured."""

from pathlib import PurePosixPath

import yaml
from django.conf import settings

from tests.deploy.subprocess_env import ROOT

C2PA_FILE_SETTINGS = ("C2PA_SIGNING_CERT", "C2PA_SIGNING_KEY")


def _kubernetes_objects() -> dict[tuple[str, str], dict]:
    objects = {}
    for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                objects[(document["kind"], document["metadata"]["name"])] = document
    return objects


def test_kubernetes_web_pods_read_the_c2pa_chain_and_key_from_a_mounted_secret():
    objects = _kubernetes_objects()
    pod = objects[("Deployment", "guildtrust-web")]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {entry["name"]: entry["value"] for entry in container.get("env", []) if "value" in entry}
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    for name in C2PA_FILE_SETTINGS:
        assert hasattr(settings, name), name
        assert name in env, f"the web pods do not set {name}"
        path = PurePosixPath(env[name])
        (mount,) = [m for m in container["volumeMounts"] if PurePosixPath(m["mountPath"]) == path.parent]
        secret_name = volumes[mount["name"]]["secret"]["secretName"]
        secret = objects[("Secret", secret_name)]
        assert path.name in {**secret.get("data", {}), **secret.get("stringData", {})}, name


def test_compose_web_reads_the_c2pa_chain_and_key_from_mounted_secrets():
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    web = compose["services"]["web"]
    for name in C2PA_FILE_SETTINGS:
        path = PurePosixPath(web["environment"][name])
        # Compose mounts a service's secret `x` at /run/secrets/x.
        assert path.parent == PurePosixPath("/run/secrets"), name
        assert path.name in web["secrets"], name
        assert "file" in compose["secrets"][path.name], name
    # The web service still has everything the other app services have.
    assert web["environment"]["SECRET_KEY"] == compose["services"]["worker"]["environment"]["SECRET_KEY"]
