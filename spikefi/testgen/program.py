"""Test programs: input spike trains, the golden network's expected responses and a pass/fail rule.

A :class:`TestProgram` is what a tester runs on a manufactured chip: every input, the
class and output spike counts the fault-free network produces for it, and the rule
*fail if any predicted class differs from the expected one* (optionally also: fail if
any output neuron's spike count differs by more than ``count_tolerance`` spikes). It
carries the architecture fingerprint of the network it was made for.

Files (no pickles): ``<dir>/program.json`` (schema version, fingerprint, rule, test
names, metadata) and ``<dir>/program.npz`` (``inputs`` uint8 ``(n, C, H, W, T)`` of 0/1,
``expected_class`` int64 ``(n,)``, ``expected_counts`` int64 ``(n, classes)``), read with
``allow_pickle=False`` and validated on load.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..campaign.campaign import Campaign
from ..campaign.network import network_map
from ..digest import DIGEST_ALGORITHM, network_digest, short_digest
from ..errors import ArchitectureMismatchError, ConfigError, DataError, NetworkDigestMismatchError
from ..faults.sites import Fault
from ..jsonutil import json_default
from .detection import CountingEngine, DetectionMatrix, golden_responses
from .faultlist import FaultList, layer_signature

__all__ = [
    "PROGRAM_SCHEMA_VERSION",
    "ArchitectureMismatchError",
    "NetworkDigestMismatchError",
    "TestProgram",
    "Verdict",
    "architecture_fingerprint",
    "weights_sha256",
    "build_test_program",
    "check_program_network",
    "apply_test_program",
    "measure_coverage",
]

PROGRAM_SCHEMA_VERSION = 1
_JSON = "program.json"
_NPZ = "program.npz"


def _netmap(net: nn.Module, input_shape: Sequence[int], steps: int) -> Any:
    return network_map(net, tuple(int(v) for v in input_shape), int(steps))  # type: ignore[arg-type]


def _neuron_signature(nm: Any) -> dict[str, Any]:
    """The neuron parameters a program depends on: SLAYER's neuron section, or for a NIR
    network its convention, time step and every neuron stage's type, reset and parameters
    (sha256 of their values)."""
    if nm.slayer is not None:
        return {k: (float(v) if isinstance(v, (int, float)) else str(v)) for k, v in sorted(nm.neuron().items())}
    out: dict[str, Any] = {"convention": str(nm.net.convention), "dt": float(nm.net.dt),
                           "readout": str(getattr(nm.net, "readout", "max"))}
    for name, stage in nm.net.neuron_stages().items():
        h = hashlib.sha256()
        for key, buf in sorted(stage.named_buffers()):
            h.update(key.encode())
            h.update(buf.detach().to("cpu", torch.float64).contiguous().numpy().tobytes())
        out[name] = f"{type(stage).__name__} reset={stage.reset} {h.hexdigest()[:16]}"
    return out


def architecture_fingerprint(net: nn.Module, input_shape: Sequence[int], steps: int) -> dict[str, Any]:
    """What a test program needs to be valid for a network: layers and neuron/simulation parameters.

    Args:
        net: the network.
        input_shape: ``(C, H, W)`` of one input.
        steps: time bins ``T``.

    Returns:
        ``{"layers", "input_shape", "steps", "output_shape", "neuron", "simulation", "sha256"}``
        where ``sha256`` hashes the rest (canonical JSON). Weights are not part of it
        (see :func:`weights_sha256`).
    """
    nm = _netmap(net, input_shape, steps)
    body = {
        "layers": [{"name": n, **layer_signature(nm)[n]} for n in nm.order],
        "input_shape": [int(v) for v in input_shape],
        "steps": int(steps),
        "output_shape": [int(v) for v in nm.output_shape],
        "neuron": _neuron_signature(nm),
        "simulation": {k: (float(v) if isinstance(v, (int, float)) else str(v))
                       for k, v in sorted(nm.simulation().items())},
    }
    body["sha256"] = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return body


def weights_sha256(net: nn.Module) -> str:
    """The canonical network digest (:func:`spikefi.digest.network_digest`; this name is kept
    for older callers: it always computed exactly that)."""
    return network_digest(net)


@dataclass
class TestProgram:
    """Test inputs with their golden responses and the pass/fail rule.

    Attributes:
        inputs: uint8 ``(n, C, H, W, T)`` of 0/1 (a spike is ``spike_value`` on the network's input).
        expected_class: golden predicted class per input.
        expected_counts: golden output spike counts per input and class.
        spike_value: input value of a spike (``1/Ts``).
        fingerprint: :func:`architecture_fingerprint` of the network it was made for.
        weights: the canonical digest (:func:`spikefi.digest.network_digest`) of the weights the
            program was made on (after quantization when the network was quantized; stored
            as ``network_digest`` and, for older readers, ``weights_sha256``).
        names: a name per test (``sample:<index>``, ``generated:<k>``).
        count_tolerance: ``None`` (class only) or the allowed per-class spike-count deviation.
        info: free metadata (plain JSON): coverage, how it was made, ...
    """

    __test__ = False  # not a pytest test class

    inputs: np.ndarray
    expected_class: np.ndarray
    expected_counts: np.ndarray
    spike_value: float
    fingerprint: dict[str, Any]
    weights: str
    names: list[str]
    count_tolerance: int | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def validate(self) -> None:
        """Raises :class:`~spikefi.errors.DataError` when the program is inconsistent."""
        x, c, k = self.inputs, self.expected_class, self.expected_counts
        if not isinstance(x, np.ndarray) or x.ndim != 5 or x.dtype != np.uint8:
            raise DataError(f"program inputs must be a uint8 array (n, C, H, W, T), got "
                            f"{getattr(x, 'dtype', type(x))} of shape {getattr(x, 'shape', None)}")
        if x.shape[0] < 1:
            raise DataError("a test program needs at least one input")
        if x.size and x.max() > 1:
            raise DataError(f"program inputs must be binary (0/1), found the value {int(x.max())}")
        n = x.shape[0]
        if not isinstance(c, np.ndarray) or c.shape != (n,) or not np.issubdtype(c.dtype, np.integer):
            raise DataError(f"expected_class must be an int array of shape ({n},), got {getattr(c, 'shape', c)}")
        if not isinstance(k, np.ndarray) or k.ndim != 2 or k.shape[0] != n or not np.issubdtype(k.dtype, np.integer):
            raise DataError(f"expected_counts must be an int array of shape ({n}, classes), got {getattr(k, 'shape', k)}")
        if (k < 0).any():
            raise DataError("expected_counts must be >= 0")
        if c.min() < 0 or c.max() >= k.shape[1]:
            raise DataError(f"expected_class must lie in [0, {k.shape[1]}), got [{c.min()}, {c.max()}]")
        rule = np.argmax(k * k.shape[1] + (k.shape[1] - 1 - np.arange(k.shape[1])), axis=1)
        if not np.array_equal(rule, c):
            bad = int(np.flatnonzero(rule != c)[0])
            raise DataError(f"expected_class of test {bad} ({int(c[bad])}) is not the class with most expected "
                            f"spikes ({int(rule[bad])}; ties go to the lowest index)")
        if len(self.names) != n:
            raise DataError(f"a test program needs one name per input: {n} inputs, {len(self.names)} names")
        if not (isinstance(self.spike_value, (int, float)) and self.spike_value > 0):
            raise DataError(f"spike_value must be > 0, got {self.spike_value!r}")
        if self.count_tolerance is not None and (isinstance(self.count_tolerance, bool)
                                                 or not isinstance(self.count_tolerance, (int, np.integer))
                                                 or self.count_tolerance < 0):
            raise DataError(f"count_tolerance must be None or an int >= 0, got {self.count_tolerance!r}")
        fp = self.fingerprint
        if not isinstance(fp, Mapping) or "sha256" not in fp:
            raise DataError("the program's fingerprint must be a mapping with a sha256")
        body = {k2: v for k2, v in fp.items() if k2 != "sha256"}
        if hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest() != fp["sha256"]:
            raise DataError("the program's architecture fingerprint does not match its sha256 (file edited?)")
        if list(x.shape[1:4]) != list(fp.get("input_shape", [])) or x.shape[4] != fp.get("steps"):
            raise DataError(f"program inputs of shape {list(x.shape[1:])} do not match the fingerprint's input "
                            f"{fp.get('input_shape')} x {fp.get('steps')} steps")

    # -- inputs ----------------------------------------------------------------------
    def input_tensor(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The inputs as the network takes them (spikes of value ``spike_value``)."""
        return torch.from_numpy(self.inputs.astype(np.float32)).to(dtype) * self.spike_value

    def densities(self) -> np.ndarray:
        """Spike density of every input: spikes / (C·H·W·T)."""
        return self.inputs.reshape(len(self), -1).mean(axis=1)

    # -- files -----------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Writes ``program.json`` and ``program.npz`` into ``directory``; returns it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "schema_version": PROGRAM_SCHEMA_VERSION,
            "kind": "spikefi.testgen.TestProgram",
            "tests": len(self),
            "names": list(self.names),
            "spike_value": float(self.spike_value),
            "count_tolerance": None if self.count_tolerance is None else int(self.count_tolerance),
            "rule": self.rule(),
            "fingerprint": self.fingerprint,
            "network_digest": self.weights,
            "network_digest_algorithm": DIGEST_ALGORITHM,
            "weights_sha256": self.weights,
            "info": self.info,
        }
        (directory / _JSON).write_text(json.dumps(meta, indent=2, sort_keys=True, default=json_default))
        np.savez_compressed(directory / _NPZ, inputs=self.inputs, expected_class=self.expected_class.astype(np.int64),
                            expected_counts=self.expected_counts.astype(np.int64))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> TestProgram:
        """Reads and validates a program written by :meth:`save`.

        Raises:
            DataError: files missing, another schema version, or inconsistent content.
        """
        directory = Path(directory)
        jpath, npath = directory / _JSON, directory / _NPZ
        if not jpath.is_file() or not npath.is_file():
            raise DataError(f"{str(directory)!r} holds no test program ({_JSON} and {_NPZ} expected)")
        try:
            meta = json.loads(jpath.read_text())
        except json.JSONDecodeError as exc:
            raise DataError(f"{str(jpath)!r} is not valid JSON: {exc}") from None
        if not isinstance(meta, dict):
            raise DataError(f"{str(jpath)!r} must hold a JSON object")
        version = meta.get("schema_version")
        if version != PROGRAM_SCHEMA_VERSION:
            raise DataError(f"test program schema_version {version!r}; this spikefi reads {PROGRAM_SCHEMA_VERSION}")
        missing = {"names", "spike_value", "count_tolerance", "fingerprint"} - set(meta)
        if not ({"network_digest", "weights_sha256"} & set(meta)):  # programs before network_digest: weights_sha256
            missing.add("network_digest")
        if missing:
            raise DataError(f"{str(jpath)!r} lacks {sorted(missing)}")
        try:
            with np.load(npath, allow_pickle=False) as data:
                arrays = {k: data[k] for k in ("inputs", "expected_class", "expected_counts")}
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"{str(npath)!r} is not a test program array file: {exc}") from None
        return cls(arrays["inputs"], arrays["expected_class"], arrays["expected_counts"], meta["spike_value"],
                   meta["fingerprint"], meta.get("network_digest") or meta["weights_sha256"], list(meta["names"]),
                   meta["count_tolerance"],
                   meta.get("info", {}))

    def rule(self) -> str:
        """The pass/fail rule in words."""
        text = "fail if the predicted class of any test differs from its expected class"
        if self.count_tolerance is not None:
            text += (f", or if any output neuron's spike count differs from its expected count by more than "
                     f"{self.count_tolerance}")
        return text

    def check_network(self, net: nn.Module) -> None:
        """Raises :class:`ArchitectureMismatchError` when ``net`` is not of the program's architecture."""
        fp = self.fingerprint
        try:
            have = architecture_fingerprint(net, fp["input_shape"], fp["steps"])
        except Exception as exc:  # noqa: BLE001 - any failure of the forward on the program's input shape
            raise ArchitectureMismatchError(
                f"the test program was made for inputs {fp['input_shape']} x {fp['steps']} steps, on which this network "
                f"fails: {exc}") from None
        if have["sha256"] != fp["sha256"]:
            diffs = [f"{k}: program {fp.get(k)}, network {have.get(k)}" for k in sorted(have)
                     if k != "sha256" and have.get(k) != fp.get(k)]
            raise ArchitectureMismatchError(
                "the test program was made for a network of another architecture: " + "; ".join(diffs)[:2000])




