"""Convolutional networks as workloads: torchvision's ResNets and VGGs, the second network family beside the
Transformers.

torchvision's ResNet-18 / 34 / 50 / 101 / 152 (`torchvision.models.resnet*`, the "v1.5" variant: the stride
of a downsampling bottleneck sits on its 3x3 conv, not on the first 1x1 as in He et al. 2016), lowered op by
op:

  stem      conv 7x7/2 (3 -> 64, pad 3), BatchNorm, ReLU, max pool 3x3/2 (pad 1)
  layer1-4  blocks per stage (RESNET_LAYERS) of width 64 / 128 / 256 / 512:
              bottleneck (50, 101, 152; expansion 4): conv 1x1 (-> width), BN, ReLU, conv 3x3/s (pad 1), BN,
                ReLU, conv 1x1 (-> 4 width), BN
              basic (18, 34; expansion 1): conv 3x3/s (pad 1), BN, ReLU, conv 3x3 (pad 1), BN
              [projection shortcut: conv 1x1/s (-> expansion x width), BN -- where the shape changes]
              residual add (main branch + shortcut), ReLU
  head      global average pool, fc (512 x expansion) -> 1000 (+ bias)

torchvision's VGG-11 / 13 / 16 / 19 (configurations A / B / D / E of Simonyan & Zisserman 2015), with or
without BatchNorm (`vgg*_bn`):

  features    per VGG_CONFIGS entry: conv 3x3 (pad 1, + bias), [BN], ReLU; or max pool 2x2/2
  avgpool     adaptive average pool to 7 x 7 (at 224 x 224 the features are already 7 x 7: a copy)
  classifier  fc 25088 -> 4096 (+ bias), ReLU, fc 4096 -> 4096 (+ bias), ReLU, fc 4096 -> 1000 (+ bias);
              the two Dropouts are no-ops at inference and are not emitted

How each layer becomes ops (`swallowtail.workload.ops`):

  Conv2d                     -> Conv2d (a GEMM: its implicit-GEMM shape, M = N Ho Wo, K = Cin kh kw, N = Cout)
                                [+ Elementwise "add" of the bias, weight C: VGG's convs have one]
  BatchNorm (inference)      -> Elementwise "affine" (x * s_c + b_c, weight 2 x C): PyTorch eager runs it
                                as its own kernel; TensorRT folds it into the conv (a GPU model's epilogue)
  ReLU / residual add        -> Elementwise "relu" / "add" (2 operands: the add depends on both branches)
  max pool, avg pool         -> Elementwise "maxpool" / "avgpool" with a window and its input size
  fc                         -> GEMM (batch x d_in @ d_in x d_out) + bias add

Check numbers (tests/test_workload_cnn.py): every network's parameters match torchvision's published count
exactly (conv and fc weights and biases, BatchNorm scale and shift) and its multiply-adds at 224 x 224 the
published "GFLOPS" (which count multiply-adds); an independent torch network of the same structure gives the
same FLOPs under torch's FlopCounterMode. ResNet-50: 53 convolutions, 4.09 GMACs, 25,557,032 parameters.
"""

from __future__ import annotations

from typing import Any

from swallowtail.errors import SpecError, check_bool, check_int, is_int
from swallowtail.workload.emit import Emitter
from swallowtail.workload.graph import MAX_BATCH, MAX_IMAGE_SIZE, Workload
from swallowtail.workload.ops import DTYPE_BYTES, Conv2d, Elementwise

