"""A client of a running search's controller (the gRPC AdminService of proto/vertebra/v1/).

    from vertebra.client import Client
    with Client("127.0.0.1:50051", token_file="runs/demo/token") as c:
        print(c.status().done, "trials done")
        for t in c.top(5):
            print(t.id, t.ap, t.macs)
        curve = c.curve(c.top(1)[0].id)             # [MetricPoint(rung, step, loss, ap, at)]
        front = c.pareto()                          # ParetoFront(rung, candidates, trials)

Answers are plain Python objects (dataclasses, lists, dicts): a Trial's fields are those of a
trial in `vertebra top --json`'s "trials", plus its spec as a dict. top() and pareto() rank exactly as `vertebra
top` and `vertebra top --pareto` do (inspect/trials.cc, inspect/show.cc, common/pareto.cc).

Connecting is as for the CLI (inspect/source.cc): a bearer token from `token`, `token_file`
(trailing whitespace dropped) or else $VERTEBRA_TOKEN; TLS when `tls_ca` names the PEM roots
to verify the controller with, a client certificate with `tls_cert` and `tls_key`; a deadline
of `timeout` seconds on every call. Errors are ClientError with a one-line message naming the
controller and the call.

Needs python3-grpcio and python3-protobuf, and the stubs the build generates from the protos
into build/python (`cmake --build build`): found there from a checkout, or anywhere on
sys.path / $VERTEBRA_STUBS.
"""

import dataclasses
import math
import os
import sys

import grpc

from . import __path__ as _package_path

# Trials asked for per ListTrials call: under the service's limit of 10,000 and its 64 MiB replies.
PAGE_SIZE = 1000
# The controller sends trial lists of up to 64 MiB.
MAX_RECEIVE_BYTES = 64 << 20
DEFAULT_TIMEOUT_SECONDS = 10.0  # As the CLI's --controller commands.
# The trial states a status counts, in the order of Status's fields.
_STATES = ("pending", "leased", "done", "failed", "rejected", "stopped")


def _import_stubs():
    """The generated modules vertebra.v1.*_pb2, from sys.path, $VERTEBRA_STUBS or the checkout's build."""
    candidates = [os.environ.get("VERTEBRA_STUBS", ""),
                  os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                               "build", "python")]
    for root in [""] + candidates:
        if root:
            extra = os.path.join(root, "vertebra")
            if not os.path.isdir(extra) or extra in _package_path:
                continue
            _package_path.append(extra)
        try:
            from .v1 import service_pb2, service_pb2_grpc
            return service_pb2, service_pb2_grpc
        except ImportError:
            continue
    raise ImportError("vertebra.client: the gRPC stubs vertebra/v1/*_pb2.py are not built: run `cmake --build build` "
                      "(they are written to build/python), or point $VERTEBRA_STUBS at a folder that has them")


service_pb2, service_pb2_grpc = _import_stubs()