def _binary(inputs: Any) -> tuple[np.ndarray, float]:
    x = inputs.detach().cpu() if isinstance(inputs, torch.Tensor) else torch.as_tensor(np.asarray(inputs))
    if x.ndim != 5:
        raise DataError(f"test inputs must be (n, C, H, W, T), got shape {tuple(x.shape)}")
    values = torch.unique(x)
    nonzero = values[values != 0]
    if len(nonzero) > 1:
        raise DataError(f"test inputs must be spike trains with one spike value, found values {values[:6].tolist()}")
    spike = float(nonzero[0]) if len(nonzero) else 1.0
    return (x != 0).numpy().astype(np.uint8), spike


def build_test_program(net: nn.Module, inputs: Any, names: Sequence[str] | None = None, *,
                       count_tolerance: int | None = None, info: Mapping[str, Any] | None = None,
                       batch_size: int = 64) -> TestProgram:
    """A test program from inputs: the golden network's responses are computed here.

    Args:
        net: the fault-free network.
        inputs: ``(n, C, H, W, T)`` spike trains (0 or the spike value ``1/Ts``).
        names: a name per input (default ``test:<i>``).
        count_tolerance: ``None`` (class only) or the allowed spike-count deviation.
        info: metadata stored with the program.
    """
    x01, spike = _binary(inputs)
    nm_input = tuple(int(v) for v in x01.shape[1:4])
    fp = architecture_fingerprint(net, nm_input, x01.shape[4])
    ts = float(fp["simulation"].get("Ts", 1.0))
    if x01.any() and abs(spike - 1.0 / ts) > 1e-6 * max(1.0, 1.0 / ts):
        raise DataError(f"input spikes have the value {spike}, the network expects 1/Ts = {1.0 / ts}")
    tensor = torch.from_numpy(x01.astype(np.float32)) * (1.0 / ts)
    pred, counts = golden_responses(net, tensor, batch_size=batch_size)
    names = list(names) if names is not None else [f"test:{i}" for i in range(len(pred))]
    return TestProgram(x01, pred, counts, 1.0 / ts, fp, weights_sha256(net), names, count_tolerance,
                       dict(info or {}))