# ---- torchvision ResNets (torchvision/models/resnet.py: resnetN = ResNet(block, layers)) -----------------
#: blocks per stage and block type of each depth (resnet18 = ResNet(BasicBlock, [2, 2, 2, 2]), ...)
RESNET_LAYERS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
#: ResNet-50's blocks per stage
RESNET50_BLOCKS = RESNET_LAYERS[50][1]
#: block width (channels of its inner convs) per stage
RESNET_WIDTHS = (64, 128, 256, 512)
#: BasicBlock.expansion / Bottleneck.expansion: the block's output channels = width x this
BLOCK_EXPANSION = {"basic": 1, "bottleneck": 4}
#: stride of each stage's first block (on its 3x3 conv and its projection shortcut: v1.5)
RESNET_STAGE_STRIDES = (1, 2, 2, 2)
#: the stem: conv1 = Conv2d(3, 64, kernel_size=7, stride=2, padding=3)
STEM_CHANNELS = 64
STEM_KERNEL = 7
STEM_STRIDE = 2
STEM_PADDING = 3
#: maxpool = MaxPool2d(kernel_size=3, stride=2, padding=1)
MAXPOOL_KERNEL = 3
MAXPOOL_STRIDE = 2
MAXPOOL_PADDING = 1

# ---- torchvision VGGs (torchvision/models/vgg.py: cfgs "A", "B", "D", "E"; "M" is a max pool) -------------
#: the feature layers of each depth: a conv's output channels, or "M" (MaxPool2d(kernel_size=2, stride=2))
VGG_CONFIGS: dict[int, tuple[int | str, ...]] = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    13: (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    19: (
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ),
}
#: VGG's convs: Conv2d(in, v, kernel_size=3, padding=1) (with a bias); its pools: 2x2, stride 2
VGG_KERNEL = 3
VGG_PADDING = 1
VGG_POOL = 2
#: VGG.avgpool = AdaptiveAvgPool2d((7, 7)): the classifier always sees 512 x 7 x 7
VGG_POOLED_SIZE = 7
#: VGG.classifier's hidden width (two Linear(., 4096) + ReLU + Dropout)
VGG_HIDDEN = 4096

# ---- shared -----------------------------------------------------------------------------------------------
#: RGB input
IMAGE_CHANNELS = 3
#: ImageNet-1k classes (the fc layer's outputs)
IMAGENET_CLASSES = 1000
#: the ImageNet evaluation crop (torchvision's *_Weights transforms; MLPerf Inference ResNet-50)
DEFAULT_IMAGE_SIZE = 224
#: BatchNorm parameters per channel used at inference (scale and shift; the running statistics fold into them)
BN_PARAMS_PER_CHANNEL = 2
#: the name ResNet-50 is registered under (`swallowtail.workload.named`)
RESNET50_NAME = "resnet-50"

#: torchvision's published figures (the IMAGENET1K_V1 weights' meta, torchvision 0.28 docs,
#: docs.pytorch.org/vision/0.28/models): parameters, and "GFLOPS" = giga multiply-adds at 224 x 224 (the
#: same for a VGG with and without BatchNorm); the tests check the lowering against both
TORCHVISION_PARAMS = {
    "resnet-18": 11_689_512,
    "resnet-34": 21_797_672,
    "resnet-50": 25_557_032,
    "resnet-101": 44_549_160,
    "resnet-152": 60_192_808,
    "vgg-11": 132_863_336,
    "vgg-11-bn": 132_868_840,
    "vgg-13": 133_047_848,
    "vgg-13-bn": 133_053_736,
    "vgg-16": 138_357_544,
    "vgg-16-bn": 138_365_992,
    "vgg-19": 143_667_240,
    "vgg-19-bn": 143_678_248,
}
TORCHVISION_GMACS = {
    "resnet-18": 1.81,
    "resnet-34": 3.66,
    "resnet-50": 4.09,
    "resnet-101": 7.80,
    "resnet-152": 11.51,
    "vgg-11": 7.61,
    "vgg-13": 11.31,
    "vgg-16": 15.47,
    "vgg-19": 19.63,
}


def _check_depth(depth: object, table: dict[int, Any], family: str) -> int:
    if not is_int(depth) or depth not in table:
        raise SpecError("depth", depth, f"one of {sorted(table)} (torchvision's {family})")
    return depth


