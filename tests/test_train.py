"""swallowtail.train: the loss falls, runs are deterministic, a killed run resumes bit for bit, NaN losses are
refused, the config is adapted to the task, and the batch stream shards and resumes."""

from __future__ import annotations

import json
import math

import pytest
import torch

from swallowtail.errors import SpecError
from swallowtail.nn import HybridConfig, get_preset
from swallowtail.tasks import PAD_ID
from swallowtail.train import (
    BatchStream,
    NonFiniteLossError,
    TrainConfig,
    accuracy_sweep,
    adapt_config,
    fit_length,
    prepare_task,
    sample_eval,
    sweep_models,
    toy_task,
    train,
)
from swallowtail.train import checkpoint as ckpt

#: a network of a few thousand parameters: one FBfly and one ABfly block
TINY = HybridConfig(
    d_model=16, n_heads=2, d_ff=32, n_layers=2, vocab_size=4, n_classes=2, attention_layers=1, dropout=0.1
)
TASK = toy_task(n_train=256, n_val=64, n_test=64, seq_len=16, vocab_size=4)
BASE = TrainConfig(steps=12, batch_size=16, lr=1e-2, warmup_steps=2, eval_every=4, log_every=2, threads=1)


class Killed(Exception):
    """Raised from a step callback: the run stops as if the process had been killed."""


def _kill_at(step: int):
    def callback(s: int, loss: float) -> None:
        if s == step:
            raise Killed(s)

    return callback


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _train_records(path) -> list[dict]:
    keep = ("step", "train_loss", "train_acc", "lr", "grad_norm", "val_loss", "val_acc")
    return [{k: r[k] for k in keep if k in r} for r in map(json.loads, path.read_text().splitlines())]


def test_loss_falls_and_result_fields():
    tc = BASE.replace(steps=150, eval_every=50, log_every=10, warmup_steps=0)
    r = train(TINY.replace(dropout=0.0), TASK, tc, progress=False)
    assert r.steps == 150 and r.world_size == 1 and r.seq_len == 16
    assert r.train_loss < 0.45  # from ~0.69: chance on two classes
    assert r.best_val_acc > 0.7 and r.test_acc is not None and r.test_acc > 0.7
    assert r.flops > 0 and r.params == sum(p.numel() for p in r.model.parameters())
    assert r.train_samples_per_s > 0
    d = r.to_dict()
    assert "model" not in d and json.dumps(d)


def test_same_seed_same_weights_other_seed_other_weights():
    a = train(TINY, TASK, BASE, progress=False)
    b = train(TINY, TASK, BASE, progress=False)
    c = train(TINY, TASK, BASE.replace(seed=1), progress=False)
    assert _same_weights(a.model, b.model)
    assert not _same_weights(a.model, c.model)


def test_train_leaves_callers_torch_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    train(TINY, TASK, BASE.replace(steps=2), progress=False)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads and torch.are_deterministic_algorithms_enabled() == det


def test_killed_run_resumes_bit_for_bit(tmp_path):
    tc = BASE.replace(checkpoint_every=4)
    full = train(TINY, TASK, tc.replace(out_dir=str(tmp_path / "full")), progress=False)
    out = tmp_path / "killed"
    with pytest.raises(Killed):  # killed after step 7: the checkpoint of step 4 is the last one
        train(TINY, TASK, tc.replace(out_dir=str(out)), progress=False, step_callback=_kill_at(7))
    assert ckpt.load(out / ckpt.CHECKPOINT_FILE)["step"] == 4
    assert max(r["step"] for r in _train_records(out / "metrics.jsonl")) == 6  # logged past the checkpoint
    resumed = train(TINY, TASK, tc.replace(out_dir=str(out)), resume=True, progress=False)
    assert resumed.resumed_from == 4 and resumed.steps == 12
    assert _same_weights(full.model, resumed.model)
    # the metrics read as one uninterrupted run (records after the checkpoint were dropped on resume)
    assert _train_records(out / "metrics.jsonl") == _train_records(tmp_path / "full" / "metrics.jsonl")
    assert resumed.best_val_acc == full.best_val_acc and resumed.test_acc == full.test_acc
    for name in ("metrics.png", "checkpoint.pt", "best.pt", "result.json", "config.json"):
        assert (out / name).is_file(), name
    # resuming a finished run trains nothing and reports the same result
    again = train(TINY, TASK, tc.replace(out_dir=str(out)), resume=True, progress=False)
    assert again.resumed_from == 12 and _same_weights(full.model, again.model)
    assert again.test_acc == full.test_acc