@dataclass
class Verdict:
    """The outcome of applying a test program to a network.

    Attributes:
        passed: no test failed.
        failing_tests: indices of the failing tests.
        failing_names: their names.
        predicted: the network's predicted class per test.
        counts: its output spike counts per test (only with a count tolerance).
        same_weights: whether the network's weights are those the program was made for (same
            canonical digest); ``False`` only when applied with ``allow_other_network=True``.
        rule: the pass/fail rule in words.
        network_digest: the digest of the network the program was applied to.
        program_digest: the digest of the network the program was made for.
    """

    passed: bool
    failing_tests: list[int]
    failing_names: list[str]
    predicted: np.ndarray
    counts: np.ndarray | None
    same_weights: bool
    rule: str
    network_digest: str = ""
    program_digest: str = ""

    def __bool__(self) -> bool:
        return self.passed

    def summary(self) -> str:
        text = ("PASS" if self.passed else f"FAIL ({len(self.failing_tests)} of {len(self.predicted)} tests: "
                f"{', '.join(self.failing_names[:5])}{', ...' if len(self.failing_names) > 5 else ''})")
        if not self.same_weights:
            text += (f" on ANOTHER network than the program was made for (network {short_digest(self.network_digest)}, "
                     f"program {short_digest(self.program_digest)}): the expected responses may not hold for it")
        return text