def resnet_name(depth: int) -> str:
    """The name a torchvision ResNet is registered under: resnet-18, ..., resnet-152."""
    return f"resnet-{_check_depth(depth, RESNET_LAYERS, 'ResNets')}"


def vgg_name(depth: int, batch_norm: bool = False) -> str:
    """The name a torchvision VGG is registered under: vgg-11, vgg-11-bn, ..., vgg-19-bn."""
    bn = check_bool("batch_norm", batch_norm)
    return f"vgg-{_check_depth(depth, VGG_CONFIGS, 'VGGs')}" + ("-bn" if bn else "")


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """floor((size + 2 padding - kernel) / stride) + 1 (torch.nn.MaxPool2d, dilation 1; a conv's own shape is
    its op's `out_hw`)."""
    return (size + 2 * padding - kernel) // stride + 1


def _adaptive_window(size: int, out: int) -> int:
    """The largest input window of an adaptive pool from `size` to `out` along one side: output i averages
    inputs [floor(i size / out), ceil((i + 1) size / out)) (torch.nn.AdaptiveAvgPool2d)."""
    return max(-(-(i + 1) * size // out) - i * size // out for i in range(out))


class _ConvNet(Emitter):
    """An emitter that tracks the activation's shape (channels, height, width) for NCHW layers."""

    def __init__(self, dtype: str, images: int, channels: int, size: int) -> None:
        super().__init__(dtype)
        self.images = images
        self.c, self.h, self.w = channels, size, size

    @property
    def numel(self) -> int:
        return self.images * self.c * self.h * self.w

    def conv(
        self, local: str, out_channels: int, kernel: int, stride: int = 1, padding: int = 0, **kw
    ) -> str:
        op = self.emit(
            Conv2d,
            local,
            images=self.images,
            in_channels=self.c,
            height=self.h,
            width=self.w,
            out_channels=out_channels,
            kernel=kernel,
            stride=stride,
            padding=padding,
            **kw,
        )
        conv = self.ops[-1]
        assert isinstance(conv, Conv2d)
        self.c, (self.h, self.w) = out_channels, conv.out_hw
        return op

    def bias(self, local: str) -> str:
        """A conv's bias: one value per output channel, added to every pixel."""
        return self.emit(Elementwise, local, op="add", numel=self.numel, weight=self.c)

    def bn(self, local: str) -> str:
        """Inference BatchNorm: a per-channel scale and shift."""
        return self.emit(
            Elementwise, local, op="affine", numel=self.numel, weight=BN_PARAMS_PER_CHANNEL * self.c
        )

    def relu(self, local: str, **kw) -> str:
        return self.emit(Elementwise, local, op="relu", numel=self.numel, **kw)

    def pool(self, local: str, op: str, out_h: int, out_w: int, window: int) -> str:
        """A max / average pool to out_h x out_w, each output over at most `window` inputs."""
        in_numel = self.numel
        self.h, self.w = out_h, out_w
        return self.emit(Elementwise, local, op=op, numel=self.numel, window=window, in_numel=in_numel)

    def conv_bn(
        self, conv: str, bn: str, out_channels: int, kernel: int, stride: int = 1, padding: int = 0
    ) -> str:
        self.conv(conv, out_channels, kernel, stride, padding)
        return self.bn(bn)

    def residual_block(self, kind: str, width: int, stride: int) -> None:
        """torchvision's BasicBlock (two 3x3 convs) or Bottleneck (1x1 -> 3x3/stride -> 1x1 x expansion),
        + shortcut (a strided 1x1 projection where the shape changes), ReLU."""
        x_in, shape_in = self.last, (self.c, self.h, self.w)
        out = width * BLOCK_EXPANSION[kind]
        if kind == "bottleneck":
            self.conv_bn("conv1", "bn1", width, 1)
            self.relu("relu1")
            self.conv_bn("conv2", "bn2", width, 3, stride, 1)
            self.relu("relu2")
            main = self.conv_bn("conv3", "bn3", out, 1)
        else:
            self.conv_bn("conv1", "bn1", width, 3, stride, 1)
            self.relu("relu1")
            main = self.conv_bn("conv2", "bn2", out, 3, 1, 1)
        skip = x_in
        if stride != 1 or shape_in[0] != out:  # downsample = conv1x1(inplanes, out, stride) + BatchNorm
            self.c, self.h, self.w = shape_in
            self.last = x_in
            self.conv("downsample.conv", out, 1, stride)
            skip = self.bn("downsample.bn")
        self.emit(Elementwise, "add", op="add", numel=self.numel, operands=2, deps=(main, skip))
        self.relu("relu")

    def classifier_fc(self, local: str, d_out: int, relu: bool) -> None:
        """A fully connected layer (+ bias) on the flattened activation, optionally followed by a ReLU."""
        self.linear(local, "dense", self.c * self.h * self.w, d_out, self.images)
        self.c, self.h, self.w = d_out, 1, 1
        if relu:
            self.relu(f"{local}.relu")


def _check_args(batch: int, image_size: int, dtype: str) -> None:
    check_int("batch", batch, 1, MAX_BATCH)
    check_int("image_size", image_size, 1, MAX_IMAGE_SIZE)
    if dtype not in DTYPE_BYTES:
        raise SpecError("dtype", dtype, f"one of {sorted(DTYPE_BYTES)}")


def _workload(e: _ConvNet, name: str, image_size: int, batch: int, dtype: str) -> Workload:
    return Workload(
        name=f"{name}@{image_size}x{image_size}" + (f"xB{batch}" if batch > 1 else ""),
        ops=tuple(e.ops),
        input_elems=batch * IMAGE_CHANNELS * image_size * image_size,
        output_elems=batch * IMAGENET_CLASSES,
        elem_bytes=DTYPE_BYTES[dtype],
        meta={"model": name, "image_size": image_size, "batch": batch, "dtype": dtype},
    )


def resnet(
    depth: int,
    batch: int = 1,
    dtype: str = "fp16",
    image_size: int = DEFAULT_IMAGE_SIZE,
    name: str | None = None,
) -> Workload:
    """The Workload of one inference of torchvision's ResNet-`depth` (18, 34, 50, 101, 152) on `batch` RGB
    images of `image_size` x `image_size` pixels (any size >= 1: the strides floor as torch's do, the global
    pool takes the rest)."""
    _check_depth(depth, RESNET_LAYERS, "ResNets")
    _check_args(batch, image_size, dtype)
    kind, layers = RESNET_LAYERS[depth]
    e = _ConvNet(dtype, batch, IMAGE_CHANNELS, image_size)

    # ---- stem: conv 7x7/2, BN, ReLU, max pool 3x3/2 ----------------------------------------------------
    e.layer = e.prefix = "stem"
    e.conv_bn("conv", "bn", STEM_CHANNELS, STEM_KERNEL, STEM_STRIDE, STEM_PADDING)
    e.relu("relu")
    e.pool(
        "maxpool",
        "maxpool",
        _conv_out(e.h, MAXPOOL_KERNEL, MAXPOOL_STRIDE, MAXPOOL_PADDING),
        _conv_out(e.w, MAXPOOL_KERNEL, MAXPOOL_STRIDE, MAXPOOL_PADDING),
        MAXPOOL_KERNEL**2,
    )

    # ---- four stages of blocks (N, C, H, W) -> (N, expansion x width, H / s, W / s) --------------------
    for stage, (blocks, width, stride) in enumerate(
        zip(layers, RESNET_WIDTHS, RESNET_STAGE_STRIDES, strict=True)
    ):
        e.layer = f"layer{stage + 1}"
        for b in range(blocks):
            e.prefix = f"{e.layer}.{b}"
            e.residual_block(kind, width, stride if b == 0 else 1)

    # ---- head: global average pool (N, C, h, w) -> (N, C), fc C -> 1000 ---------------------------------
    e.layer = e.prefix = "head"
    e.pool("avgpool", "avgpool", 1, 1, e.h * e.w)
    e.linear("fc", "dense", e.c, IMAGENET_CLASSES, batch)
    return _workload(e, name or resnet_name(depth), image_size, batch, dtype)


def resnet50(
    batch: int = 1, dtype: str = "fp16", image_size: int = DEFAULT_IMAGE_SIZE, name: str = RESNET50_NAME
) -> Workload:
    """torchvision's ResNet-50 (`resnet(50, ...)`): MLPerf Inference's image network."""
    return resnet(50, batch, dtype, image_size, name)


def vgg(
    depth: int,
    batch_norm: bool = False,
    batch: int = 1,
    dtype: str = "fp16",
    image_size: int = DEFAULT_IMAGE_SIZE,
    name: str | None = None,
) -> Workload:
    """The Workload of one inference of torchvision's VGG-`depth` (11, 13, 16, 19), with BatchNorm after
    each conv if `batch_norm` (`vgg*_bn`), on `batch` RGB images of `image_size` x `image_size` pixels (at
    least 32: five 2x2 pools must leave a pixel)."""
    _check_depth(depth, VGG_CONFIGS, "VGGs")
    check_bool("batch_norm", batch_norm)
    _check_args(batch, image_size, dtype)
    n_pools = VGG_CONFIGS[depth].count("M")
    if image_size < VGG_POOL**n_pools:
        raise SpecError("image_size", image_size, f">= {VGG_POOL**n_pools} ({n_pools} 2x2 pools) for a VGG")
    e = _ConvNet(dtype, batch, IMAGE_CHANNELS, image_size)
    e.layer = "features"
    convs = pools = 0
    for v in VGG_CONFIGS[depth]:
        if v == "M":
            pools += 1
            e.prefix = f"features.pool{pools}"
            size = _conv_out(e.h, VGG_POOL, VGG_POOL, 0), _conv_out(e.w, VGG_POOL, VGG_POOL, 0)
            e.pool("maxpool", "maxpool", *size, VGG_POOL**2)
            continue
        convs += 1
        e.prefix = f"features.conv{convs}"
        e.conv("conv", int(v), VGG_KERNEL, 1, VGG_PADDING)
        e.bias("bias")
        if batch_norm:
            e.bn("bn")
        e.relu("relu")

    # ---- adaptive average pool to 7 x 7: the window is the largest an output averages -----------------
    e.layer = e.prefix = "avgpool"
    window = _adaptive_window(e.h, VGG_POOLED_SIZE) * _adaptive_window(e.w, VGG_POOLED_SIZE)
    e.pool("avgpool", "avgpool", VGG_POOLED_SIZE, VGG_POOLED_SIZE, window)

    # ---- classifier: fc, ReLU, (Dropout), fc, ReLU, (Dropout), fc --------------------------------------
    e.layer = e.prefix = "classifier"
    e.classifier_fc("fc1", VGG_HIDDEN, relu=True)
    e.classifier_fc("fc2", VGG_HIDDEN, relu=True)
    e.classifier_fc("fc3", IMAGENET_CLASSES, relu=False)
    return _workload(e, name or vgg_name(depth, batch_norm), image_size, batch, dtype)


__all__ = [
    "DEFAULT_IMAGE_SIZE",
    "RESNET50_BLOCKS",
    "RESNET50_NAME",
    "RESNET_LAYERS",
    "TORCHVISION_GMACS",
    "TORCHVISION_PARAMS",
    "VGG_CONFIGS",
    "resnet",
    "resnet50",
    "resnet_name",
    "vgg",
    "vgg_name",
]
