#!/usr/bin/env python3
"""Keeps deploy/docker and deploy/k8s true to deploy/local, the topology CI runs.

No container engine runs here, so the compose file and the manifests cannot be started; what
can be checked without one is checked, and each check prints one line:
  - every Kubernetes object is valid against the Kubernetes 1.31 schemas (kubernetes-validate);
  - the IdP itself (`idp check`) accepts the configuration of compose and of Kubernetes, with
    the registrations of deploy/relying-parties;
  - the three configurations set the same keys, and agree where they must;
  - the same number of nodes, the same port, the same probes, no stickiness, the same retry
    rule, the same mounts and secrets;
  - the image installs a Debian package for every shared library the binary links.

    deploy/check.sh            (makes the venv, then runs this with IDP_BIN)
"""

import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import kubernetes_validate
import yaml

DEPLOY = Path(__file__).resolve().parent
IDP_BIN = os.environ.get("IDP_BIN", str(DEPLOY.parent / "target/debug/idp"))
K8S_VERSION = "1.31.0"

results = []


def check(name, ok, detail="", only_on_failure=False):
    results.append(bool(ok))
    shown = detail if detail and not (ok and only_on_failure) else ""
    print(f"  {'ok  ' if ok else 'FAIL'} {name}{': ' + shown if shown else ''}")


def local_config_keys():
    """The keys of the idp.toml that deploy/local/up.sh writes (its here-document)."""
    text = (DEPLOY / "local/up.sh").read_text()
    body = text.split("<<TOML\n", 1)[1].split("\nTOML\n", 1)[0]
    return {m.group(1) for m in re.finditer(r"^([a-z_]+) = ", body, re.M)}


def local_default(name):
    m = re.search(rf'{name}:=([^}}]+)}}', (DEPLOY / "local/env.sh").read_text())
    return m.group(1)