def _program_campaign(net: nn.Module, program: TestProgram, *, seed: int, batch_size: int, device: Any) -> Campaign:
    program.check_network(net)
    x = program.input_tensor()
    y = torch.from_numpy(program.expected_class.astype(np.int64))
    return Campaign(net, (x, y), batch_size=batch_size, seed=seed, device=device)


def check_program_network(net: nn.Module, program: TestProgram, allow_other_network: bool = False) -> str:
    """The digest of ``net``; raises :class:`NetworkDigestMismatchError` when it is not the
    digest the program was made for, unless ``allow_other_network``."""
    digest = network_digest(net)
    if digest != program.weights and not allow_other_network:
        raise NetworkDigestMismatchError(
            f"the test program was made for the network with digest {short_digest(program.weights)}, this network's "
            f"digest is {short_digest(digest)} (other weights or quantization): its expected responses need not hold; "
            "apply it to the network it was made for (--network), or allow another network explicitly "
            "(--allow-other-network)")
    return digest


def apply_test_program(net: nn.Module, program: TestProgram, faults: Fault | Sequence[Fault] | None = None, *,
                       seed: int = 0, batch_size: int = 64, device: Any = None,
                       allow_other_network: bool = False) -> Verdict:
    """Runs a test program on ``net`` with ``faults`` injected (through a campaign) and judges it.

    Args:
        net: the network under test (golden weights, or another chip's).
        program: the test program.
        faults: faults to inject (fixed sites or random ones drawn with ``seed``); ``None``
            tests ``net`` as it is.
        seed: campaign seed (site draws and timing of transient faults).
        allow_other_network: apply it even when ``net``'s canonical digest differs from the
            program's (the verdict then says so: ``same_weights`` False).

    Returns:
        the :class:`Verdict`.

    Raises:
        ArchitectureMismatchError: ``net`` is not of the program's architecture.
        NetworkDigestMismatchError: ``net`` has other weights than the program was made for
            (and ``allow_other_network`` is False).
    """
    program.check_network(net)
    digest = check_program_network(net, program, allow_other_network)
    cmpn = _program_campaign(net, program, seed=seed, batch_size=batch_size, device=device)
    faults = [] if faults is None else ([faults] if isinstance(faults, Fault) else list(faults))
    cmpn.then_inject(faults)
    engine = CountingEngine()
    result = cmpn.run(engine=engine, progress=False, keep_predictions=True)
    pred = np.asarray(result.predictions[0], dtype=np.int64)
    fail = pred != program.expected_class
    counts = None
    if program.count_tolerance is not None:
        counts = engine.round_counts(int(result.table["round_id"].iloc[0]))
        fail |= np.abs(counts - program.expected_counts).max(axis=1) > program.count_tolerance
    idx = [int(i) for i in np.flatnonzero(fail)]
    return Verdict(not idx, idx, [program.names[i] for i in idx], pred, counts, digest == program.weights,
                   program.rule(), digest, program.weights)