class ClientError(Exception):
    """A call that failed; `code` is the grpc.StatusCode (None for a local error such as a file)."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


@dataclasses.dataclass
class RungResult:
    rung: int
    lease: int
    steps: int
    ap: list  # The 12 COCO numbers: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl.
    reward: float
    worker: str
    simulated: bool
    continued: bool
    cooldown_steps: int
    train_seconds: float
    images_per_s: float
    start_step: int = 0  # The step this rung's training began at (0: from scratch).


@dataclasses.dataclass
class Trial:
    id: int
    state: str  # pending, leased, done, failed, rejected, stopped
    hash: str
    rung: int
    params: int
    macs: int
    reward: float
    attempts: int
    failure: str
    reused_from: int
    parent: int
    results: list  # [RungResult], in the order reported.
    spec: dict = dataclasses.field(repr=False)  # As spec.json: json.dump it for `vertebra ... --arch`.
    role: str = "search"  # search, control (a reference trained beside the search), final (a validation run)
    seed: int = 0  # The training seed it was leased with.
    control: str = ""  # A control's entry in the experiment's "controls" (also on its final runs).
    final_of: int = 0  # A final run: the trial it trains again.
    final_seed: int = 0  # A final run: which of the final stage's seeds it is (0, 1, ...).
    trained_steps: int = 0  # Steps its leases trained, lost ones too.
    repeated_steps: int = 0  # Of those, the steps an earlier lease had trained already.

    @property
    def top_result(self):
        """The result at the highest rung reached (None without one): what the trial is ranked by."""
        best = None
        for r in self.results:
            if r.ap and (best is None or r.rung > best.rung):
                best = r
        return best

    @property
    def ap(self):
        """AP at the highest rung reached (None without a result)."""
        r = self.top_result
        return r.ap[0] if r else None

    def summary(self):
        """The trial as `vertebra top --json` lists it in "trials" (a dict, without the spec)."""
        d = dataclasses.asdict(self)
        del d["spec"]
        return d


@dataclasses.dataclass
class MetricPoint:
    rung: int
    step: int
    loss: float
    ap: float  # None where no held-out AP was measured at this point.
    at: float  # Unix seconds.


@dataclasses.dataclass
class Status:
    """As `vertebra status --json`: pending ... stopped count the search's own trials (what the
    budget counts); the controls and the final validation's runs are counted apart."""
    experiment: str
    algorithm: str
    state: str  # running, stopped, finished
    simulated: bool
    budget: int
    pending: int
    leased: int
    done: int
    failed: int
    rejected: int
    stopped: int
    workers: int
    proposed: int
    best_trial: int  # 0: none yet.
    best_ap: float
    best_rung: int
    config: dict = dataclasses.field(repr=False)  # The experiment's configuration, defaults filled in.
    trained_steps: int = 0  # Steps every trial's leases trained, lost ones too.
    repeated_steps: int = 0  # Of those, the steps an earlier lease of the same trial had trained already.
    controls: dict = dataclasses.field(default_factory=dict)  # The controls by state: {"pending": n, ...}.
    final: dict = dataclasses.field(default_factory=dict)  # The final runs by state, likewise.


@dataclasses.dataclass
class ParetoFront:
    rung: int  # The highest rung reached: AP is compared there only.
    candidates: int  # Trials measured at that rung.
    trials: list  # [Trial] on the front of AP (higher) against MACs (lower), by MACs.


def _message_dict(message):
    from google.protobuf import json_format
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _word(message, field):
    """An enum field as the CLI spells it: the value's name without the prefix its enum's values
    share ("EXPERIMENT_RUNNING" -> "running", "DONE" -> "done"); a string field as it is."""
    value = getattr(message, field)
    enum = message.DESCRIPTOR.fields_by_name[field].enum_type
    if enum is None:
        return value
    names = [v.name for v in enum.values if v.number != 0]
    prefix = os.path.commonprefix(names)
    prefix = prefix[:prefix.rfind("_") + 1]
    name = enum.values_by_number[value].name if value in enum.values_by_number else ""
    return name[len(prefix):].lower() if value != 0 and name.startswith(prefix) else ""


def _spec(spec):
    """An ArchSpec in the form of spec.json (search_spaces/arch_json.cc), which --arch loads."""
    blocks = [{"level": b.level, "block": _word(b, "type"), "parents": list(b.parents), "output": b.output}
              for b in spec.blocks]
    s = spec.scaling
    scaling = {"filter_scale": s.filter_scale, "resample_alpha": s.resample_alpha, "block_repeats": s.block_repeats,
               "endpoint_filters": s.endpoint_filters}
    return {"name": spec.name, "blocks": blocks, "scaling": scaling}


def _trial(t):
    results = [RungResult(r.rung, r.lease, r.steps, list(r.ap.stats), r.reward, r.worker, r.simulated, r.continued,
                          r.cooldown_steps, r.train_seconds, r.images_per_s, r.start_step) for r in t.results]
    return Trial(t.id, _word(t, "state"), t.hash, t.rung, t.params, t.macs, t.reward,
                 t.attempts, t.failure, t.reused_from, t.parent, results, _spec(t.spec),
                 _word(t, "role") or "search", t.seed, t.control, t.final_of, t.final_seed,
                 t.trained_steps, t.repeated_steps)


