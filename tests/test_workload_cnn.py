"""Conv2d and pooling ops, the ResNet-50 lowering, the named-workload registry, every backend on ResNet-50.

References: torchvision's published figures for every ResNet and VGG (parameters, GMACs at 224 x 224;
ResNet-50: 25,557,032 and 4.09) and independent torch networks (torchvision's structures, written out below)
counted by torch's FlopCounterMode on the meta device.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from swallowtail import flops as F
from swallowtail.errors import SpecError
from swallowtail.workload import GEMM, OP_TYPES, Conv2d, Elementwise
from swallowtail.workload.cnn import (
    RESNET50_BLOCKS,
    RESNET_LAYERS,
    TORCHVISION_GMACS,
    TORCHVISION_PARAMS,
    VGG_CONFIGS,
    resnet,
    resnet50,
    resnet_name,
    vgg,
    vgg_name,
)
from swallowtail.workload.lower import lower
from swallowtail.workload.named import NAMED_WORKLOADS, bert_large, get_named_workload, named_workload

#: the check the task sets: ResNet-50 at batch 1, 224 x 224 is ~8.2 GFLOP (4.1 GMACs), within 2%
RESNET50_GFLOP = 8.2
RESNET50_GFLOP_TOLERANCE = 0.02


# ---- Conv2d ----------------------------------------------------------------------------------------------
def test_conv2d_by_hand() -> None:
    c = Conv2d(
        "c", images=2, in_channels=3, height=224, width=224, out_channels=64, kernel=7, stride=2, padding=3
    )
    assert c.out_hw == (112, 112)  # (224 + 6 - 7) // 2 + 1
    assert (c.m, c.k, c.n, c.batch) == (2 * 112 * 112, 3 * 7 * 7, 64, 1)  # the implicit GEMM
    assert c.flops == 2 * (2 * 112 * 112) * 147 * 64 == F.gemm_flops(c.m, c.k, c.n)
    assert c.input_shapes == ((2, 3, 224, 224),) and c.output_shape == (2, 64, 112, 112)
    assert c.weight_elems == 64 * 3 * 7 * 7
    # input once (NCHW, not im2col), weights once, output once
    assert c.min_bytes == (2 * 3 * 224 * 224 + 64 * 147 + 2 * 64 * 112 * 112) * 2
    assert isinstance(c, GEMM) and c.kind == "conv2d" and OP_TYPES["conv2d"] is Conv2d
    assert c.b_is_weight and c.kernel == (7, 7) and c.stride == (2, 2) and c.padding == (3, 3)


def test_conv2d_groups_rectangles_and_replace() -> None:
    c = Conv2d(
        "g",
        images=1,
        in_channels=8,
        height=5,
        width=7,
        out_channels=12,
        kernel=(3, 1),
        padding=(1, 0),
        groups=4,
    )
    assert c.out_hw == (5, 7)
    assert (c.m, c.k, c.n, c.batch, c.shared_b) == (35, 2 * 3, 3, 4, False)  # one product per group
    assert c.weight_elems == 12 * 2 * 3 * 1 == c.k * c.n * c.batch
    assert c.flops == 2 * 35 * 6 * 12
    d = dataclasses.replace(c, images=3)  # the GEMM view follows
    assert d.m == 3 * 35 and d.flops == 3 * c.flops


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"in_channels": 6, "groups": 4}, "c.in_channels"),
        ({"out_channels": 6, "groups": 4}, "c.out_channels"),
        ({"kernel": 9}, "c.kernel"),  # larger than the padded 4 x 4 input
        ({"kernel": (3, 3, 3)}, "c.kernel"),
        ({"stride": 0}, "c.stride"),
        ({"padding": -1}, "c.padding"),
        ({"images": 0}, "c.images"),
        ({"dtype": "fp8"}, "c.dtype"),
    ],
)
def test_conv2d_errors_name_the_field(kw: dict, field: str) -> None:
    base = dict(images=1, in_channels=4, height=4, width=4, out_channels=4, kernel=3)
    with pytest.raises(SpecError, match=field.replace(".", r"\.")):
        Conv2d("c", **{**base, **kw})


def test_conv2d_gemm_fields_are_derived_not_given() -> None:
    with pytest.raises(TypeError):
        Conv2d("c", m=4, images=1, in_channels=4, height=4, width=4, out_channels=4, kernel=1)  # type: ignore[call-arg]


# ---- pooling and affine ------------------------------------------------------------------------------------
def test_pool_and_affine_flops() -> None:
    assert F.pool_flops("maxpool", outputs=10, window=9) == 80  # 8 comparisons per output
    assert F.pool_flops("avgpool", outputs=10, window=49) == 490  # 48 adds + 1 scale per output
    with pytest.raises(ValueError, match="kind"):
        F.pool_flops("minpool", 1, 1)
    m = Elementwise("m", op="maxpool", numel=56 * 56, window=9, in_numel=112 * 112)
    assert m.flops == 8 * 56 * 56 and m.pool
    assert m.min_bytes == (112 * 112 + 56 * 56) * 2  # reads its whole input once
    a = Elementwise("a", op="affine", numel=100, weight=2 * 4)  # BatchNorm over 4 channels
    assert a.flops == 200 and a.weight_elems == 8 and not a.pool
    assert Elementwise("r", op="relu", numel=5).input_numel == 5


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"op": "relu", "window": 9}, "e.window"),
        ({"op": "maxpool", "window": 0}, "e.window"),
        ({"op": "maxpool", "window": 9, "in_numel": 0}, "e.in_numel"),
        ({"op": "minpool"}, "e.op"),
    ],
)
def test_pool_errors_name_the_field(kw: dict, field: str) -> None:
    with pytest.raises(SpecError, match=field.replace(".", r"\.")):
        Elementwise("e", numel=4, **kw)


# ---- ResNet-50 ---------------------------------------------------------------------------------------------
def test_resnet50_flops_params_and_structure() -> None:
    w = resnet50()
    assert abs(w.flops / 1e9 - RESNET50_GFLOP) <= RESNET50_GFLOP_TOLERANCE * RESNET50_GFLOP
    macs = sum(op.flops for op in w if isinstance(op, GEMM)) / 2
    assert macs / 1e9 == pytest.approx(TORCHVISION_GMACS["resnet-50"], rel=0.005)
    assert sum(op.weight_elems for op in w) == TORCHVISION_PARAMS["resnet-50"]
    convs = [op for op in w if isinstance(op, Conv2d)]
    assert len(convs) == 1 + 3 * sum(RESNET50_BLOCKS) + 4 == 53
    assert [op.name for op in convs if "downsample" in op.name] == [
        f"layer{i}.0.downsample.conv" for i in (1, 2, 3, 4)
    ]
    # v1.5: the stride is on the 3x3 conv of a stage's first block (and its shortcut), not on its first 1x1
    assert w.op("layer2.0.conv1").stride == (1, 1) and w.op("layer2.0.conv2").stride == (2, 2)
    assert w.op("layer2.0.downsample.conv").stride == (2, 2)
    assert w.op("layer4.2.conv3").output_shape == (1, 2048, 7, 7)
    fc = w.op("head.fc")
    assert type(fc) is GEMM and (fc.m, fc.k, fc.n) == (1, 2048, 1000) and fc.b_is_weight
    assert w.op("head.avgpool").window == 49 and w.op("stem.maxpool").output_shape == (64 * 56 * 56,)
    assert w.ops[-1].name == "head.fc.bias" and w.output_elems == 1000 and w.input_elems == 3 * 224 * 224


def test_resnet50_residual_adds_depend_on_both_branches() -> None:
    w = resnet50()
    adds = [op for op in w if op.name.endswith(".add")]
    assert len(adds) == sum(RESNET50_BLOCKS)
    for op in adds:
        block = op.name.removesuffix(".add")
        main, skip = op.deps
        assert main == f"{block}.bn3"
        first = block.endswith(".0")
        assert skip == (
            f"{block}.downsample.bn" if first else w.ops[w.ops.index(w.op(f"{block}.conv1")) - 1].name
        )
        assert w.op(main).output_elems == w.op(skip).output_elems == op.numel
    # an identity shortcut is the previous block's output, which also feeds conv1
    assert w.op("layer1.1.add").deps[1] == "layer1.0.relu" == w.op("layer1.1.conv1").deps[0]
    assert w.op("layer1.0.downsample.conv").deps == ("stem.maxpool",)


def test_resnet50_batch_dtype_and_image_size() -> None:
    one, four = resnet50(), resnet50(batch=4, dtype="int8")
    assert four.flops == pytest.approx(4 * one.flops, rel=1e-6)  # the fc bias add and all else scale
    assert four.weight_bytes == one.weight_bytes // 2  # int8: 1 byte per weight, fp16: 2
    assert four.name == "resnet-50@224x224xB4" and one.name == "resnet-50@224x224"
    small = resnet50(image_size=32)
    assert small.op("layer4.2.conv3").output_shape == (1, 2048, 1, 1) and small.op("head.avgpool").window == 1
    assert (
        sum(op.weight_elems for op in small) == TORCHVISION_PARAMS["resnet-50"]
    )  # the weights do not depend on it
    for bad in ({"batch": 0}, {"image_size": 0}, {"dtype": "fp8"}):
        with pytest.raises(SpecError, match=next(iter(bad))):
            resnet50(**bad)


def _torch_resnet(depth: int):  # noqa: ANN202
    """torchvision's ResNet-`depth` (v1.5 BasicBlock / Bottleneck), written out apart from the lowering."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, kind: str, inplanes: int, planes: int, stride: int) -> None:
            super().__init__()
            out = planes * (4 if kind == "bottleneck" else 1)
            if kind == "bottleneck":
                body = [
                    nn.Conv2d(inplanes, planes, 1, bias=False),
                    nn.BatchNorm2d(planes),
                    nn.ReLU(),
                    nn.Conv2d(planes, planes, 3, stride, 1, bias=False),
                    nn.BatchNorm2d(planes),
                    nn.ReLU(),
                    nn.Conv2d(planes, out, 1, bias=False),
                    nn.BatchNorm2d(out),
                ]
            else:
                body = [
                    nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False),
                    nn.BatchNorm2d(planes),
                    nn.ReLU(),
                    nn.Conv2d(planes, out, 3, 1, 1, bias=False),
                    nn.BatchNorm2d(out),
                ]
            self.body = nn.Sequential(*body)
            self.down = None
            if stride != 1 or inplanes != out:
                self.down = nn.Sequential(
                    nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out)
                )

        def forward(self, x):  # noqa: ANN001, ANN202
            return torch.relu(self.body(x) + (x if self.down is None else self.down(x)))

    kind, layers = {  # torchvision/models/resnet.py, written out apart from the module under test
        18: ("basic", (2, 2, 2, 2)),
        34: ("basic", (3, 4, 6, 3)),
        50: ("bottleneck", (3, 4, 6, 3)),
        101: ("bottleneck", (3, 4, 23, 3)),
        152: ("bottleneck", (3, 8, 36, 3)),
    }[depth]
    net: list[nn.Module] = [
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
    ]
    inplanes = 64
    for blocks, planes, stride in zip(layers, (64, 128, 256, 512), (1, 2, 2, 2), strict=True):
        for b in range(blocks):
            net.append(Block(kind, inplanes, planes, stride if b == 0 else 1))
            inplanes = planes * (4 if kind == "bottleneck" else 1)
    net += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(inplanes, 1000)]
    return nn.Sequential(*net)


