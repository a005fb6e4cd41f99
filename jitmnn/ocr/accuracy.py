"""How close recognised text is to the text that was rendered: character accuracy = 1 - edit distance /
reference length (the usual CER complement; it can go below 0 when the output is mostly garbage)."""

from __future__ import annotations


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions of one character each)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def char_accuracy(recognised: str, reference: str) -> float:
    """1 - edit_distance / len(reference), over whole texts (lines joined by newlines)."""
    if not reference:
        return 1.0 if not recognised else 0.0
    return 1.0 - edit_distance(recognised, reference) / len(reference)