def test_out_dir_and_resume_checks(tmp_path):
    tc = BASE.replace(steps=4, out_dir=str(tmp_path / "run"))
    train(TINY, TASK, tc, progress=False)
    with pytest.raises(SpecError, match="resume"):  # a run is there: no silent overwrite
        train(TINY, TASK, tc, progress=False)
    with pytest.raises(SpecError) as e:  # another trajectory cannot continue this run
        train(TINY, TASK, tc.replace(lr=5e-3), resume=True, progress=False)
    assert e.value.field == "train_config" and "lr" in str(e.value)
    other = toy_task(n_train=256, n_val=64, n_test=64, seq_len=16, vocab_size=4, seed=1)
    with pytest.raises(SpecError) as e:  # the same shapes, other examples (another generator parameter)
        train(TINY, other, tc, resume=True, progress=False)
    assert e.value.field == "task" and "train_sha256" in str(e.value)
    state = ckpt.load(tmp_path / "run" / ckpt.CHECKPOINT_FILE)  # as an older swallowtail wrote it: no hash
    del state["task"]["train_sha256"]
    ckpt.atomic_save(state, tmp_path / "run" / ckpt.CHECKPOINT_FILE)
    assert train(TINY, TASK, tc, resume=True, progress=False).resumed_from == 4
    with pytest.raises(SpecError, match="out_dir"):
        train(TINY, TASK, BASE, resume=True, progress=False)
    fresh = train(
        TINY, TASK, BASE.replace(steps=2, out_dir=str(tmp_path / "new")), resume=True, progress=False
    )
    assert fresh.resumed_from is None and fresh.steps == 2  # resume with no checkpoint: a fresh start


def test_a_broken_checkpoint_is_refused_naming_it(tmp_path):
    """Found by a bad-input hunt: a garbage, a truncated and a partial checkpoint were tracebacks (an
    UnpicklingError, a zip RuntimeError, a bare KeyError 'model_config') when a run resumed from them."""
    tc = BASE.replace(steps=2, out_dir=str(tmp_path / "run"))
    train(TINY, TASK, tc, progress=False)
    path = tmp_path / "run" / ckpt.CHECKPOINT_FILE
    whole = path.read_bytes()
    for bad, why in ((b"garbage", "not a readable"), (whole[:3000], "not a readable")):
        path.write_bytes(bad)
        with pytest.raises(ValueError, match=f"{path}.* is {why} swallowtail training checkpoint"):
            train(TINY, TASK, tc, resume=True, progress=False)
    ckpt.atomic_save({"version": ckpt.CHECKPOINT_VERSION}, path)
    with pytest.raises(ValueError, match="not a whole swallowtail training checkpoint .no step, model"):
        train(TINY, TASK, tc, resume=True, progress=False)


def test_nan_loss_refused_naming_the_step(tmp_path):
    out = tmp_path / "nan"
    tc = BASE.replace(lr=1e3, warmup_steps=0, grad_clip=None, checkpoint_every=1, out_dir=str(out))
    with pytest.raises(NonFiniteLossError) as e:
        train(TINY.replace(dropout=0.0), TASK, tc, progress=False)
    step = e.value.step
    assert step >= 2 and f"at step {step}" in str(e.value)
    assert str(out / ckpt.CHECKPOINT_FILE) in str(e.value)
    state = ckpt.load(out / ckpt.CHECKPOINT_FILE)  # the last good checkpoint stays
    assert state["step"] == step - 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_adapt_config_reports_each_change():
    preset = get_preset("lra-listops")
    task = prepare_task(TASK, 20)  # padded: the data holds PAD_ID
    cfg, changes = adapt_config(preset, task)
    assert cfg.vocab_size == 4 and cfg.n_classes == 2 and cfg.max_len == 20
    assert cfg.pad_id == PAD_ID and cfg.pooling == "mean" and not cfg.dual_tower
    assert changes["vocab_size"] == (preset.vocab_size, 4) and changes["pooling"] == ("cls", "mean")
    assert "pad_id" not in changes  # the preset already pads with 0
    pixel = get_preset("lra-pathfinder")  # no padding in a full image: pad_id stays None
    full = toy_task(seq_len=8, vocab_size=4)
    full = prepare_task(full, 4)  # the first 4 tokens of every row are never padding
    cfg, changes = adapt_config(pixel, full)
    assert cfg.pad_id is None and "pad_id" not in changes and cfg.max_len == 4
    same, none = adapt_config(cfg, full)
    assert same is cfg and none == {}


def test_fit_length_truncates_and_pads():
    x = torch.arange(1, 7).view(2, 3)
    assert torch.equal(fit_length(x, 2), torch.tensor([[1, 2], [4, 5]]))
    assert torch.equal(fit_length(x, 4), torch.tensor([[1, 2, 3, PAD_ID], [4, 5, 6, PAD_ID]]))
    t = prepare_task(TASK, 8)
    assert t.seq_len == 8 and t.train.inputs.shape == (256, 8) and "truncated to 8" in t.source
    r = train(TINY, TASK, BASE.replace(steps=2, seq_len=8), progress=False)
    assert r.seq_len == 8 and r.model_config["max_len"] == 8


