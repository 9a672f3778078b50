#!/usr/bin/python3
"""Offline check of the Kubernetes manifests in deploy/k8s.

Renders every kustomization (base, overlays/cpu, testdata/tls: the CPU overlay with the TLS
component) and checks each object

  * against the Kubernetes API types of Debian's python3-kubernetes (22.6, the 1.22 API): an
    unknown field, a wrong type or a missing required field is an error. Fields newer than that
    API are described in NEWER_FIELDS (the kubelet gRPC probe, Kubernetes >= 1.24);
  * against the review rules of this project: every container has CPU and memory requests and
    limits; the controller is a StatefulSet of one whose database lies on a PersistentVolumeClaim;
    the token reaches the pods only as a file from a Secret (no token flag, no literal token in an
    env value, a ConfigMap or an argument); the controller has readiness and liveness probes;
    workers have a grace period long enough to give their lease back; GPU workers request one GPU
    and CPU workers none.

It then renders testdata/broken, a kustomization with deliberate mistakes, and fails unless each
of them is reported (so a checker that stopped seeing them fails too).

Rendering: `kubectl kustomize` when a kubectl with kustomize v4 or later is on PATH (kubectl
1.21+; Debian 12's kubernetes-client 1.20 embeds kustomize v2.0.3, which cannot read these
kustomizations). Otherwise, or with --renderer=builtin, a minimal renderer in this file that
implements only what these kustomizations use: `resources` (files and folders), `components`,
`labels` (pairs, metadata only), `configMapGenerator` (files; create/replace; no hash suffix,
which the kustomizations turn off), and `patches` (strategic merge with the merge keys of the
lists used here; JSON 6902 add/replace/remove with a target). When kubectl is there, both
renderers run and must agree, so the fallback stays honest.

Usage: /usr/bin/python3 deploy/k8s/check.py [--renderer auto|kubectl|builtin] [-v]
Exit status 0 when everything holds; the findings are printed either way.
"""

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys

import yaml
from kubernetes import client

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = ["base", "overlays/cpu", "testdata/tls"]
BROKEN = "testdata/broken"
# What testdata/broken must produce: (substring of a finding, why it is there).
BROKEN_EXPECTED = [
    ("Deployment/broken-worker: spec.template.spec.containers[0].comand: unknown field for V1Container",
     "a misspelled field"),
    ("Deployment/broken-worker: spec.replicas: expected int, got str 'two'", "a wrong type"),
    ("Service/broken-controller: spec.ports[0].port: expected int, got str '50051'", "a wrong type"),
    ("Deployment/broken-worker: spec.template.spec.containers[0].readinessProbe.grpc: missing required field port",
     "a missing required field in a newer type"),
    ("Deployment/broken-worker: container worker: no resources.limits", "a container without limits"),
    ("Deployment/broken-worker: container worker: env VERTEBRA_TOKEN has a literal value", "a token in an env value"),
    ("ConfigMap/broken-settings: data.token: looks like a token", "a token in a ConfigMap"),
]

M = client.models
PRIMITIVES = {"str": str, "int": int, "float": (int, float), "bool": bool, "object": object,
              "date": str, "datetime": str}
# Fields newer than python3-kubernetes 22.6 (Kubernetes 1.22): {model: {json name: type}}, and the
# types they introduce: {type: ({json name: type}, required json names)}.
NEWER_FIELDS = {"V1Probe": {"grpc": "V1GRPCAction"}}  # GRPCAction: beta in 1.24, GA in 1.27
NEWER_TYPES = {"V1GRPCAction": ({"port": "int", "service": "str"}, {"port"})}
# Quantities (resource.Quantity) are strings in the models but numbers are valid YAML for them.
QUANTITY_FIELDS = {("V1ResourceRequirements", "limits"), ("V1ResourceRequirements", "requests"),
                   ("V1EmptyDirVolumeSource", "sizeLimit")}
QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[numkMGTPE]|[KMGTPE]i)?$")
# 32+ characters of hex or base64 with a digit in them, not a path or a flag: looks like a token.
TOKENISH = re.compile(r"^(?![/-])(?=.*[0-9])[A-Za-z0-9+/_-]{32,}={0,2}$")


