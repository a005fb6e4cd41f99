"""Seeded random-weight classifiers built directly in jitmnn's graph IR (ONNX op names, opset-13 semantics).

    g = resnet18()                                  # jitmnn.graph.Graph, input "input" (N,3,224,224)
    save_onnx(g, "resnet18.onnx")                   # jitmnn.converter.export; ORT and MNN run this file
    jitmnn.convert("resnet18.onnx", "resnet18.jmnn")

The architectures are the ones the reference numbers in shared/ANCHORS.md were measured on (ResNet-18,
ResNet-50 v1.5 with the stride on the 3x3, MobileNetV2 1.0), so ratios against ONNX Runtime and MNN compare
like with like. The graphs are what an exporter emits, not what our converter makes: every conv is followed by
a separate BatchNormalization whose statistics are far from identity (so folding it into the conv changes the
weights by up to ~2x and a folding bug cannot hide), ReLU6 is a Clip with min/max constant inputs, and the head
is GlobalAveragePool -> Flatten -> Gemm(transB=1). Weights are He-normal from `np.random.default_rng(seed)`;
the same seed always gives the same bytes."""

from __future__ import annotations

import numpy as np

from jitmnn.graph import Graph, Node, TensorInfo

IMAGENET_INPUT = (None, 3, 224, 224)
IMAGENET_CLASSES = 1000


class GraphBuilder:
    """Appends nodes in topological order; each node's single output tensor is named after the node, and
    a node's weights are named '<node>.weight' etc., so `explain()` and converter reports read like the model."""

    def __init__(self, name: str, seed: int, input_shape: tuple, input_name: str = "input"):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.constants: dict = {}
        self.input = TensorInfo(input_name, tuple(input_shape))
        self._shared: dict = {}

    # ----- primitives -------------------------------------------------------------------------------
    def const(self, name: str, value, dtype=np.float32) -> str:
        if name in self.constants:
            raise ValueError(f"constant {name!r} defined twice")
        self.constants[name] = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        return name

    def shared_const(self, key: str, value, dtype=np.float32) -> str:
        """One constant reused by many nodes (as exporters do for ReLU6's 0 and 6)."""
        if key not in self._shared:
            self._shared[key] = self.const(key, value, dtype)
        return self._shared[key]

    def node(self, op: str, inputs: list, name: str, **attrs) -> str:
        self.nodes.append(Node(name, op, list(inputs), [name], dict(attrs)))
        return name

    # ----- layers -----------------------------------------------------------------------------------
    def conv(self, x: str, name: str, cin: int, cout: int, k: int, stride: int = 1, group: int = 1,
             dilation: int = 1, bias: bool = False) -> str:
        fan_in = (cin // group) * k * k
        w = self.rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / fan_in)
        inputs = [x, self.const(f"{name}.weight", w)]
        if bias:
            inputs.append(self.const(f"{name}.bias", self.rng.normal(0.0, 0.05, cout)))
        pad = dilation * (k - 1) // 2
        return self.node("Conv", inputs, name, kernel_shape=[k, k], strides=[stride, stride],
                         pads=[pad, pad, pad, pad], dilations=[dilation, dilation], group=group)

    def bn(self, x: str, name: str, c: int, gamma: float = 1.0) -> str:
        """Inference BatchNormalization with statistics far enough from (0, 1) that folding it matters:
        scale gamma/sqrt(var) spans roughly 0.5..1.7 per channel and the shift reaches +-0.5."""
        r = self.rng
        params = {
            "scale": gamma * r.uniform(0.7, 1.3, c),
            "B": r.normal(0.0, 0.1, c),
            "mean": r.normal(0.0, 0.2, c),
            "var": r.uniform(0.5, 2.0, c),
        }
        names = [self.const(f"{name}.{k}", v) for k, v in params.items()]
        return self.node("BatchNormalization", [x] + names, name, epsilon=1e-5, momentum=0.9)

    def relu(self, x: str, name: str) -> str:
        return self.node("Relu", [x], name)

    def relu6(self, x: str, name: str) -> str:
        lo = self.shared_const("relu6.min", 0.0)
        hi = self.shared_const("relu6.max", 6.0)
        return self.node("Clip", [x, lo, hi], name)

    def conv_bn(self, x: str, name: str, cin: int, cout: int, k: int, stride: int = 1, group: int = 1,
                act: str | None = "relu", gamma: float = 1.0) -> str:
        y = self.bn(self.conv(x, f"{name}.conv", cin, cout, k, stride, group), f"{name}.bn", cout, gamma)
        if act == "relu":
            y = self.relu(y, f"{name}.relu")
        elif act == "relu6":
            y = self.relu6(y, f"{name}.relu6")
        elif act is not None:
            raise ValueError(f"unknown activation {act!r}")
        return y

    def add(self, a: str, b: str, name: str) -> str:
        return self.node("Add", [a, b], name)

    def maxpool(self, x: str, name: str, k: int = 3, stride: int = 2, pad: int = 1) -> str:
        return self.node("MaxPool", [x], name, kernel_shape=[k, k], strides=[stride, stride],
                         pads=[pad, pad, pad, pad], dilations=[1, 1], ceil_mode=0)

    def classifier(self, x: str, cin: int, classes: int, output: str = "output") -> str:
        """GlobalAveragePool -> Flatten(axis=1) -> Gemm(transB=1), the head torchvision exports."""
        x = self.node("Flatten", [self.node("GlobalAveragePool", [x], "head.pool")], "head.flatten", axis=1)
        w = self.rng.standard_normal((classes, cin)) * np.sqrt(1.0 / cin)
        b = self.rng.normal(0.0, 0.01, classes)
        inputs = [x, self.const("fc.weight", w), self.const("fc.bias", b)]
        return self.node("Gemm", inputs, output, alpha=1.0, beta=1.0, transA=0, transB=1)

    def graph(self, outputs: list, **metadata) -> Graph:
        g = Graph(self.name, self.nodes, [self.input], list(outputs), self.constants,
                  metadata={"source": "jitmnn.models.zoo", **metadata})
        g.validate()
        return g