def idp_check(label, toml_text):
    """Runs `idp check` on a configuration, its container paths moved into a temporary dir."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "server-secret").write_text("c2VydmVyIHNlY3JldCBvZiB0aGUgZGVwbG95IGNoZWNrIQ==\n")
        (tmp / "database-url").write_text("postgres://idp:secret@postgres:5432/idp\n")
        text = toml_text.replace("/run/secrets/", f"{tmp}/")
        text = text.replace('"/etc/idp/relying-parties"', f'"{DEPLOY / "relying-parties"}"')
        text = text.replace('"/var/lib/idp"', f'"{tmp / "data"}"')
        (tmp / "idp.toml").write_text(text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
        out = subprocess.run([IDP_BIN, "check", "--config", str(tmp / "idp.toml")],
                             capture_output=True, text=True, env=env)
        lines = out.stdout.strip().splitlines()
        detail = lines[-1].strip() if out.returncode == 0 else out.stderr.strip()
        # every registration of deploy/relying-parties loaded, not a missing directory
        protocols = [tomllib.loads(f.read_text())["protocol"]
                     for f in (DEPLOY / "relying-parties").glob("*.toml")]
        expected = (f"{protocols.count('oidc')} OpenID Connect, {protocols.count('saml')} SAML, "
                    f"{protocols.count('cas')} CAS")
        check(f"idp check accepts the {label} configuration and its {len(protocols)} registrations",
              out.returncode == 0 and expected in detail, detail)


def main():
    compose = yaml.safe_load((DEPLOY / "docker/compose.yaml").read_text())
    docker_toml_text = (DEPLOY / "docker/idp.toml").read_text()
    docker_cfg = tomllib.loads(docker_toml_text)
    k8s_docs = []
    for f in sorted((DEPLOY / "k8s").glob("*.yaml")):
        if f.name != "kustomization.yaml":
            k8s_docs += [(f.name, d) for d in yaml.safe_load_all(f.read_text()) if d]
    by_kind = {}
    for _, d in k8s_docs:
        by_kind.setdefault((d["kind"], d["metadata"]["name"]), d)
    k8s_toml_text = by_kind[("ConfigMap", "idp-config")]["data"]["idp.toml"]
    k8s_cfg = tomllib.loads(k8s_toml_text)
    deployment = by_kind[("Deployment", "idp")]
    container = deployment["spec"]["template"]["spec"]["containers"][0]

    print("deploy/docker and deploy/k8s against deploy/local:")

    # 1. Kubernetes schemas
    bad = []
    for name, d in k8s_docs:
        try:
            kubernetes_validate.validate(d, K8S_VERSION, strict=True)
        except Exception as e:  # noqa: BLE001 - the message is what we print
            bad.append(f"{name} {d['kind']}/{d['metadata']['name']}: {str(e).splitlines()[0]}")
    check(f"{len(k8s_docs)} Kubernetes objects valid against the {K8S_VERSION} schemas",
          not bad, "; ".join(bad), only_on_failure=True)
    kustomization = yaml.safe_load((DEPLOY / "k8s/kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    files = {f.name for f in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    check("kustomization.yaml lists every manifest", listed == files,
          f"differs by {sorted(files ^ listed)}", only_on_failure=True)

    # 2. the IdP accepts both configurations
    idp_check("compose", docker_toml_text)
    idp_check("Kubernetes", k8s_toml_text)

    # 3. the same keys, the same values where they must agree
    # a secret given in a file (`database_url_file`) counts as the key itself
    def keys(names):
        return {k.removesuffix("_file") for k in names}
    local_keys = keys(local_config_keys())
    for label, cfg in (("compose", docker_cfg), ("Kubernetes", k8s_cfg)):
        check(f"the {label} configuration sets the keys of deploy/local's",
              keys(cfg) == local_keys, f"differs by {sorted(keys(cfg) ^ local_keys)}",
              only_on_failure=True)
    for key in ("redis_key_prefix", "database_max_connections", "log_format", "listen",
                "relying_parties_dir", "server_secret_file", "database_url_file"):
        check(f"compose and Kubernetes agree on {key}", docker_cfg.get(key) == k8s_cfg.get(key),
              f"{docker_cfg.get(key)!r} / {k8s_cfg.get(key)!r}")
    check("redis_key_prefix as in deploy/local",
          docker_cfg["redis_key_prefix"] == local_default("DEPLOY_REDIS_PREFIX"))
    port = int(docker_cfg["listen"].rsplit(":", 1)[1])

    # 4. the topology
    nodes = int(local_default("DEPLOY_NODES"))
    idp_services = sorted(s for s in compose["services"] if re.fullmatch(r"idp-\d+", s))
    check(f"{nodes} nodes everywhere", len(idp_services) == nodes == deployment["spec"]["replicas"],
          f"local {nodes}, compose {len(idp_services)}, k8s {deployment['spec']['replicas']}")
    node_defs = [compose["services"][s] for s in idp_services]
    check("compose's nodes are one definition",
          all(d == node_defs[0] for d in node_defs) and node_defs[0]["build"]["dockerfile"]
          == "deploy/docker/Dockerfile")
    upstreams = re.findall(r"server (idp-\d+):(\d+)", (DEPLOY / "docker/nginx.conf").read_text())
    check("compose's nginx balances over every node on the nodes' port",
          sorted(u for u, _ in upstreams) == idp_services and all(int(p) == port for _, p in upstreams),
          f"{upstreams}")
    dockerfile = (DEPLOY / "docker/Dockerfile").read_text()
    ports = {
        "Dockerfile EXPOSE": int(re.search(r"^EXPOSE (\d+)", dockerfile, re.M).group(1)),
        "Deployment": container["ports"][0]["containerPort"],
        "compose/k8s listen": port,
    }
    check("one port for the nodes", len(set(ports.values())) == 1, f"{ports}")
    probes = {p: container[p]["httpGet"]["path"] for p in
              ("startupProbe", "readinessProbe", "livenessProbe")}
    routes = set(re.findall(r'\.route\("(/[a-z]+z)"', (DEPLOY.parent / "idp/src/web/mod.rs").read_text()))
    check("probes on routes the IdP serves",
          set(probes.values()) <= routes and probes["readinessProbe"] == "/readyz"
          and probes["livenessProbe"] == "/healthz", f"{probes}, routes {sorted(routes)}")
    service = by_kind[("Service", "idp")]
    ingress = by_kind[("Ingress", "idp")]
    annotations = ingress["metadata"].get("annotations", {})
    sticky = [k for k in annotations if "affinity" in k or "session-cookie" in k]
    check("no stickiness (Service, Ingress, nginx)",
          service["spec"].get("sessionAffinity", "None") == "None" and not sticky
          and "ip_hash" not in (DEPLOY / "docker/nginx.conf").read_text()
          and "ip_hash" not in (DEPLOY / "local/nginx.conf.in").read_text())
    snippet = (DEPLOY / "nginx-proxy.conf").read_text()
    retry = re.search(r"^proxy_next_upstream ([^;]+);", snippet, re.M).group(1)
    check("the same retry rule (nginx-proxy.conf, Ingress)",
          annotations.get("nginx.ingress.kubernetes.io/proxy-next-upstream") == retry, retry)
    check("local and compose include the shared proxying",
          "@DEPLOY@/nginx-proxy.conf" in (DEPLOY / "local/nginx.conf.in").read_text()
          and any(c["source"] == "nginx-proxy" for c in compose["services"]["nginx"]["configs"])
          and compose["configs"]["nginx-proxy"]["file"] == "../nginx-proxy.conf")
    cmd_config = re.search(r'^CMD \["serve", "--config", "([^"]+)"\]', dockerfile, re.M).group(1)
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    check("the configuration where the image looks for it",
          node_defs[0]["configs"][0]["target"] == cmd_config and cmd_config in mounts
          and container["args"][-1] == cmd_config, cmd_config)
    check("the registrations of deploy/relying-parties mounted where the configuration says",
          f"../relying-parties:{docker_cfg['relying_parties_dir']}:ro" in node_defs[0]["volumes"]
          and k8s_cfg["relying_parties_dir"] in mounts)
    needed = sorted(Path(docker_cfg[k]).name for k in ("server_secret_file", "database_url_file"))
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    k8s_items = sorted(i["path"] for i in volumes["secrets"]["secret"]["items"])
    check("the secret files the configuration names are given",
          sorted(node_defs[0]["secrets"]) == needed == k8s_items, f"{needed}")
    made = re.findall(r'"\$dir/([a-z-]+)"', (DEPLOY / "docker/make-secrets.sh").read_text())
    postgres_pod = by_kind[("StatefulSet", "postgres")]["spec"]["template"]["spec"]
    k8s_keys = {i["key"] for v in postgres_pod["volumes"] if "secret" in v
                for i in v["secret"]["items"]}
    check("make-secrets.sh writes every secret compose and Kubernetes read",
          set(compose["secrets"]) | set(k8s_items) | k8s_keys <= set(made), f"{sorted(set(made))}")
    uid = int(re.search(r"^USER (\d+)", dockerfile, re.M).group(1))
    pod_security = deployment["spec"]["template"]["spec"]["securityContext"]
    mode = volumes["secrets"]["secret"].get("defaultMode", 0o644)
    check("the image's user reads the Kubernetes secrets (fsGroup, group-readable)",
          pod_security.get("runAsUser") == uid and pod_security.get("fsGroup") == uid
          and mode & 0o040, f"uid {uid}, fsGroup {pod_security.get('fsGroup')}, mode {mode:o}")
    secrets_script = (DEPLOY / "docker/make-secrets.sh").read_text()
    check("the compose secrets are readable by the containers' users (make-secrets.sh)",
          re.search(r'^chmod 644 "\$dir"/\*', secrets_script, re.M) is not None)
    nginx_address = compose["services"]["nginx"]["networks"]["idp"]["ipv4_address"]
    check("compose believes X-Forwarded-For from nginx alone",
          docker_cfg["trusted_proxies"] == [nginx_address], f"{docker_cfg['trusted_proxies']}")
    policies = [d for _, d in k8s_docs if d["kind"] == "NetworkPolicy"]
    guarded = {p["spec"]["podSelector"]["matchLabels"]["app"] for p in policies}
    check("NetworkPolicies guard the nodes, PostgreSQL and Redis",
          {"idp", "postgres", "redis"} <= guarded, f"{sorted(guarded)}")
    images = {compose["services"]["idp-1"]["image"], container["image"]}
    check("one image for compose and Kubernetes", len(images) == 1, f"{images}")

    # 5. the image's libraries
    runtime = dockerfile.split("\nFROM debian", 1)[1]
    apt = re.search(r"--no-install-recommends\s*\\\n\s*([^\n&]+)", runtime).group(1)
    apt = apt.rstrip(" \\").split()
    closure = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
         "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *apt],
        capture_output=True, text=True).stdout
    closure = {re.sub(r":amd64$", "", l.strip()) for l in closure.splitlines()
               if l.strip() and not l.startswith(" ")} | set(apt)
    libs = re.findall(r"=> (/\S+)", subprocess.run(["ldd", IDP_BIN], capture_output=True,
                                                   text=True).stdout)
    owners = set()
    for lib in libs:
        real = os.path.realpath(lib)
        out = subprocess.run(["dpkg", "-S", real], capture_output=True, text=True).stdout \
            or subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True).stdout
        owners |= {o.split(":")[0].strip() for o in out.split(": ")[0].split(",") if o.strip()}
    base = {"libc6", "libgcc-s1", "libstdc++6"}  # in debian:bookworm-slim itself
    missing = sorted(owners - closure - base)
    check(f"the image installs the packages of the binary's {len(libs)} shared libraries",
          bool(owners) and not missing, f"missing {missing}" if missing else ", ".join(sorted(owners - base)))

    failed = results.count(False)
    print(f"deploy check: {len(results)} checks, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
