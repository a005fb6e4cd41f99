"""What ONNX Runtime reports about a model before it runs: each input's and output's declared shape (symbolic
dims by name) and type in ORT's spelling, and the model's metadata (producer, metadata_props, ...).

The converter keeps this in the graph metadata under "onnx" (it is saved in the .jmnn header), because the
optimised graph no longer knows it: dims named "batch" become None, outputs lose their declared shapes, and
metadata_props (PP-OCR rec models keep their character dictionary there) have no place in the IR.
jitmnn.InferenceSession reads it back for get_inputs(), get_outputs() and get_modelmeta()."""

from __future__ import annotations


def onnx_signature(model) -> dict:
    """{"inputs": [...], "outputs": [...], "model": {...}} for a ModelProto; each input/output is
    {"name", "shape", "type"} with shape entries int (fixed), str (dim_param) or None (unknown), as
    onnxruntime's NodeArg has them. Initializers listed as inputs (old exporters) are left out, as ORT does."""
    g = model.graph
    initializers = {i.name for i in g.initializer}
    outputs = [_value_info(vi) for vi in g.output]
    if any(o["shape"] is None for o in outputs):  # no declared shape: ORT reports the inferred one
        inferred = _inferred_outputs(model)
        outputs = [inferred.get(o["name"], o) if o["shape"] is None else o for o in outputs]
    return {
        "inputs": [_value_info(vi) for vi in g.input if vi.name not in initializers],
        "outputs": [{**o, "shape": o["shape"] or []} for o in outputs],
        "model": {
            "producer_name": model.producer_name,
            "producer_version": model.producer_version,
            "graph_name": g.name,
            "domain": model.domain,
            "description": model.doc_string,
            "graph_description": g.doc_string,
            # None when the model sets no version (ORT then reports INT64_MAX)
            "version": int(model.model_version) if model.HasField("model_version") else None,
            "custom_metadata_map": {p.key: p.value for p in model.metadata_props},
        },
    }


def type_string(type_proto) -> str:
    """ORT's spelling of an ONNX type: tensor(float), tensor(int64), seq(tensor(float)), map(int64,tensor(float))."""
    import onnx

    kind = type_proto.WhichOneof("value")
    if kind == "tensor_type":
        return f"tensor({onnx.TensorProto.DataType.Name(type_proto.tensor_type.elem_type).lower()})"
    if kind == "sequence_type":
        return f"seq({type_string(type_proto.sequence_type.elem_type)})"
    if kind == "optional_type":
        return f"optional({type_string(type_proto.optional_type.elem_type)})"
    if kind == "map_type":
        key = onnx.TensorProto.DataType.Name(type_proto.map_type.key_type).lower()
        return f"map({key},{type_string(type_proto.map_type.value_type)})"
    return "unknown"


def _value_info(vi) -> dict:
    """shape None means the declaration has no shape at all (as opposed to [] for a scalar)."""
    t = vi.type
    shape = None
    if t.WhichOneof("value") == "tensor_type" and t.tensor_type.HasField("shape"):
        shape = [_dim(d) for d in t.tensor_type.shape.dim]
    return {"name": vi.name, "shape": shape, "type": type_string(t)}


def _dim(d):
    if d.HasField("dim_value"):
        return int(d.dim_value) if d.dim_value >= 0 else None  # -1 (some exporters' "dynamic"): unknown
    if d.HasField("dim_param"):
        return d.dim_param
    return None


def _inferred_outputs(model) -> dict:
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # advisory: a model shape inference cannot handle keeps shape []
        return {}
    return {vi.name: _value_info(vi) for vi in inferred.graph.output if _value_info(vi)["shape"] is not None}