# ----- architectures ----------------------------------------------------------------------------------
RESNET_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}


def resnet(depth: int, seed: int, num_classes: int = IMAGENET_CLASSES, input_shape=IMAGENET_INPUT) -> Graph:
    """ResNet v1.5 (torchvision): basic blocks below 50 layers, bottlenecks (stride on the 3x3) from 50.
    The last BN of each residual branch has gamma scaled by 0.5 so activations stay O(1) through the depth."""
    if depth not in RESNET_BLOCKS:
        raise ValueError(f"ResNet depth must be one of {sorted(RESNET_BLOCKS)}, got {depth}")
    b = GraphBuilder(f"resnet{depth}", seed, input_shape)
    bottleneck = depth >= 50
    expansion = 4 if bottleneck else 1
    x = b.maxpool(b.conv_bn(b.input.name, "stem", 3, 64, 7, 2), "stem.maxpool")
    cin = 64
    for stage, n in enumerate(RESNET_BLOCKS[depth]):
        width = 64 * 2**stage
        cout = width * expansion
        for i in range(n):
            p = f"layer{stage + 1}.{i}"
            stride = 2 if stage > 0 and i == 0 else 1
            if bottleneck:
                y = b.conv_bn(x, f"{p}.1", cin, width, 1)
                y = b.conv_bn(y, f"{p}.2", width, width, 3, stride)
                y = b.conv_bn(y, f"{p}.3", width, cout, 1, act=None, gamma=0.5)
            else:
                y = b.conv_bn(x, f"{p}.1", cin, width, 3, stride)
                y = b.conv_bn(y, f"{p}.2", width, cout, 3, act=None, gamma=0.5)
            if stride != 1 or cin != cout:
                x = b.conv_bn(x, f"{p}.downsample", cin, cout, 1, stride, act=None)
            x = b.relu(b.add(y, x, f"{p}.add"), f"{p}.out")
            cin = cout
    b.classifier(x, cin, num_classes)
    return b.graph(["output"], architecture=f"resnet{depth}", seed=seed)