# ---------------------------------------------------------------------------------------------
# Schema check against the python3-kubernetes models.

def model_class(api_version, kind):
    version = api_version.split("/")[-1]
    return getattr(M, version[0].upper() + version[1:] + kind, None)


def fields_of(type_name):
    """{json name: type}, required json names, for a model or a NEWER_TYPES type."""
    if type_name in NEWER_TYPES:
        return NEWER_TYPES[type_name]
    cls = getattr(M, type_name)
    fields = {json_name: cls.openapi_types[attr] for attr, json_name in cls.attribute_map.items()}
    fields.update(NEWER_FIELDS.get(type_name, {}))
    required = set()
    for attr, json_name in cls.attribute_map.items():
        # The models' setters refuse None for required fields: ask each one.
        probe = cls.__new__(cls)
        probe.local_vars_configuration = _CONFIGURATION
        try:
            setattr(probe, attr, None)
        except ValueError:
            required.add(json_name)
        except Exception:  # setters that do more than a None check: not required
            pass
    return fields, required


_FIELDS_CACHE = {}
_CONFIGURATION = client.Configuration()  # client_side_validation on: setters check required fields


def check_value(value, type_name, path, errors, owner=None):
    if value is None:
        return
    m = re.fullmatch(r"list\[(.*)\]", type_name)
    if m:
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            check_value(item, m.group(1), f"{path}[{i}]", errors)
        return
    m = re.fullmatch(r"dict\(str, (.*)\)", type_name)
    if m:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map, got {type(value).__name__}")
            return
        for k, item in value.items():
            if owner in QUANTITY_FIELDS:
                if isinstance(item, bool) or not QUANTITY.match(str(item)):
                    errors.append(f"{path}.{k}: not a quantity: {item!r}")
            else:
                check_value(item, m.group(1), f"{path}.{k}", errors)
        return
    if type_name in PRIMITIVES:
        if owner in QUANTITY_FIELDS:
            if isinstance(value, bool) or not QUANTITY.match(str(value)):
                errors.append(f"{path}: not a quantity: {value!r}")
            return
        want = PRIMITIVES[type_name]
        bad_bool = isinstance(value, bool) and type_name in ("int", "float")
        if bad_bool or not isinstance(value, want):
            errors.append(f"{path}: expected {type_name}, got {type(value).__name__} {value!r}")
        return
    if not isinstance(value, dict):
        errors.append(f"{path}: expected an object ({type_name}), got {type(value).__name__} {value!r}")
        return
    if type_name not in _FIELDS_CACHE:
        _FIELDS_CACHE[type_name] = fields_of(type_name)
    fields, required = _FIELDS_CACHE[type_name]
    for name in sorted(required - set(k for k, v in value.items() if v is not None)):
        errors.append(f"{path}: missing required field {name}")
    for k, item in value.items():
        if k not in fields:
            errors.append(f"{path}.{k}: unknown field for {type_name}")
            continue
        check_value(item, fields[k], f"{path}.{k}", errors, owner=(type_name, k))


def check_schema(obj):
    errors = []
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    cls = model_class(api_version or "", kind or "")
    if cls is None:
        return [f"unknown apiVersion/kind {api_version}/{kind}"]
    check_value(obj, cls.__name__, "", errors)
    return [e.lstrip(".") for e in errors]


# ---------------------------------------------------------------------------------------------
# Review rules.

