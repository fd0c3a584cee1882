"""The one adapter from stored features to arrays (work in progress: class numbering)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emofast.errors import InputError

__all__ = ["encode_labels"]


def encode_labels(names: Sequence[str], classes: Sequence[str] | None = None
                  ) -> tuple[np.ndarray, list[str]]:
    """Class index of every label name, with classes numbered contiguously.

    Parameters
    ----------
    names : sequence of str
        One emotion name per item (utterance or segment).
    classes : sequence of str, optional
        Class names in index order. Default: the names present, sorted, so indices are
        ``0 .. n_present - 1`` whatever vocabulary the corpus uses.

    Returns
    -------
    codes : numpy.ndarray of int64, shape (len(names),)
    classes : list of str
        The class names, ``classes[codes[i]] == names[i]``.

    Raises
    ------
    InputError
        A name is not among ``classes``.

    Examples
    --------
    >>> codes, classes = encode_labels(["sadness", "anger", "sadness"])
    >>> codes.tolist(), classes
    ([1, 0, 1], ['anger', 'sadness'])
    """
    names = [str(n) for n in names]
    classes = sorted(set(names)) if classes is None else [str(c) for c in classes]
    lookup = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(names) - set(lookup))
    if unknown:
        raise InputError(f"label(s) {unknown} are not among the classes {classes}")
    return np.fromiter((lookup[n] for n in names), dtype=np.int64, count=len(names)), classes
