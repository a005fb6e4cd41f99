"""The OCR pipeline (jitmnn/ocr): DB post-processing, connected components and CTC decoding on synthetic
inputs; then the real PP-OCR models reading a rendered page on ONNX Runtime and on jitmnn, and `jitmnn ocr`."""

from __future__ import annotations

import numpy as np
import pytest

from jitmnn.ocr import (DEFAULT_LINES, DBParams, boxes_from_probability, char_accuracy, edit_distance, render_page,
                        text_of)
from jitmnn.ocr.components import label_image
from jitmnn.ocr.geometry import min_area_rect
from jitmnn.ocr.recognise import ctc_greedy_decode
from tests.tolerances import MODEL_VS_ORT

pytest.importorskip("PIL")

# The bar: 1 - edit distance / length over the whole page, for every backend and mode.
CHAR_ACCURACY_BAR = 0.95
# Box corners from the synthetic map: rounding of the unclip offset and of the page scale, 1 px each.
BOX_PX = 2


# ----- components, boxes, decoding on synthetic inputs -------------------------------------------------------

def flood_fill_labels(mask: np.ndarray):
    """Naive 8-connected labelling (breadth-first), the reference for the run-based one."""
    labels = np.zeros(mask.shape, dtype=np.int32)
    n = 0
    for y0, x0 in zip(*np.nonzero(mask)):
        if labels[y0, x0]:
            continue
        n += 1
        labels[y0, x0] = n
        todo = [(y0, x0)]
        while todo:
            y, x = todo.pop()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    v, u = y + dy, x + dx
                    if 0 <= v < mask.shape[0] and 0 <= u < mask.shape[1] and mask[v, u] and not labels[v, u]:
                        labels[v, u] = n
                        todo.append((v, u))
    return labels, n


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Two label images describe the same components (labels may be numbered differently)."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return len(pairs[0]) == len(np.unique(a)) == len(np.unique(b))


@pytest.mark.parametrize("seed,density", [(0, 0.3), (1, 0.5), (2, 0.6), (3, 0.05)])
def test_components_match_flood_fill(seed, density):
    mask = np.random.default_rng(seed).random((37, 53)) < density
    got, n = label_image(mask)
    ref, n_ref = flood_fill_labels(mask)
    assert n == n_ref, f"seed {seed}: {n} components, flood fill finds {n_ref}"
    assert same_partition(got, ref), f"seed {seed}: the components differ from flood fill's"


def test_components_join_diagonals_and_u_shapes():
    # a U joins its two arms only through the bottom row: one component; a diagonal touch is 8-connected
    mask = np.zeros((8, 12), dtype=bool)
    mask[1:6, 1] = mask[1:6, 5] = mask[5, 1:6] = True
    mask[1, 8] = mask[2, 9] = mask[3, 10] = True
    labels, n = label_image(mask)
    assert n == 2
    assert len(np.unique(labels[1:6, [1, 5]])) == 1


def test_min_area_rect_of_a_rotated_rectangle():
    angle = np.deg2rad(20.0)
    u = np.array([np.cos(angle), np.sin(angle)])
    v = np.array([-u[1], u[0]])
    grid = [(a, b) for a in np.linspace(-30, 30, 61) for b in np.linspace(-5, 5, 11)]
    points = np.array([100 + a * u + b * v for a, b in grid])
    rect = min_area_rect(points)
    assert rect.size_u == pytest.approx(60.0, abs=1e-6) and rect.size_v == pytest.approx(10.0, abs=1e-6)
    assert abs(float(rect.u @ u)) == pytest.approx(1.0, abs=1e-9)
    assert np.allclose(rect.center, [100.0, 100.0])


def expected_box(x0, y0, x1, y1, unclip_ratio):
    """DB's box for a filled rectangle of pixel centres x0..x1, y0..y1: grown by area * ratio / perimeter."""
    w, h = x1 - x0, y1 - y0
    d = w * h * unclip_ratio / (2 * (w + h))
    return np.array([[x0 - d, y0 - d], [x1 + d, y0 - d], [x1 + d, y1 + d], [x0 - d, y1 + d]])


def test_db_postprocess_finds_two_rectangles():
    prob = np.full((160, 320), 0.02, dtype=np.float32)
    prob[40:56, 30:200] = 0.9  # a line of text: x 30..199, y 40..55
    prob[100:121, 60:300] = 0.8  # a second, taller one below it
    params = DBParams()
    boxes, scores = boxes_from_probability(prob, prob.shape, params)
    assert boxes.shape == (2, 4, 2)
    np.testing.assert_allclose(boxes[0], expected_box(30, 40, 199, 55, params.unclip_ratio), atol=BOX_PX)
    np.testing.assert_allclose(boxes[1], expected_box(60, 100, 299, 120, params.unclip_ratio), atol=BOX_PX)
    assert scores == pytest.approx([0.9, 0.8], abs=1e-6)