def test_batch_stream_shards_epochs_and_resumes():
    n, world, bs = 10, 3, 4
    streams = [BatchStream(n, bs, seed=5, rank=r, world_size=world) for r in range(world)]
    per_rank = streams[0].per_rank  # ceil(10 / 3) = 4: two indices are repeated to pad to 12
    assert per_rank == 4
    shards = [s.next() for s in streams]  # one batch = exactly one epoch's share of each rank
    assert set(torch.cat(shards).tolist()) == set(range(n))
    assert [s.epoch for s in streams] == [1, 1, 1]
    # resumable: a copy from state_dict continues identically, across epoch boundaries
    a = BatchStream(n, 3, seed=5)
    for _ in range(5):
        a.next()
    b = BatchStream(n, 3, seed=5)
    b.load_state_dict(a.state_dict())
    assert all(torch.equal(a.next(), b.next()) for _ in range(7))
    c = BatchStream(n, 3, seed=6)
    assert not torch.equal(BatchStream(n, 10, seed=5).next(), c.next()[:3].repeat(4)[:10])
    with pytest.raises(SpecError):
        BatchStream(11, 3, seed=5).load_state_dict(a.state_dict())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("steps", 0),
        ("steps", -3),
        ("batch_size", 0),
        ("lr", 0.0),
        ("lr", math.nan),
        ("lr", 1e40),  # overflowed float32 mid-run: a RuntimeError traceback
        ("schedule", "step"),
        ("warmup_steps", 13),
        ("grad_clip", -1.0),
        ("log_every", 0),
        ("threads", 0),
        ("threads", 100_000),  # torch.set_num_threads crashed the process
    ],
)
def test_train_config_rejects_bad_values(field, value):
    with pytest.raises(SpecError) as e:
        BASE.replace(**{field: value})
    assert e.value.field == field


def test_lr_schedule_warmup_then_decay():
    tc = TrainConfig(steps=10, warmup_steps=2, schedule="linear")
    f = [tc.lr_factor(i) for i in range(10)]
    assert f[:3] == [0.5, 1.0, 1.0] and f[-1] == pytest.approx(1 / 8)
    cos = TrainConfig(steps=10, warmup_steps=0)
    assert cos.lr_factor(0) == 1.0 and cos.lr_factor(5) == pytest.approx(0.5)
    assert TrainConfig(steps=50).warmup == 5  # default: 10% of the steps
    assert TrainConfig(steps=10, schedule="constant").lr_factor(9) == 1.0


def test_sweep_models_family():
    base = get_preset("lra-image").replace(n_layers=3)
    models = sweep_models(base, [0, 1, 3], include_transformer=True)
    assert [m.name for m in models] == ["all-fourier", "hybrid-1", "all-attention", "transformer"]
    assert models[0].config.block_kinds() == ["fbfly"] * 3
    assert models[1].config.block_kinds() == ["fbfly", "fbfly", "abfly"]
    assert models[-1].config.block_kinds() == ["dense"] * 3 and models[-1].config.ffn == "dense"
    with pytest.raises(SpecError):
        sweep_models(base, [4])
    with pytest.raises(SpecError):
        sweep_models(base, [1, 1])


def test_sample_eval_cuts_val_and_test_to_a_seeded_sample():
    task = toy_task(n_train=64, n_val=40, n_test=30, seq_len=8)
    cut = sample_eval(task, 10)
    assert (len(cut.train), len(cut.val), len(cut.test)) == (64, 10, 10)
    assert "a sample of at most 10" in cut.source
    rows = {tuple(r.tolist()) for r in task.val.inputs}
    assert all(tuple(r.tolist()) in rows for r in cut.val.inputs)  # examples of the split, not new ones
    again = sample_eval(task, 10)
    assert torch.equal(cut.val.inputs, again.val.inputs) and torch.equal(cut.test.labels, again.test.labels)
    assert sample_eval(task, 0) is task and sample_eval(task, 40) is task


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: train(TINY, TASK, BASE, step_callback=5, progress=False), "step_callback"),  # was a
        (lambda: train(TINY, TASK, BASE, progress="yes"), "progress"),  # TypeError after the first step
        (lambda: train(TINY, TASK, BASE, resume="yes"), "resume"),
        (lambda: toy_task(n_train=-1), "n_train"),  # was a silently short split
        (lambda: toy_task(vocab_size=1), "vocab_size"),  # was torch's RuntimeError
        (lambda: toy_task(seed=2**64), "seed"),  # was an overflow ValueError
        (lambda: sample_eval(TASK, -1), "n"),  # was "unchanged", silently
        (lambda: sample_eval("listops", 3), "task"),  # was an AttributeError
        (lambda: prepare_task(TASK, -3), "seq_len"),  # cut 3 tokens off the end
        (lambda: adapt_config(TINY, "listops"), "task"),
        (lambda: sweep_models(TINY, 0), "attention_layers"),  # was "'int' object is not iterable"
        (lambda: sweep_models(TINY, [0], include_transformer="no"), "include_transformer"),
        (lambda: accuracy_sweep(TINY, TASK, {"steps": 1}, [0]), "train_config"),
    ],
)
def test_api_bad_arguments_name_the_field(call, field):
    with pytest.raises(SpecError) as e:
        call()
    assert e.value.field == field
