"""jitmnn.InferenceSession against onnxruntime.InferenceSession: same outputs, same (name, shape, type) of
inputs and outputs, same model metadata, and a pipeline written against ORT's API that runs unchanged with
jitmnn in ORT's place. Plus the convert-once cache and pickling of modules and sessions by (path, settings)."""

import io
import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import onnxruntime
import pytest
from onnx import TensorProto, helper

import jitmnn
from jitmnn.errors import InputError, ModelFormatError, NotPicklableError
from models.ppocr import ppocr_model_path, text_like_page
from tests.tolerances import MODEL_VS_ORT, rel_err

CPU = ["CPUExecutionProvider"]


def small_onnx(scale: float = 2.0) -> bytes:
    """y = relu(x @ W * scale + b) with a symbolic batch dim, an int64 second output (Shape) and the
    metadata fields ORT reports (metadata_props, model_version, doc strings)."""
    w = (np.arange(12, dtype=np.float32).reshape(3, 4) - 5.0) * scale
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["pre"]),
        helper.make_node("Relu", ["pre"], ["scores"]),
        helper.make_node("Shape", ["x"], ["x_shape"]),
    ]
    graph = helper.make_graph(
        nodes, "small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("x_shape", TensorProto.INT64, [2])],
        [helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.ravel()),
         helper.make_tensor("b", TensorProto.FLOAT, [4], [0.5, -0.5, 1.0, -1.0])],
        doc_string="a graph for tests")
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="tests",
                              domain="jitmnn.tests", model_version=3, doc_string="small test model")
    model.ir_version = 8  # what the installed onnxruntime reads
    helper.set_model_props(model, {"character": "a\nb\nc", "author": "tests"})
    return model.SerializeToString()