def _torch_vgg(depth: int, batch_norm: bool):  # noqa: ANN202
    """torchvision's VGG-`depth` (cfgs A / B / D / E), written out independently of the lowering."""
    from torch import nn

    layers: list[nn.Module] = []
    c = 3
    widths = {11: [1, 1, 2, 2, 2], 13: [2, 2, 2, 2, 2], 16: [2, 2, 3, 3, 3], 19: [2, 2, 4, 4, 4]}[depth]
    for convs, width in zip(widths, (64, 128, 256, 512, 512), strict=True):
        for _ in range(convs):
            layers += [nn.Conv2d(c, width, 3, padding=1)]
            layers += [nn.BatchNorm2d(width)] if batch_norm else []
            layers += [nn.ReLU()]
            c = width
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(
        *layers,
        nn.AdaptiveAvgPool2d((7, 7)),
        nn.Flatten(),
        nn.Linear(512 * 49, 4096),
        nn.ReLU(),
        nn.Dropout(),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Dropout(),
        nn.Linear(4096, 1000),
    )


NETWORKS = [
    (resnet_name(d), lambda d=d, **kw: resnet(d, **kw), lambda d=d: _torch_resnet(d)) for d in RESNET_LAYERS
] + [
    (vgg_name(d, bn), lambda d=d, bn=bn, **kw: vgg(d, bn, **kw), lambda d=d, bn=bn: _torch_vgg(d, bn))
    for d in VGG_CONFIGS
    for bn in (False, True)
]