def rank_trials(trials):
    """Trials ranked as `vertebra top` ranks them: a higher rung reached first (AP is not comparable
    across rungs), then AP at that rung, ties by lower id; trials without a result left out."""
    ranked = [t for t in trials if t.top_result is not None]
    # Python's sort is stable, as the C++ stable_sort; the id breaks the remaining ties.
    ranked.sort(key=lambda t: (-t.top_result.rung, -t.top_result.ap[0], t.id))
    return ranked


def _dominates(a, b):
    """At least as good in both (AP >=, MACs <=) and better in one; never with a NaN AP."""
    (ap_a, macs_a), (ap_b, macs_b) = a, b
    return ap_a >= ap_b and macs_a <= macs_b and (ap_a > ap_b or macs_a < macs_b)


def pareto_front(trials):
    """The front `vertebra top --pareto` lists (inspect/show.cc ComputeParetoFront): among trials
    at the highest rung reached, reused results left out, those no other dominates in (AP, MACs),
    ordered by MACs, then AP (higher first), then id."""
    rung = max((t.top_result.rung for t in trials if t.top_result is not None), default=0)
    at_top = [t for t in trials if t.top_result is not None and t.top_result.rung == rung]
    candidates = len(at_top)
    points = sorted((t for t in at_top if t.reused_from == 0 and not math.isnan(t.ap)),
                    key=lambda t: (t.macs, -t.ap, t.id))
    front = []
    for t in points:
        if not any(_dominates((f.ap, f.macs), (t.ap, t.macs)) for f in front):
            front.append(t)
    return ParetoFront(rung, candidates, front)


def _read_token(token, token_file):
    """The bearer token and where it came from, as common/token.cc reads it."""
    if token is not None:
        return token, "token"
    if token_file:
        try:
            with open(token_file) as f:
                value = f.read().rstrip()
        except OSError as e:
            raise ClientError(f"token_file {token_file}: cannot read: {e.strerror}") from None
        if not value:
            raise ClientError(f"token_file {token_file}: holds no token")
        return value, f"token_file {token_file}"
    return os.environ.get("VERTEBRA_TOKEN", ""), "VERTEBRA_TOKEN"