def test_db_postprocess_scales_to_the_page_and_drops_faint_and_tiny_regions():
    prob = np.zeros((64, 128), dtype=np.float32)
    prob[10:20, 10:100] = 0.95
    prob[40:50, 10:100] = 0.5  # above thresh (0.3), below box_thresh (0.7): not text
    prob[55:57, 110:112] = 0.99  # 2x2 px: shorter than min_size
    boxes, _ = boxes_from_probability(prob, (128, 256), DBParams())  # the page is twice the map
    assert len(boxes) == 1
    np.testing.assert_allclose(boxes[0], 2 * expected_box(10, 10, 99, 19, DBParams().unclip_ratio), atol=2 * BOX_PX)


def test_ctc_greedy_decode_collapses_repeats_and_drops_blanks():
    charset = ["blank", "a", "b", " "]
    steps = [1, 1, 0, 1, 2, 2, 0, 3, 0, 0]  # a a _ a b b _ ' ' _ _  -> "aab "
    probs = np.full((1, len(steps), len(charset)), 0.05, dtype=np.float32)
    probs[0, np.arange(len(steps)), steps] = 0.85
    ((text, conf),) = ctc_greedy_decode(probs, charset)
    assert text == "aab " and conf == pytest.approx(0.85)
    with pytest.raises(ValueError, match="expected"):
        ctc_greedy_decode(probs[:, :, :3], charset)


def test_char_accuracy():
    assert edit_distance("kitten", "sitting") == 3
    assert char_accuracy("hello world", "hello world") == 1.0
    assert char_accuracy("helloworld", "hello world") == pytest.approx(1 - 1 / 11)


def test_render_page_is_detector_sized_and_refuses_long_lines():
    page = render_page(["Hello 123"])
    assert page.dtype == np.uint8 and page.shape[1] == 640 and page.shape[0] % 32 == 0
    assert (page < 128).any() and page.mean() > 200  # black text on a white page
    with pytest.raises(ValueError, match="wide"):
        render_page(["x" * 200])


def test_missing_pillow_names_the_extra(monkeypatch):
    import sys

    from jitmnn.ocr._pil import MissingExtraError

    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(MissingExtraError, match=r"jitmnn\[ocr\]"):
        render_page(["Hello"])


# ----- the real models on a rendered page ---------------------------------------------------------------------

JITMNN_MODES = [{"precision": "normal", "memory": "normal"}, {"precision": "low", "memory": "low"}]


@pytest.fixture(scope="module")
def page():
    return render_page()


def open_ocr(runtime, settings=None):
    from jitmnn.models import ppocr
    from jitmnn.ocr import OCR

    try:
        return OCR(runtime, session_settings=settings)
    except ppocr.PPOCRModelNotFound as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def ort_result(page):
    return open_ocr(pytest.importorskip("onnxruntime"))(page)


@pytest.fixture(scope="module", params=JITMNN_MODES, ids=lambda s: "{precision}-{memory}".format(**s))
def jitmnn_result(request, page, conversion_cache):
    import jitmnn

    return request.param, open_ocr(jitmnn, request.param)(page)


@pytest.mark.slow
def test_onnxruntime_reads_the_page(ort_result):
    acc = char_accuracy(ort_result.text, text_of(DEFAULT_LINES))
    assert acc >= CHAR_ACCURACY_BAR, f"ONNX Runtime read {ort_result.text!r}: accuracy {acc:.3f}"


@pytest.mark.slow
def test_jitmnn_reads_the_page_as_onnxruntime_does(jitmnn_result, ort_result):
    settings, result = jitmnn_result
    acc = char_accuracy(result.text, text_of(DEFAULT_LINES))
    assert acc >= CHAR_ACCURACY_BAR, f"jitmnn {settings} read {result.text!r}: accuracy {acc:.3f}"
    assert len(result.lines) == len(ort_result.lines), f"jitmnn {settings}: {result.text!r} vs {ort_result.text!r}"
    if settings["precision"] == "normal":
        err = float(np.max(np.abs(result.prob_map - ort_result.prob_map)))
        assert err <= MODEL_VS_ORT, f"det probability map differs from ONNX Runtime's by {err:.3g}"
        assert result.text == ort_result.text


@pytest.mark.slow
def test_upside_down_lines_are_turned_and_read(page):
    """The page rotated 180 degrees: the classifier turns (most) lines back, and those read as rendered."""
    result = open_ocr(pytest.importorskip("onnxruntime"))(np.ascontiguousarray(page[::-1, ::-1]))
    turned = [t for t in result.lines if t.turned]
    assert len(turned) * 2 > len(DEFAULT_LINES), result.format()
    for t in turned:
        best = max(char_accuracy(t.text, line) for line in DEFAULT_LINES)
        assert best >= CHAR_ACCURACY_BAR, f"turned line read as {t.text!r}"


@pytest.mark.slow
def test_cli_reads_a_png(tmp_path, conversion_cache, capsys):
    pytest.importorskip("onnxruntime")
    from jitmnn import cli
    from jitmnn.ocr.render import save_page

    lines = ["Hello world 2025", "Numba kernels at work"]
    png = str(tmp_path / "page.png")
    save_page(render_page(lines), png)
    assert cli.main(["ocr", png, "--backend", "both", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    for line in lines:
        assert out.count(line) == 2, out  # once per backend
    assert "== jitmnn precision=normal memory=normal: 2 lines" in out and "== onnxruntime: 2 lines" in out
    assert "det " in out and "rec " in out and "total " in out