def pod_specs(obj):
    spec = obj.get("spec") or {}
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        yield (spec.get("template") or {}).get("spec") or {}
    elif obj["kind"] == "CronJob":
        yield ((((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {})
    elif obj["kind"] == "Pod":
        yield spec


def all_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from all_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from all_strings(v)


def flag_value(args, flag):
    for i, a in enumerate(args):
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
        if a == flag and i + 1 < len(args):
            return args[i + 1]
    return None


def mount_for(container, path):
    """The volumeMount whose mountPath holds PATH (the longest one)."""
    best = None
    for m in container.get("volumeMounts") or []:
        mp = m.get("mountPath", "").rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best["mountPath"].rstrip("/")):
                best = m
    return best


def check_review(objs):
    errors = []
    for obj in objs:
        name = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
        if obj.get("kind") == "ConfigMap":
            for key, value in ((obj.get("data") or {}).items()):
                if re.search(r"token|secret|password", key, re.I) or TOKENISH.match(str(value).strip()):
                    errors.append(f"{name}: data.{key}: looks like a token; tokens belong in a Secret")
                elif re.search(r'"?(token|password)"?\s*[:=]\s*"?[A-Za-z0-9+/_-]{16,}', str(value), re.I):
                    errors.append(f"{name}: data.{key}: holds a token-like literal")
        if obj.get("kind") != "Secret":
            for s in all_strings(obj.get("spec") or {}):
                if TOKENISH.match(s):
                    errors.append(f"{name}: a token-like literal in the spec: {s[:8]}...")
        for pod in pod_specs(obj):
            volumes = {v.get("name"): v for v in pod.get("volumes") or []}
            claims = {((t.get("metadata") or {}).get("name")) for t in (obj.get("spec") or {}).get(
                "volumeClaimTemplates") or []}
            containers = (pod.get("initContainers") or []) + (pod.get("containers") or [])
            for c in containers:
                cname = f"{name}: container {c.get('name')}"
                resources = c.get("resources") or {}
                for part in ("requests", "limits"):
                    got = resources.get(part)
                    if not got:
                        errors.append(f"{cname}: no resources.{part}")
                        continue
                    for r in ("cpu", "memory"):
                        if r not in got:
                            errors.append(f"{cname}: resources.{part} has no {r}")
                for e in c.get("env") or []:
                    if re.search(r"TOKEN|SECRET|PASSWORD|KEY", e.get("name", ""), re.I) and "value" in e:
                        errors.append(f"{cname}: env {e.get('name')} has a literal value; use valueFrom.secretKeyRef")
                args = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
                if flag_value(args, "--token") is not None:
                    errors.append(f"{cname}: --token on the command line; use --token-file")
                token_file = flag_value(args, "--token-file")
                if "controller" in args or "worker" in args:
                    if token_file is None and not any(e.get("name") == "VERTEBRA_TOKEN" for e in c.get("env") or []):
                        errors.append(f"{cname}: no --token-file (a token is required beyond loopback)")
                    if token_file is not None:
                        m = mount_for(c, token_file)
                        if m is None or "secret" not in volumes.get(m.get("name"), {}):
                            errors.append(f"{cname}: --token-file {token_file} is not on a Secret volume")
                if "controller" in args:
                    if obj["kind"] != "StatefulSet" or (obj["spec"].get("replicas", 1) != 1):
                        errors.append(f"{name}: the controller must be a StatefulSet of one")
                    db = flag_value(args, "--db")
                    m = mount_for(c, db or "")
                    persistent = m is not None and (m.get("name") in claims or
                                                     "persistentVolumeClaim" in volumes.get(m.get("name"), {}))
                    if not persistent:
                        errors.append(f"{cname}: --db {db} is not on a PersistentVolumeClaim")
                    for probe in ("readinessProbe", "livenessProbe"):
                        if probe not in c:
                            errors.append(f"{cname}: no {probe}")
                if "worker" in args:
                    if (pod.get("terminationGracePeriodSeconds") or 30) < 30:
                        errors.append(f"{name}: terminationGracePeriodSeconds under 30 s: the lease may not be released")
                    device = flag_value(args, "--device") or "cpu"
                    gpus = [(resources.get(part) or {}).get("nvidia.com/gpu") for part in ("requests", "limits")]
                    if device.startswith("cuda") and [str(g) for g in gpus] != ["1", "1"]:
                        errors.append(f"{cname}: --device={device} without one nvidia.com/gpu requested and limited")
                    if device == "cpu" and gpus != [None, None]:
                        errors.append(f"{cname}: --device=cpu but asks for nvidia.com/gpu")
    return errors


# ---------------------------------------------------------------------------------------------
# Rendering.

def kubectl_ok():
    if shutil.which("kubectl") is None:
        return False
    try:
        out = subprocess.run(["kubectl", "version", "--client"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    m = re.search(r"Kustomize Version: v(\d+)", out)
    return m is not None and int(m.group(1)) >= 4


def render_kubectl(path):
    env = dict(os.environ, KUBECONFIG="/dev/null")
    p = subprocess.run(["kubectl", "kustomize", path], capture_output=True, text=True, env=env, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {path}: {p.stderr.strip()}")
    return [d for d in yaml.safe_load_all(p.stdout) if d]


MERGE_KEYS = {"containers": "name", "initContainers": "name", "volumes": "name", "env": "name",
              "volumeMounts": "mountPath", "ports": "containerPort", "volumeClaimTemplates": None}


def strategic_merge(base, patch):
    out = copy.deepcopy(base)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = strategic_merge(out[k], v)
        elif isinstance(v, list) and MERGE_KEYS.get(k) and isinstance(out.get(k), list):
            key = MERGE_KEYS[k]
            merged = copy.deepcopy(out[k])
            for item in v:
                at = next((i for i, x in enumerate(merged) if x.get(key) == item.get(key)), None)
                if item.get("$patch") == "delete":
                    if at is not None:
                        merged.pop(at)
                elif at is None:
                    merged.append(copy.deepcopy(item))
                else:
                    merged[at] = strategic_merge(merged[at], item)
            out[k] = merged
        else:
            out[k] = copy.deepcopy(v)
    return out


def json_patch(doc, ops):
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1]
        if op["op"] == "add":
            if isinstance(parent, list):
                parent.insert(len(parent) if last == "-" else int(last), op["value"])
            else:
                parent[last] = op["value"]
        elif op["op"] == "replace":
            if isinstance(parent, list):
                parent[int(last)] = op["value"]
            else:
                if last not in parent:
                    raise RuntimeError(f"replace {op['path']}: no such path")
                parent[last] = op["value"]
        elif op["op"] == "remove":
            if isinstance(parent, list):
                parent.pop(int(last))
            else:
                del parent[last]
        else:
            raise RuntimeError(f"JSON patch op {op['op']} is not implemented by the builtin renderer")
    return doc


def matches(obj, target):
    group, _, version = obj.get("apiVersion", "").rpartition("/")
    return all([target.get("kind") in (None, obj.get("kind")),
                target.get("name") in (None, obj["metadata"].get("name")),
                target.get("group") in (None, group),
                target.get("version") in (None, version)])


def apply_kustomization(path, objs):
    """Applies one kustomization's generators, patches and labels to the objects gathered so far."""
    k = yaml.safe_load(open(os.path.join(path, "kustomization.yaml")))
    known = {"apiVersion", "kind", "resources", "components", "labels", "configMapGenerator",
             "generatorOptions", "patches"}
    unknown = set(k) - known
    if unknown:
        raise RuntimeError(f"{path}: the builtin renderer does not implement {sorted(unknown)}")
    if not (k.get("generatorOptions") or {}).get("disableNameSuffixHash", False) and k.get("configMapGenerator"):
        if any(g.get("behavior", "create") == "create" for g in k["configMapGenerator"]):
            raise RuntimeError(f"{path}: the builtin renderer needs generatorOptions.disableNameSuffixHash")
    for g in k.get("configMapGenerator") or []:
        data = {}
        for f in g.get("files") or []:
            key, _, file = f.rpartition("=") if "=" in f else (os.path.basename(f), "", f)
            data[key] = open(os.path.join(path, file)).read()
        behavior = g.get("behavior", "create")
        existing = next((o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == g["name"]), None)
        if behavior == "create":
            objs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": g["name"]}, "data": data})
        elif existing is None:
            raise RuntimeError(f"{path}: configMapGenerator {g['name']}: nothing to {behavior}")
        elif behavior == "replace":
            existing["data"] = data
        else:
            existing["data"].update(data)
    for p in k.get("patches") or []:
        text = open(os.path.join(path, p["path"])).read()
        doc = yaml.safe_load(text)
        if isinstance(doc, list):
            target = p.get("target") or {}
            for i, o in enumerate(objs):
                if matches(o, target):
                    objs[i] = json_patch(o, doc)
        else:
            target = {"kind": doc["kind"], "name": doc["metadata"]["name"]}
            hits = [i for i, o in enumerate(objs) if matches(o, target)]
            if not hits:
                raise RuntimeError(f"{path}: patch {p['path']}: no {target['kind']}/{target['name']}")
            for i in hits:
                body = {kk: vv for kk, vv in doc.items() if kk not in ("apiVersion", "kind")}
                body["metadata"] = {kk: vv for kk, vv in doc["metadata"].items() if kk != "name"}
                if not body["metadata"]:
                    del body["metadata"]
                objs[i] = strategic_merge(objs[i], body)
    for entry in k.get("labels") or []:
        if entry.get("includeSelectors") or entry.get("includeTemplates"):
            raise RuntimeError(f"{path}: labels with includeSelectors/includeTemplates are not implemented")
        for o in objs:
            o.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
    return objs


def render_builtin(path):
    path = os.path.abspath(path)
    k = yaml.safe_load(open(os.path.join(path, "kustomization.yaml")))
    objs = []
    for r in k.get("resources") or []:
        full = os.path.join(path, r)
        if os.path.isdir(full):
            objs += render_builtin(full)
        else:
            objs += [d for d in yaml.safe_load_all(open(full)) if d]
    # As kustomize does: the resources, then each component on everything gathered so far, then
    # this kustomization's own generators, patches and labels.
    for c in k.get("components") or []:
        ck = yaml.safe_load(open(os.path.join(path, c, "kustomization.yaml")))
        if ck.get("resources") or ck.get("components"):
            raise RuntimeError(f"{c}: components with resources are not implemented by the builtin renderer")
        objs = apply_kustomization(os.path.join(path, c), objs)
    return apply_kustomization(path, objs)


def key_of(obj):
    return (obj.get("kind"), (obj.get("metadata") or {}).get("name"))


# ---------------------------------------------------------------------------------------------

def check_target(path, renderer, verbose):
    errors = []
    try:
        objs = render_kubectl(path) if renderer == "kubectl" else render_builtin(path)
    except (RuntimeError, OSError, yaml.YAMLError) as e:
        return None, [f"render: {e}"]
    if renderer == "kubectl":
        try:
            mine = render_builtin(path)
            theirs = {key_of(o): o for o in objs}
            ours = {key_of(o): o for o in mine}
            if theirs.keys() != ours.keys():
                errors.append(f"builtin renderer: objects {sorted(ours)} differ from kubectl's {sorted(theirs)}")
            for key in sorted(set(theirs) & set(ours)):
                if json.dumps(theirs[key], sort_keys=True) != json.dumps(ours[key], sort_keys=True):
                    errors.append(f"builtin renderer: {key[0]}/{key[1]} differs from kubectl's rendering")
        except (RuntimeError, OSError, KeyError) as e:
            errors.append(f"builtin renderer: {e}")
    for o in objs:
        for e in check_schema(o):
            errors.append(f"{o.get('kind')}/{(o.get('metadata') or {}).get('name')}: {e}")
    errors += check_review(objs)
    if verbose:
        for o in objs:
            print(f"  {path}: {o['kind']}/{o['metadata']['name']}")
    return objs, errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--renderer", choices=["auto", "kubectl", "builtin"], default="auto")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    renderer = a.renderer
    if renderer == "auto":
        renderer = "kubectl" if kubectl_ok() else "builtin"
    elif renderer == "kubectl" and not kubectl_ok():
        sys.exit("check.py: no kubectl with kustomize v4 or later on PATH")
    print(f"renderer: {renderer}" + (" (cross-checked against the builtin one)" if renderer == "kubectl" else ""))
    failed = False
    for t in TARGETS:
        objs, errors = check_target(os.path.join(HERE, t), renderer, a.verbose)
        n = len(objs) if objs is not None else 0
        print(f"{t}: {n} objects, {len(errors)} findings")
        for e in errors:
            print(f"  ERROR {e}")
        failed |= bool(errors) or not objs
    _, errors = check_target(os.path.join(HERE, BROKEN), renderer, False)
    print(f"{BROKEN} (must be caught): {len(errors)} findings")
    for e in errors:
        print(f"  caught: {e}")
    for expected, why in BROKEN_EXPECTED:
        if not any(expected in e for e in errors):
            print(f"  ERROR not caught ({why}): {expected}")
            failed = True
    print("check.py: " + ("FAILED" if failed else "ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
