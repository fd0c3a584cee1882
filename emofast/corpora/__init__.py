"""Corpus loaders: native on-disk layouts (or a user's CSV manifest) to utterance records in one
emotion vocabulary.

Every loader walks a corpus folder, parses each media file name (and, where the corpus encodes it,
the folder path), and yields :class:`Utterance` records. Files whose names do not parse are listed
in :attr:`CorpusIndex.skipped` with the reason; nothing is guessed.

Supported layouts
-----------------
``emodb``      ``<root>/**/SSTTTEV.wav`` (e.g. ``03a01Fa.wav``).
``savee``      ``<root>/**/DC/a01.wav`` or ``<root>/**/DC_a01.wav`` (``.avi``/``.mp4`` clips too).
``enterface``  ``<root>/**/subject N/<emotion>/sentence M/sN_an_M.avi`` (folder path is authoritative;
               the file-name quirks of the distribution are accepted).
``ravdess``    ``<root>/**/Actor_NN/MM-VV-EE-II-SS-RR-AA.wav|.mp4`` (id ``VV-EE-II-SS-RR-AA``: the
               files of one performance in several modalities share it).
``cremad``     ``<root>/**/1001_DFA_ANG_XX.wav|.flv|.mp4`` (gender from ``VideoDemographics.csv``
               when present anywhere under the root).
``demo``       emofast's synthetic corpora, ``<root>/manifest.json`` and
               ``<root>/<speaker>/<speaker>_<emotion>_<n>.wav|.mp4`` (see :mod:`emofast.synthetic`).
``fer2013``    ``<root>/**/<train|validation|test>/<emotion>/<Usage>_<n>.jpg`` face images with
               the official split in :attr:`Utterance.split`; no speakers.
``ckplus``     ``<root>/**/<emotion>/S<subject>_<sequence>_<frame>.png`` (CK+48 face crops;
               the subject is the speaker).
``manifest``   a CSV file ``path,speaker,label[,split]`` listing audio, video or image files of a
               user's own corpus (:mod:`emofast.corpora.manifest`).

Modules
-------
:mod:`~emofast.corpora.records`      :class:`Utterance`, :class:`CorpusIndex`, :data:`EMOTIONS`, label
                                     and split names, :func:`select_labels`, :func:`select_modality`
:mod:`~emofast.corpora.walk`         candidate files, the parser protocol (:class:`Layout`), the index
:mod:`~emofast.corpora.audiovisual`  EMO-DB, SAVEE, eNTERFACE'05, RAVDESS, CREMA-D
:mod:`~emofast.corpora.demo`         the synthetic demo corpora
:mod:`~emofast.corpora.fer2013`      FER2013
:mod:`~emofast.corpora.ckplus`       CK+ (CK+48)
:mod:`~emofast.corpora.manifest`     a user's CSV manifest
:mod:`~emofast.corpora.loading`      :func:`load_corpus`, :func:`detect_corpus`, :data:`CORPORA`
"""
from __future__ import annotations

from emofast.corpora.demo import DEMO_FORMAT, DEMO_MANIFEST
from emofast.corpora.loading import CORPORA, detect_corpus, load_corpus
from emofast.corpora.manifest import load_manifest
from emofast.corpora.records import (AUDIO_EXTENSIONS, EMOTIONS, IMAGE_EXTENSIONS, LABEL_SYNONYMS,
                                     MEDIA_EXTENSIONS, MODALITIES, PAPER_SIX, SPLITS,
                                     UNKNOWN_SPEAKER, CorpusIndex, MissingPathError, Utterance,
                                     canonical_label, canonical_split, select_labels,
                                     select_modality)

__all__ = [
    "EMOTIONS",
    "PAPER_SIX",
    "CORPORA",
    "MEDIA_EXTENSIONS",
    "AUDIO_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "MODALITIES",
    "SPLITS",
    "UNKNOWN_SPEAKER",
    "LABEL_SYNONYMS",
    "DEMO_MANIFEST",
    "DEMO_FORMAT",
    "Utterance",
    "CorpusIndex",
    "load_corpus",
    "load_manifest",
    "detect_corpus",
    "canonical_label",
    "canonical_split",
    "select_labels",
    "select_modality",
    "MissingPathError",
]
