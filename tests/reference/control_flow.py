"""Control-flow references: the node rebuilt as a one-node ONNX model (bodies decoded from the IR's base64
attributes, outer values as graph inputs) and run by ONNX's own Python ReferenceEvaluator, which shares no
code with jitmnn's body execution."""

import base64

import numpy as np


def _run(op, attrs, x):
    import onnx
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    n = int(attrs["n_inputs"])
    own, outer = list(x[:n]), list(x[n:])
    outer_names = list(attrs.get("outer_inputs", []))
    node_attrs = {}
    for key, value in attrs.items():
        if key in ("n_inputs", "outer_inputs", "opset"):
            continue
        if key in ("then_branch", "else_branch", "body"):
            g = onnx.GraphProto()
            g.ParseFromString(base64.b64decode(value))
            value = g
        node_attrs[key] = value
    names = [f"in{i}" if v is not None else "" for i, v in enumerate(own)]
    feeds = {nm: np.asarray(v) for nm, v in zip(names, own) if nm}
    feeds.update({nm: np.asarray(v) for nm, v in zip(outer_names, outer)})
    inputs = [helper.make_tensor_value_info(nm, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
              for nm, v in feeds.items()]
    body = node_attrs.get("body") or node_attrs.get("then_branch")
    count = len(body.output) - 1 if op == "Loop" else len(body.output)  # a Loop body also returns cond
    outs = [f"out{k}" for k in range(count)]
    node = helper.make_node(op, names, outs, **node_attrs)
    model = helper.make_model(helper.make_graph([node], "one", inputs,
                                                [helper.make_empty_tensor_value_info(o) for o in outs]),
                              opset_imports=[helper.make_opsetid("", int(attrs.get("opset", 13)))])
    return [np.asarray(r) for r in ReferenceEvaluator(model).run(None, feeds)]


REFERENCES = {
    "If": lambda attrs, x: _run("If", attrs, x),
    "Loop": lambda attrs, x: _run("Loop", attrs, x),
    "Scan": lambda attrs, x: _run("Scan", attrs, x),
}