def measure_coverage(net: nn.Module, program: TestProgram, fault_list: FaultList, *, seed: int = 0,
                     batch_size: int = 64, engine: str = "parallel", chunk_size: int = 64, device: Any = None,
                     progress: bool = False) -> DetectionMatrix:
    """Applies the program to every fault of ``fault_list`` at once (one campaign, one round per fault).

    A test fails on a fault (detects it) when the faulty network's predicted class differs
    from the program's expected class, or, with the program's count tolerance, when an
    output count deviates by more than the tolerance (counts recomputed by a sequential
    re-run of every fault on the program's inputs).

    Returns:
        the ``(tests, faults)`` detection matrix of the program (``source="test program"``).

    Raises:
        ArchitectureMismatchError: ``net`` or the fault list is for another architecture.
        ConfigError: the fault-free ``net`` already fails the program (other weights?).
    """
    cmpn = _program_campaign(net, program, seed=seed, batch_size=batch_size, device=device)
    fault_list.check_network(cmpn.netmap)
    n_batches = -(-len(program) // batch_size)
    golden = np.concatenate([cmpn.golden_batch(b)["pred"].cpu().numpy() for b in range(n_batches)])
    if not np.array_equal(golden, program.expected_class):
        bad = [program.names[i] for i in np.flatnonzero(golden != program.expected_class)]
        raise ConfigError(f"the fault-free network already fails the test program ({', '.join(bad[:5])}): "
                          "the program was made for other weights")
    for rnd in fault_list.rounds:
        cmpn.then_inject(list(rnd))
    result = cmpn.run(engine=engine, chunk_size=chunk_size, progress=progress, keep_predictions=True)
    detected = (np.asarray(result.predictions) != program.expected_class[None, :]).T
    criterion = "prediction"
    if program.count_tolerance is not None:
        counting = CountingEngine()
        counted = cmpn.run(engine=counting, chunk_size=chunk_size, progress=progress)
        for j, rid in enumerate(counted.table["round_id"].tolist()):
            diff = np.abs(counting.round_counts(int(rid)) - program.expected_counts).max(axis=1)
            detected[:, j] |= diff > program.count_tolerance
        criterion = f"prediction+counts(tol={program.count_tolerance})"
    return DetectionMatrix(detected, list(program.names), list(fault_list.ids), criterion, "test program")
