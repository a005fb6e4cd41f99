"""Which of ONNX's backend test cases jitmnn does not run, each pattern with its reason. Used by
tests/test_onnx_backend.py (the cases excluded there are skipped with this reason) and by
benchmarks/onnx_conformance.py (which counts them). Patterns are regular expressions searched in the test name.

OUT_OF_SCOPE: what jitmnn does not set out to run: non-tensor types, training, the ML domain.
NOT_SUPPORTED: tensor ops and variants jitmnn refuses today, each with a typed error naming the op (and
attribute) at convert or plan time; the list is the honest backlog, and it should only shrink."""

OUT_OF_SCOPE = [
    (r"^test_(string_|regex_|strnormalizer|equal_string)", "string tensors: jitmnn holds numeric and bool tensors only"),
    (r"^test_cast(like)?_.*STRING", "string tensors: jitmnn holds numeric and bool tensors only"),
    (r"^test_(sequence_|split_to_sequence|identity_sequence|concat_from_sequence|if_seq|loop13_seq|loop16_seq_none)",
     "sequence types: jitmnn runs tensor graphs"),
    (r"^test_(optional_|identity_opt|if_opt)", "optional types: jitmnn runs tensor graphs"),
    (r"^test_(adagrad|adam|momentum|nesterov_momentum|gradient_of_)", "training-only ops (ai.onnx.preview.training)"),
    (r"^test_training_dropout", "training mode: Dropout with training_mode=True draws a random mask"),
    (r"^test_ai_onnx_ml_", "ai.onnx.ml domain (classic ML operators)"),
]

NOT_SUPPORTED: list = [
]

EXCLUDED = OUT_OF_SCOPE + NOT_SUPPORTED
