"""Convolutional networks as workloads: ResNet-50, the second network family beside the Transformers.

torchvision's ResNet-50 (`torchvision.models.resnet50`, the "v1.5" variant: the stride of a downsampling
bottleneck sits on its 3x3 conv, not on the first 1x1 as in He et al. 2016), lowered op by op:

  stem      conv 7x7/2 (3 -> 64, pad 3), BatchNorm, ReLU, max pool 3x3/2 (pad 1)
  layer1-4  [3, 4, 6, 3] bottlenecks of width 64 / 128 / 256 / 512, expansion 4:
              conv 1x1 (-> width), BN, ReLU, conv 3x3/s (pad 1), BN, ReLU, conv 1x1 (-> 4 width), BN,
              [projection shortcut: conv 1x1/s (-> 4 width), BN -- first block of each stage]
              residual add (main branch + shortcut), ReLU
  head      global average pool, fc 2048 -> 1000 (+ bias)

How each layer becomes ops (`swallowtail.workload.ops`):

  Conv2d                     -> Conv2d (a GEMM: its implicit-GEMM shape, M = N Ho Wo, K = Cin kh kw, N = Cout)
  BatchNorm (inference)      -> Elementwise "affine" (x * s_c + b_c, weight 2 x C): PyTorch eager runs it
                                as its own kernel; TensorRT folds it into the conv (a GPU model's epilogue)
  ReLU / residual add        -> Elementwise "relu" / "add" (2 operands: the add depends on both branches)
  max pool 3x3/2, avg pool   -> Elementwise "maxpool" / "avgpool" with a window and its input size
  fc                         -> GEMM (batch x 2048 @ 2048 x 1000) + bias add

Check numbers (tests/test_workload_cnn.py): 53 convolutions (49 in the bottlenecks' main branches + 4
projection shortcuts), 4.09 GMACs at 224 x 224 (torchvision's published "GFLOPS" for ResNet-50 counts
multiply-adds), and 25,557,032 parameters (torchvision's published count: conv and fc weights, fc bias,
BatchNorm scale and shift).
"""

from __future__ import annotations

from swallowtail.errors import SpecError, check_int
from swallowtail.workload.emit import Emitter
from swallowtail.workload.graph import MAX_BATCH, MAX_IMAGE_SIZE, Workload
from swallowtail.workload.ops import DTYPE_BYTES, Conv2d, Elementwise

# ---- torchvision ResNet-50 (torchvision/models/resnet.py: resnet50 = ResNet(Bottleneck, [3, 4, 6, 3])) -----
#: bottleneck blocks per stage
RESNET50_BLOCKS = (3, 4, 6, 3)
#: bottleneck width (channels of its 1x1 and 3x3 convs) per stage
RESNET_WIDTHS = (64, 128, 256, 512)
#: Bottleneck.expansion: the block's output channels = width x this
BOTTLENECK_EXPANSION = 4
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
#: RGB input
IMAGE_CHANNELS = 3
#: ImageNet-1k classes (the fc layer's outputs)
IMAGENET_CLASSES = 1000
#: the ImageNet evaluation crop (torchvision's ResNet50_Weights transforms; MLPerf Inference ResNet-50)
DEFAULT_IMAGE_SIZE = 224
#: BatchNorm parameters per channel used at inference (scale and shift; the running statistics fold into them)
BN_PARAMS_PER_CHANNEL = 2
#: the name ResNet-50 is registered under (`swallowtail.workload.named`)
RESNET50_NAME = "resnet-50"