@pytest.mark.parametrize(("name", "build", "torch_net"), NETWORKS, ids=[n[0] for n in NETWORKS])
def test_cnns_against_torchvision_and_torch_flop_counter(name, build, torch_net) -> None:
    """Every network's parameters are torchvision's published count, its MACs its published GFLOPS, and its
    GEMM FLOPs those torch counts for an independent torch network of the same structure."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    w = build()
    assert w.name == f"{name}@224x224" and w.meta["model"] == name
    assert sum(op.weight_elems for op in w) == TORCHVISION_PARAMS[name]
    macs = sum(op.flops for op in w if isinstance(op, GEMM)) / 2
    assert macs / 1e9 == pytest.approx(TORCHVISION_GMACS[name.removesuffix("-bn")], abs=0.006)
    net = torch_net().to("meta").eval()
    assert sum(p.numel() for p in net.parameters()) == TORCHVISION_PARAMS[name]
    for batch, size in ((1, 224), (2, 96)):
        with FlopCounterMode(display=False) as counter:
            net(torch.empty(batch, 3, size, size, device="meta"))
        # torch counts convolutions and the fc matmuls (2 per MAC), not BatchNorm / ReLU / pools / adds / bias
        assert counter.get_total_flops() == sum(
            op.flops for op in build(batch=batch, image_size=size) if isinstance(op, GEMM)
        )


def test_vgg_structure() -> None:
    w = vgg(16)
    convs = [op for op in w if isinstance(op, Conv2d)]
    assert len(convs) == 13 == sum(isinstance(v, int) for v in VGG_CONFIGS[16])
    assert all(w.op(c.name.removesuffix(".conv") + ".bias").weight_elems == c.out_channels for c in convs)
    pools = [op for op in w if isinstance(op, Elementwise) and op.op == "maxpool"]
    assert [p.name for p in pools] == [f"features.pool{i}.maxpool" for i in range(1, 6)]
    assert w.op("avgpool.avgpool").window == 1 and w.op("avgpool.avgpool").output_shape == (512 * 49,)
    fcs = [op for op in w if type(op) is GEMM]
    assert [(f.m, f.k, f.n) for f in fcs] == [(1, 25088, 4096), (1, 4096, 4096), (1, 4096, 1000)]
    assert (
        not any("bn" in op.name for op in w)
        and len([op for op in vgg(16, True) if op.name.endswith(".bn")]) == 13
    )
    # the adaptive pool to 7 x 7: output i averages inputs [floor(n i / 7), ceil(n (i + 1) / 7)) of n
    for image, n in ((64, 2), (320, 10), (448, 14)):
        side = max(math.ceil(n * (i + 1) / 7) - math.floor(n * i / 7) for i in range(7))
        assert vgg(11, image_size=image).op("avgpool.avgpool").window == side * side
    assert [vgg(11, image_size=i).op("avgpool.avgpool").window for i in (64, 320, 448)] == [4, 9, 4]
    assert vgg(11, image_size=64).op("classifier.fc1").k == 25088  # the classifier always sees 512 x 7 x 7
    relus = sum(isinstance(op, Elementwise) and op.op == "relu" for op in w)
    assert relus == 13 + 2  # one per conv, one after each hidden fc
    assert [op.op for op in w if isinstance(op, Elementwise) and op.pool] == ["maxpool"] * 5 + ["avgpool"]
    with pytest.raises(SpecError, match=r"image_size = 16.*>= 32"):
        vgg(11, image_size=16)
    for bad in (lambda: vgg(12), lambda: resnet(51), lambda: resnet(50.0), lambda: resnet_name(51)):
        with pytest.raises(SpecError, match="depth"):
            bad()
    for bad in (lambda: vgg(16, "no"), lambda: vgg_name(16, 1)):
        with pytest.raises(SpecError, match="batch_norm"):
            bad()


def test_basic_block_resnets_project_only_where_the_shape_changes() -> None:
    for depth, blocks, inner in ((18, 8, 1), (50, 16, 2)):  # a ReLU in the stem, after inner convs and adds
        net = resnet(depth)
        assert sum(isinstance(op, Elementwise) and op.op == "relu" for op in net) == 1 + blocks * (inner + 1)
        assert [op.op for op in net if isinstance(op, Elementwise) and op.pool] == ["maxpool", "avgpool"]
    w = resnet(18)
    downs = [op.name for op in w if "downsample.conv" in op.name]
    assert downs == [f"layer{i}.0.downsample.conv" for i in (2, 3, 4)]  # layer1 keeps 64 channels: identity
    assert w.op("layer1.0.add").deps == ("layer1.0.bn2", "stem.maxpool")
    assert w.op("layer4.1.conv2").output_shape == (1, 512, 7, 7) and w.op("head.fc").k == 512


# ---- the registry ------------------------------------------------------------------------------------------
def test_named_workloads_through_lower() -> None:
    from swallowtail.nn.config import list_presets

    assert not set(NAMED_WORKLOADS) & set(list_presets())  # a name means one network
    assert lower("resnet-50", 224) == resnet50()
    assert lower("resnet-50", 64, batch=2, dtype="int8") == resnet50(batch=2, dtype="int8", image_size=64)
    assert lower("resnet-50", 224, name="rn50").name == "rn50@224x224"
    assert (
        lower("bert-large", 384, dtype="int8") == bert_large() == named_workload("bert-large", dtype="int8")
    )
    assert get_named_workload("resnet-50").default_seq_len == 224
    bl = bert_large(128, batch=2)
    assert bl.name == "bert-large@L128xB2" and len([op for op in bl if op.name.endswith("attn.scores")]) == 24
    with pytest.raises(SpecError, match=r"preset = 'resnet-19'.*'bert-large', 'resnet-18'"):
        lower("resnet-19", 224)
    assert lower("vgg-16-bn", 64) == vgg(16, True, image_size=64)
    with pytest.raises(SpecError, match="workload = 'nope'"):
        get_named_workload("nope")


def test_bert_large_defaults_are_mlperfs() -> None:
    w = bert_large()
    assert w.name == "bert-large@L384" and w.ops[0].dtype == "int8" and w.meta["config"]["d_model"] == 1024


# ---- the CLI -----------------------------------------------------------------------------------------------
def test_cli_names_resnet50() -> None:
    import json

    from typer.testing import CliRunner

    from swallowtail.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["workload", "list", "--json"])
    assert out.exit_code == 0, out.output
    listed = json.loads(out.stdout)
    assert listed["resnet-50"]["source"] == "named workload" and "fabnet-base" in listed
    out = runner.invoke(app, ["workload", "show", "resnet-50", "--json"])  # --seq-len: its default, 224
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["flops"] == resnet50().flops
    out = runner.invoke(app, ["roofline", "--model", "resnet-50", "--seq-len", "32", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["workload"] == "resnet-50@32x32"
    out = runner.invoke(app, ["baseline", "--target", "systolic", "--model", "resnet-50", "--json"])
    assert out.exit_code == 0, out.output
    for args in (["workload", "show", "fabnet-base"], ["baseline", "-t", "systolic", "-m", "fabnet-base"]):
        out = runner.invoke(app, args)  # a preset needs its --seq-len: one clean line
        assert out.exit_code == 2 and out.output.strip().startswith("error:") and "--seq-len" in out.output


# ---- every backend on ResNet-50 ----------------------------------------------------------------------------
def _backends() -> list[str]:
    from swallowtail.backends import list_backends

    return list_backends()


@pytest.mark.parametrize("name", _backends())
def test_every_backend_runs_resnet50(name: str) -> None:
    """Every registered backend at 224 x 224 (the dataflow backends' probes are memoised by op shape, so the
    full image costs them no more than a small one)."""
    from swallowtail.backends import get_backend

    w = resnet50(dtype="fp16")
    r = get_backend(name).run(w)
    assert r.latency_s > 0 and r.energy_j >= 0
    assert r.useful_ops == w.flops
    assert sum(o.flops for o in r.ops) == w.flops and len(r.ops) == len(w.ops)
    assert {o.kind for o in r.ops} >= {"conv2d", "elementwise", "gemm"}


@pytest.mark.parametrize("name", _backends())
def test_every_backend_runs_a_basic_block_resnet_and_a_vgg(name: str) -> None:
    """BasicBlocks, conv biases and VGG's 25088 x 4096 fc (at 64 x 64: the adaptive pool keeps it) on every
    backend; the FLOPs are the workload's."""
    from swallowtail.backends import get_backend

    for w in (resnet(18, image_size=64), vgg(11, True, image_size=64)):
        r = get_backend(name).run(w)
        assert r.latency_s > 0 and r.energy_j >= 0 and r.useful_ops == w.flops and len(r.ops) == len(w.ops)