def _read_pem(what, path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ClientError(f"{what} {path}: cannot read: {e.strerror}") from None


def _credentials(tls_ca, tls_cert, tls_key):
    """None (plaintext) without tls_ca; TLS verifying the controller against it otherwise."""
    if not tls_ca:
        if tls_cert or tls_key:
            raise ClientError("tls_cert/tls_key need tls_ca")
        return None
    cert = key = None
    if tls_cert or tls_key:
        cert = _read_pem("tls_cert", tls_cert or "")
        key = _read_pem("tls_key", tls_key or "")
    return grpc.ssl_channel_credentials(_read_pem("tls_ca", tls_ca), key, cert)


class Client:
    """A connection to one controller. Nothing is sent until the first call; calls may come from
    several threads (a grpc channel is thread-safe). close() or a with-block ends it."""

    def __init__(self, address, token=None, token_file=None, tls_ca=None, tls_cert=None, tls_key=None,
                 timeout=DEFAULT_TIMEOUT_SECONDS):
        if not address:
            raise ClientError("address: HOST:PORT required")
        self.address = address
        self.timeout = timeout
        self._token, self._token_origin = _read_token(token, token_file)
        credentials = _credentials(tls_ca, tls_cert, tls_key)
        options = [("grpc.max_receive_message_length", MAX_RECEIVE_BYTES)]
        if credentials is None:
            self._channel = grpc.insecure_channel(address, options=options)
        else:
            self._channel = grpc.secure_channel(address, credentials, options=options)
        self._stub = service_pb2_grpc.AdminServiceStub(self._channel)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, what, method, request):
        metadata = [("authorization", "Bearer " + self._token)] if self._token else None
        try:
            return method(request, timeout=self.timeout, metadata=metadata)
        except grpc.RpcError as e:
            code, details = e.code(), e.details()
            where = f"controller {self.address}: {what}"
            if code == grpc.StatusCode.UNAUTHENTICATED:
                if not self._token:
                    raise ClientError(f"{where}: it wants a bearer token (token_file= or VERTEBRA_TOKEN)", code) from None
                raise ClientError(f"{where}: the token from {self._token_origin} was refused ({details})", code) from None
            raise ClientError(f"{where}: {code.name.lower()}: {details}", code) from None

    def status(self):
        """The experiment's state and counts (Status)."""
        r = self._call("status", self._stub.GetStatus, service_pb2.StatusRequest())
        # The reply counts every role together, and the controls and the final runs apart.
        controls, final = ({s: getattr(m, s) for s in _STATES} for m in (r.controls, r.final_runs))
        search = {s: getattr(r, s) - controls[s] - final[s] for s in _STATES}
        return Status(r.config.name, _word(r.config.algorithm, "kind"), _word(r, "state"), r.config.simulated,
                      r.config.budget.trials, *(search[s] for s in _STATES), r.workers, r.proposed,
                      r.best_trial, r.best_ap, r.best_rung, _message_dict(r.config),
                      trained_steps=r.trained_steps, repeated_steps=r.repeated_steps, controls=controls, final=final)

    def trials(self):
        """Every trial, by id ([Trial])."""
        out = []
        offset = 0
        while True:
            reply = self._call("list trials", self._stub.ListTrials,
                               service_pb2.ListTrialsRequest(offset=offset, limit=PAGE_SIZE))
            out.extend(_trial(t) for t in reply.trials)
            if len(reply.trials) < PAGE_SIZE:
                return out
            offset += PAGE_SIZE

    def trial(self, trial_id):
        """One trial (Trial); ClientError with code NOT_FOUND for an unknown id."""
        return _trial(self._call("get trial", self._stub.GetTrial, service_pb2.GetTrialRequest(id=trial_id)))

    def curve(self, trial_id):
        """A trial's training curve as its worker reported it ([MetricPoint], in order)."""
        reply = self._call("get metrics", self._stub.GetMetrics, service_pb2.GetTrialRequest(id=trial_id))
        return [MetricPoint(p.rung, p.step, p.loss, p.ap if p.has_ap else None, p.at) for p in reply.points]

    def top(self, k=10):
        """The k best trials, ranked as `vertebra top -n k` ranks them ([Trial])."""
        return rank_trials(self.trials())[:k]

    def pareto(self):
        """The Pareto front of AP against MACs, as `vertebra top --pareto` gives it (ParetoFront)."""
        return pareto_front(self.trials())


def main(argv=None):
    """A search's status and its best trials, from its running controller."""
    import argparse
    ap = argparse.ArgumentParser(prog="python3 -m vertebra.client", description=main.__doc__)
    ap.add_argument("address", help="the controller's HOST:PORT")
    ap.add_argument("--token-file", help="bearer token (default: $VERTEBRA_TOKEN)")
    ap.add_argument("--tls-ca", help="PEM roots: connect with TLS and verify the controller with them")
    ap.add_argument("--tls-cert", help="PEM client certificate (mTLS; needs --tls-ca)")
    ap.add_argument("--tls-key", help="PEM key of --tls-cert")
    ap.add_argument("-n", type=int, default=5, help="how many of the best trials (default 5)")
    args = ap.parse_args(argv)
    try:
        with Client(args.address, token_file=args.token_file, tls_ca=args.tls_ca, tls_cert=args.tls_cert,
                    tls_key=args.tls_key) as c:
            s = c.status()
            print(f"experiment {s.experiment!r} ({s.algorithm}): {s.state}; {s.done} done, {s.leased} leased, "
                  f"{s.pending} pending (budget {s.budget})")
            for t in c.top(args.n):
                print(f"  trial {t.id:5d}  rung {t.top_result.rung}  AP {t.ap:.4f}  {t.macs / 1e6:8.1f} M MACs")
    except ClientError as e:
        sys.exit(f"vertebra.client: {e}")


if __name__ == "__main__":
    main()