def resnet18(seed: int = 18, num_classes: int = IMAGENET_CLASSES, input_shape=IMAGENET_INPUT) -> Graph:
    """ResNet-18, 11.7 M parameters, 3.6 GFLOP at 224x224."""
    return resnet(18, seed, num_classes, input_shape)


def resnet50(seed: int = 50, num_classes: int = IMAGENET_CLASSES, input_shape=IMAGENET_INPUT) -> Graph:
    """ResNet-50 v1.5, 25.6 M parameters, 8.2 GFLOP at 224x224."""
    return resnet(50, seed, num_classes, input_shape)


# (expansion t, output channels c, repeats n, first stride s), from the MobileNetV2 paper, table 2.
MOBILENET_V2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                         (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def mobilenet_v2(seed: int = 2, num_classes: int = IMAGENET_CLASSES, input_shape=IMAGENET_INPUT) -> Graph:
    """MobileNetV2 1.0: inverted residuals (1x1 expand + ReLU6, 3x3 depthwise + ReLU6, 1x1 linear project),
    3.5 M parameters, 0.6 GFLOP at 224x224."""
    b = GraphBuilder("mobilenet_v2", seed, input_shape)
    x = b.conv_bn(b.input.name, "stem", 3, 32, 3, 2, act="relu6")
    cin = 32
    block = 0
    for t, c, n, s in MOBILENET_V2_SETTINGS:
        for i in range(n):
            p = f"block{block}"
            stride = s if i == 0 else 1
            hidden = cin * t
            y = b.conv_bn(x, f"{p}.expand", cin, hidden, 1, act="relu6") if t != 1 else x
            y = b.conv_bn(y, f"{p}.dw", hidden, hidden, 3, stride, group=hidden, act="relu6")
            y = b.conv_bn(y, f"{p}.project", hidden, c, 1, act=None, gamma=0.5)
            x = b.add(x, y, f"{p}.add") if (stride == 1 and cin == c) else y
            cin = c
            block += 1
    x = b.conv_bn(x, "last", cin, 1280, 1, act="relu6")
    b.classifier(x, 1280, num_classes)
    return b.graph(["output"], architecture="mobilenet_v2", seed=seed)


TINY_INPUT = (None, 3, 19, 21)


def tiny_cnn(seed: int = 0, num_classes: int = 10, input_shape=TINY_INPUT) -> Graph:
    """A few-layer net with every op of the big three (Conv+BN+Relu, depthwise Conv+BN+Clip, a strided
    conv, MaxPool, a residual Add, GlobalAveragePool, Flatten, Gemm) on an odd 19x21 input and odd channel
    counts, so it breaks tiles and runs in milliseconds: the fast end-to-end test model."""
    b = GraphBuilder("tiny_cnn", seed, input_shape)
    x = b.conv_bn(b.input.name, "stem", 3, 13, 3, 1)
    x = b.maxpool(x, "stem.maxpool")
    y = b.conv_bn(x, "block.expand", 13, 17, 1, act="relu6")
    y = b.conv_bn(y, "block.dw", 17, 17, 3, 1, group=17, act="relu6")
    y = b.conv_bn(y, "block.project", 17, 13, 1, act=None, gamma=0.5)
    x = b.relu(b.add(x, y, "block.add"), "block.out")
    x = b.conv_bn(x, "down", 13, 24, 3, 2)
    b.classifier(x, 24, num_classes)
    return b.graph(["output"], architecture="tiny_cnn", seed=seed)


BUILDERS = {"tiny_cnn": tiny_cnn, "resnet18": resnet18, "resnet50": resnet50, "mobilenet_v2": mobilenet_v2}


def parameter_count(graph: Graph) -> int:
    return int(sum(np.asarray(v).size for v in graph.constants.values()))