def write(path, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def signature(sess) -> tuple:
    return ([(a.name, a.shape, a.type) for a in sess.get_inputs()],
            [(a.name, a.shape, a.type) for a in sess.get_outputs()])


def metadata(sess) -> tuple:
    m = sess.get_modelmeta()
    return (m.producer_name, m.graph_name, m.domain, m.description, m.graph_description, m.version,
            dict(m.custom_metadata_map))


@pytest.fixture
def small_path(tmp_path, monkeypatch):
    monkeypatch.setenv("JITMNN_CACHE_DIR", str(tmp_path / "cache"))
    return write(tmp_path / "small.onnx", small_onnx())


# ----- the small model: outputs, signature, metadata ---------------------------------------------------------

def test_small_model_equals_onnxruntime(small_path):
    sess = jitmnn.InferenceSession(small_path, providers=CPU)
    ref = onnxruntime.InferenceSession(small_path, providers=CPU)
    assert signature(sess) == signature(ref)
    assert signature(sess)[0] == [("x", ["batch", 3], "tensor(float)")]  # the dim name, not None
    assert metadata(sess) == metadata(ref)
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    got, want = sess.run(None, {"x": x}), ref.run(None, {"x": x})
    assert [g.dtype for g in got] == [w.dtype for w in want] == [np.float32, np.int64]
    assert rel_err(got[0], want[0]) <= MODEL_VS_ORT
    np.testing.assert_array_equal(got[1], want[1])


def test_run_returns_outputs_in_the_order_asked(small_path):
    sess = jitmnn.InferenceSession(small_path)
    x = np.ones((2, 3), np.float32)
    shape, scores = sess.run(["x_shape", "scores"], {"x": x})
    np.testing.assert_array_equal(shape, [2, 3])
    assert scores.shape == (2, 4)
    assert [a.shape for a in sess.run([], {"x": x})] == [(2, 4), (2,)]  # [] means all, as in ORT


def test_unknown_output_name_is_an_input_error_naming_the_outputs(small_path):
    sess = jitmnn.InferenceSession(small_path)
    with pytest.raises(InputError, match=r"'nope'.*\['scores', 'x_shape'\]"):
        sess.run(["nope"], {"x": np.ones((1, 3), np.float32)})


def test_wrong_dtype_and_unknown_input_are_refused(small_path):
    # ORT refuses a float64 array for a float input too (INVALID_ARGUMENT)
    sess = jitmnn.InferenceSession(small_path)
    with pytest.raises(InputError, match="float32"):
        sess.run(None, {"x": np.ones((1, 3), np.float64)})
    with pytest.raises(InputError, match="'y'"):
        sess.run(None, {"x": np.ones((1, 3), np.float32), "y": np.ones(1, np.float32)})


def test_values_that_are_not_arrays_take_the_input_dtype(small_path):
    sess = jitmnn.InferenceSession(small_path)
    x = [[1.0, 2.0, 3.0]]
    np.testing.assert_array_equal(sess.run(["scores"], {"x": x})[0],
                                  sess.run(["scores"], {"x": np.asarray(x, np.float32)})[0])


# ----- settings and providers -----------------------------------------------------------------------------------

def test_session_options_and_keyword_settings(small_path):
    opts = jitmnn.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = jitmnn.GraphOptimizationLevel.ORT_ENABLE_ALL  # ORT's, ignored
    opts.enable_cpu_mem_arena = False
    opts.memory = "high"
    sess = jitmnn.InferenceSession(small_path, sess_options=opts, memory="low", precision="low")
    config = sess.module.config
    assert (config.num_threads, config.memory, config.precision) == (1, "low", "low")  # keywords win
    shown = sess.get_session_options()
    assert (shown.intra_op_num_threads, shown.memory, shown.enable_cpu_mem_arena) == (1, "low", False)


def test_session_options_follow_ort_thread_conventions(small_path):
    opts = jitmnn.SessionOptions()
    opts.intra_op_num_threads = 0  # ORT: "the runtime's default"
    assert jitmnn.InferenceSession(small_path, sess_options=opts).module.config.num_threads == 1
    opts.intra_op_num_threads = 10_000  # ORT takes more threads than cores; jitmnn caps at the core count
    assert jitmnn.InferenceSession(small_path, sess_options=opts).module.config.num_threads == os.cpu_count()


def test_onnxruntime_session_options_are_read_too(small_path):
    opts = onnxruntime.SessionOptions()  # a pipeline that changed only its InferenceSession import
    opts.intra_op_num_threads = 1
    sess = jitmnn.InferenceSession(small_path, sess_options=opts)
    assert sess.module.config.num_threads == 1
    assert isinstance(sess.get_session_options(), jitmnn.SessionOptions)


def test_misspelt_option_and_unknown_setting_fail_loudly(small_path):
    opts = jitmnn.SessionOptions()
    with pytest.raises(AttributeError):
        opts.intra_op_num_thread = 2
    with pytest.raises(TypeError, match="num_thread"):
        jitmnn.InferenceSession(small_path, num_thread=2)


def test_gpu_provider_warns_and_runs_on_cpu_as_ort_does(small_path):
    with pytest.warns(UserWarning, match="CUDAExecutionProvider"):
        sess = jitmnn.InferenceSession(small_path, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert sess.get_providers() == CPU
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the CPU provider with options (rapidocr's form) warns about nothing
        sess = jitmnn.InferenceSession(small_path, providers=[("CPUExecutionProvider", {"arena_extend_strategy": "x"})])
    assert sess.get_provider_options() == {"CPUExecutionProvider": {}}
    assert jitmnn.get_available_providers() == CPU and jitmnn.get_device() == "CPU"


# ----- the convert-once cache -----------------------------------------------------------------------------------

def test_cache_converts_once_and_again_when_the_content_changes(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("JITMNN_CACHE_DIR", str(tmp_path / "cache"))
    path = write(tmp_path / "model.onnx", small_onnx(scale=2.0))
    first = jitmnn.InferenceSession(path)
    assert "jitmnn: converting model.onnx" in capfd.readouterr().err
    assert os.path.dirname(first.model_path) == str(tmp_path / "cache")
    mtime = os.stat(first.model_path).st_mtime_ns

    again = jitmnn.InferenceSession(path)
    copy = jitmnn.InferenceSession(write(tmp_path / "renamed.onnx", small_onnx(scale=2.0)))  # keyed by content
    assert "converting" not in capfd.readouterr().err
    assert again.model_path == copy.model_path == first.model_path
    assert os.stat(first.model_path).st_mtime_ns == mtime

    write(path, small_onnx(scale=3.0))  # same file, new content
    changed = jitmnn.InferenceSession(path)
    assert "converting" in capfd.readouterr().err
    assert changed.model_path != first.model_path
    x = np.ones((1, 3), np.float32)
    assert not np.array_equal(changed.run(["scores"], {"x": x})[0], first.run(["scores"], {"x": x})[0])
    assert sorted(os.listdir(tmp_path / "cache")) == sorted(  # no temporary files left behind
        os.path.basename(p) for p in (first.model_path, changed.model_path))


def test_onnx_bytes_share_the_cache_entry_of_the_file(small_path):
    by_path = jitmnn.InferenceSession(small_path)
    with open(small_path, "rb") as f:
        by_bytes = jitmnn.InferenceSession(f.read())
    assert by_bytes.model_path == by_path.model_path
    assert signature(by_bytes) == signature(by_path)


def test_a_jmnn_file_opens_directly(small_path, tmp_path):
    jmnn = str(tmp_path / "small.jmnn")
    jitmnn.convert(small_path, jmnn)
    sess = jitmnn.InferenceSession(jmnn)
    assert sess.model_path == jmnn
    assert signature(sess) == signature(onnxruntime.InferenceSession(small_path, providers=CPU))


def test_older_jmnn_without_the_onnx_signature_reports_what_it_can(small_path, tmp_path):
    from jitmnn import format as jformat

    jmnn = str(tmp_path / "small.jmnn")
    jitmnn.convert(small_path, jmnn)
    graph = jformat.load(jmnn)
    del graph.metadata["onnx"]  # as the converter wrote files before it kept the declarations
    old = str(tmp_path / "old.jmnn")
    jformat.save(graph, old)
    sess = jitmnn.InferenceSession(old)
    # dim names are gone: unknown dims are None; output shapes are inferred for two batch sizes
    assert signature(sess) == ([("x", [None, 3], "tensor(float)")],
                               [("scores", [None, 4], "tensor(float)"), ("x_shape", [2], "tensor(int64)")])
    assert sess.get_modelmeta().graph_name == "small"


def test_load_of_an_onnx_file_says_how_to_open_it(small_path, tmp_path):
    with pytest.raises(ModelFormatError, match=r"ONNX model.*jitmnn\.convert.*jitmnn\.InferenceSession"):
        jitmnn.load(small_path)
    renamed = write(tmp_path / "model.bin", small_onnx())  # recognised by content, not only by extension
    with pytest.raises(ModelFormatError, match="is an ONNX model"):
        jitmnn.load(renamed)
    garbage = write(tmp_path / "garbage.bin", b"\x08" + bytes(range(64)))
    with pytest.raises(ModelFormatError, match="bad magic"):
        jitmnn.load(garbage)


# ----- pickling -------------------------------------------------------------------------------------------------

def test_module_pickles_by_path_and_settings(small_path, tmp_path):
    jmnn = str(tmp_path / "small.jmnn")
    jitmnn.convert(small_path, jmnn)
    m = jitmnn.load(jmnn, memory="low", precision="high", num_threads=1)
    x = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    want = m.run({"x": x})
    data = pickle.dumps(m)
    assert len(data) < 1000  # a path and settings, not weights
    back = pickle.loads(data)
    assert back.config == m.config and back.path == os.path.abspath(jmnn)
    for name, value in back.run({"x": x}).items():
        np.testing.assert_array_equal(value, want[name])


def test_unpickling_in_another_process_reopens_the_file(small_path, tmp_path):
    opts = onnxruntime.SessionOptions()
    sess = jitmnn.InferenceSession(small_path, sess_options=opts, memory="low")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    code = ("import pickle, sys, numpy as np; sess, module = pickle.loads(sys.stdin.buffer.read()); "
            "x = np.arange(6, dtype=np.float32).reshape(2, 3); "
            "np.save(sys.stdout.buffer, sess.run(['scores'], {'x': x})[0] - module.run({'x': x})['scores']); "
            "np.save(sys.stdout.buffer, module.run({'x': x})['scores']); np.save(sys.stdout.buffer, module.config.memory)")
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps((sess, sess.module)),
                         capture_output=True, check=True, cwd=tmp_path)
    buf = io.BytesIO(out.stdout)
    assert not np.load(buf).any()  # the session and the module unpickled there agree
    np.testing.assert_array_equal(np.load(buf), sess.run(["scores"], {"x": x})[0])
    assert np.load(buf) == "low"  # settings travel with the path


def test_module_from_a_graph_refuses_to_pickle(small_path, tmp_path):
    from jitmnn import format as jformat

    jmnn = str(tmp_path / "small.jmnn")
    jitmnn.convert(small_path, jmnn)
    m = jitmnn.from_graph(jformat.load(jmnn))
    with pytest.raises(NotPicklableError, match="from_graph"):
        pickle.dumps(m)


def test_session_pickles_and_reconverts_where_the_cache_entry_is_missing(small_path, tmp_path, monkeypatch):
    sess = jitmnn.InferenceSession(small_path, memory="low")
    x = np.random.default_rng(2).standard_normal((3, 3)).astype(np.float32)
    want = sess.run(None, {"x": x})
    back = pickle.loads(pickle.dumps(sess))
    assert back.model_path == sess.model_path and back.module.config == sess.module.config
    assert signature(back) == signature(sess)
    for g, w in zip(back.run(None, {"x": x}), want):
        np.testing.assert_array_equal(g, w)

    # another machine: same source path, an empty cache of its own
    data = pickle.dumps(sess)
    monkeypatch.setenv("JITMNN_CACHE_DIR", str(tmp_path / "other-cache"))
    os.remove(sess.model_path)
    elsewhere = pickle.loads(data)
    assert os.path.dirname(elsewhere.model_path) == str(tmp_path / "other-cache")
    np.testing.assert_array_equal(elsewhere.run(["scores"], {"x": x})[0], want[0])


def test_import_stays_cheap():
    code = ("import sys, jitmnn; from jitmnn import InferenceSession, SessionOptions, get_available_providers; "
            "print('numba' in sys.modules, 'onnx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ----- PP-OCR, and a pipeline written against onnxruntime -------------------------------------------------------

@pytest.mark.parametrize("name, shape", [("det", (1, 3, 96, 160)), ("rec", (1, 3, 48, 160))])
def test_ppocr_equals_onnxruntime(conversion_cache, name, shape):
    path = ppocr_model_path(name)
    sess = jitmnn.InferenceSession(path, providers=CPU)
    ref = onnxruntime.InferenceSession(path, providers=CPU)
    assert signature(sess) == signature(ref)
    assert metadata(sess) == metadata(ref)  # rec: the character dictionary in custom_metadata_map
    x = text_like_page(shape[2], shape[3], seed=3)
    (got,), (want,) = sess.run(None, {"x": x}), ref.run(None, {"x": x})
    assert got.shape == want.shape
    assert rel_err(got, want) <= MODEL_VS_ORT


def recognise(rt, model_path, image_hwc):
    """PP-OCR text recognition written against onnxruntime's API the way rapidocr writes it; `rt` is the
    module providing InferenceSession and friends (onnxruntime, or jitmnn)."""
    opts = rt.SessionOptions()
    opts.log_severity_level = 4
    opts.enable_cpu_mem_arena = False
    opts.graph_optimization_level = rt.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = 1
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in rt.get_available_providers()]
    sess = rt.InferenceSession(model_path, sess_options=opts, providers=providers)
    inp = sess.get_inputs()[0]
    assert inp.type == "tensor(float)" and inp.shape[1] == image_hwc.shape[2]
    height = inp.shape[2] if isinstance(inp.shape[2], int) else 48  # rec's height is symbolic ("?")
    rows = np.arange(height) * image_hwc.shape[0] // height  # nearest-neighbour resize to the model's height
    width = image_hwc.shape[1] * height // image_hwc.shape[0]
    cols = np.arange(width) * image_hwc.shape[1] // width
    img = image_hwc[rows][:, cols].astype(np.float32)
    x = ((img / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None].astype(np.float32)
    (probs,) = sess.run([o.name for o in sess.get_outputs()], {inp.name: x})
    characters = ["blank", *sess.get_modelmeta().custom_metadata_map["character"].splitlines(), " "]
    assert len(characters) == probs.shape[-1]
    best = probs[0].argmax(axis=1)
    keep = (best != 0) & np.r_[True, best[1:] != best[:-1]]  # CTC: drop blanks and repeats
    return probs, "".join(characters[i] for i in best[keep])


def test_ort_pipeline_runs_unchanged_on_jitmnn(conversion_cache):
    image = text_like_page(64, 240, seed=5, normalisation=None)
    path = ppocr_model_path("rec")
    want_probs, want_text = recognise(onnxruntime, path, image)
    got_probs, got_text = recognise(jitmnn, path, image)
    assert rel_err(got_probs, want_probs) <= MODEL_VS_ORT
    assert got_text == want_text and want_text  # the decoded (synthetic) text is not empty