#: torchvision's published figures for resnet50 (ResNet50_Weights.IMAGENET1K_V1 meta): parameters, and
#: "GFLOPS" = giga multiply-adds at 224 x 224; the tests check the lowering against both
TORCHVISION_RESNET50_PARAMS = 25_557_032
TORCHVISION_RESNET50_GMACS = 4.09


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """floor((size + 2 padding - kernel) / stride) + 1 (torch.nn.Conv2d / MaxPool2d, dilation 1)."""
    return (size + 2 * padding - kernel) // stride + 1


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
        self.c = out_channels
        self.h = _conv_out(self.h, kernel, stride, padding)
        self.w = _conv_out(self.w, kernel, stride, padding)
        return op

    def bn(self, local: str) -> str:
        """Inference BatchNorm: a per-channel scale and shift."""
        return self.emit(
            Elementwise, local, op="affine", numel=self.numel, weight=BN_PARAMS_PER_CHANNEL * self.c
        )

    def relu(self, local: str, **kw) -> str:
        return self.emit(Elementwise, local, op="relu", numel=self.numel, **kw)

    def conv_bn(
        self, conv: str, bn: str, out_channels: int, kernel: int, stride: int = 1, padding: int = 0
    ) -> str:
        self.conv(conv, out_channels, kernel, stride, padding)
        return self.bn(bn)

    def bottleneck(self, width: int, stride: int, project: bool) -> None:
        """torchvision's Bottleneck: 1x1 -> 3x3/stride -> 1x1 (x expansion), + shortcut, ReLU."""
        x_in, shape_in = self.last, (self.c, self.h, self.w)
        self.conv_bn("conv1", "bn1", width, 1)
        self.relu("relu1")
        self.conv_bn("conv2", "bn2", width, 3, stride, 1)
        self.relu("relu2")
        main = self.conv_bn("conv3", "bn3", width * BOTTLENECK_EXPANSION, 1)
        shape_out = (self.c, self.h, self.w)
        skip = x_in
        if project:  # downsample = conv1x1(inplanes, planes * expansion, stride) + BatchNorm
            self.c, self.h, self.w = shape_in
            self.last = x_in
            self.conv("downsample.conv", width * BOTTLENECK_EXPANSION, 1, stride)
            skip = self.bn("downsample.bn")
        elif shape_in != shape_out:  # cannot happen in ResNet-50: an identity shortcut keeps the shape
            raise SpecError("shortcut", shape_in, f"the block's output shape {shape_out} (identity shortcut)")
        self.emit(Elementwise, "add", op="add", numel=self.numel, operands=2, deps=(main, skip))
        self.relu("relu")


def resnet50(
    batch: int = 1, dtype: str = "fp16", image_size: int = DEFAULT_IMAGE_SIZE, name: str = RESNET50_NAME
) -> Workload:
    """The Workload of one inference of torchvision's ResNet-50 on `batch` RGB images of `image_size` x
    `image_size` pixels (any size >= 1: the strides floor as torch's do, the global pool takes the rest)."""
    check_int("batch", batch, 1, MAX_BATCH)
    check_int("image_size", image_size, 1, MAX_IMAGE_SIZE)
    if dtype not in DTYPE_BYTES:
        raise SpecError("dtype", dtype, f"one of {sorted(DTYPE_BYTES)}")
    e = _ConvNet(dtype, batch, IMAGE_CHANNELS, image_size)

    # ---- stem: conv 7x7/2, BN, ReLU, max pool 3x3/2 ----------------------------------------------------
    e.layer = e.prefix = "stem"
    e.conv_bn("conv", "bn", STEM_CHANNELS, STEM_KERNEL, STEM_STRIDE, STEM_PADDING)
    e.relu("relu")
    in_numel = e.numel
    e.h = _conv_out(e.h, MAXPOOL_KERNEL, MAXPOOL_STRIDE, MAXPOOL_PADDING)
    e.w = _conv_out(e.w, MAXPOOL_KERNEL, MAXPOOL_STRIDE, MAXPOOL_PADDING)
    e.emit(Elementwise, "maxpool", op="maxpool", numel=e.numel, window=MAXPOOL_KERNEL**2, in_numel=in_numel)

    # ---- four stages of bottlenecks (N, C, H, W) -> (N, 4 width, H / s, W / s) -------------------------
    for stage, (blocks, width, stride) in enumerate(
        zip(RESNET50_BLOCKS, RESNET_WIDTHS, RESNET_STAGE_STRIDES, strict=True)
    ):
        e.layer = f"layer{stage + 1}"
        for b in range(blocks):
            e.prefix = f"{e.layer}.{b}"
            e.bottleneck(width, stride if b == 0 else 1, project=b == 0)

    # ---- head: global average pool (N, 2048, h, w) -> (N, 2048), fc 2048 -> 1000 ---------------------
    e.layer = e.prefix = "head"
    window, in_numel = e.h * e.w, e.numel
    e.h = e.w = 1
    e.emit(Elementwise, "avgpool", op="avgpool", numel=e.numel, window=window, in_numel=in_numel)
    e.linear("fc", "dense", e.c, IMAGENET_CLASSES, batch)

    return Workload(
        name=f"{name}@{image_size}x{image_size}" + (f"xB{batch}" if batch > 1 else ""),
        ops=tuple(e.ops),
        input_elems=batch * IMAGE_CHANNELS * image_size * image_size,
        output_elems=batch * IMAGENET_CLASSES,
        elem_bytes=DTYPE_BYTES[dtype],
        meta={"model": name, "image_size": image_size, "batch": batch, "dtype": dtype},
    )


__all__ = [
    "DEFAULT_IMAGE_SIZE",
    "RESNET50_BLOCKS",
    "RESNET50_NAME",
    "TORCHVISION_RESNET50_GMACS",
    "TORCHVISION_RESNET50_PARAMS",
    "resnet50",
]
