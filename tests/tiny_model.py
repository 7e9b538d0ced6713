"""A tiny random Argos model package, built in well under a second, for the local engine.

It is a real CTranslate2 Transformer (2 layers, d_model 32, int8) with a real
SentencePiece model trained on generated sentences, zipped as a real `.argosmodel`.
It answers every sentence with the same two words, so tests check structure, never
wording. Nothing is downloaded.
"""

from __future__ import annotations

import io
import json
import random
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm
from ctranslate2.converters import Converter
from ctranslate2.specs import transformer_spec

PREFIX_TOKEN = "__de__"

_WORD_TEXT = """
the a new old big small model data news video channel market price team report week
we they you it is are was has have will can read write build open close release update
today yesterday company people country government research paper language robot chip
der die das und ist ein eine nicht mit von zu auf für sie wir neue alte große kleine
Markt Preis Nachricht heute gestern Firma Menschen Land Regierung Forschung Sprache
OpenAI DeepSeek Google Europe Berlin London AI GPU 2025 3 12 100
"""
_WORDS = _WORD_TEXT.split()


def _corpus(seed: int, count: int = 400) -> list[str]:
    rnd = random.Random(seed)
    lines = []
    for _ in range(count):
        words = [rnd.choice(_WORDS) for _ in range(rnd.randint(3, 14))]
        text = " ".join(words)
        if rnd.random() < 0.3:
            text += ","
            text += " " + " ".join(rnd.choice(_WORDS) for _ in range(rnd.randint(2, 5)))
        lines.append(text[0].upper() + text[1:] + rnd.choice(".!?"))
    return lines


def train_sentencepiece(seed: int = 0, vocab_size: int = 240) -> bytes:
    """A SentencePiece model trained in memory; `__de__` is a piece for target-prefix tests."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_corpus(seed)),
        model_writer=model,
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        user_defined_symbols=[PREFIX_TOKEN],
        normalization_rule_name="identity",
        character_coverage=1.0,
        minloglevel=2,
        num_threads=1,
    )
    return model.getvalue()


class _SpecConverter(Converter):  # type: ignore[misc]
    """Saves a spec filled in memory, through CTranslate2's own validation and writer."""

    def __init__(self, spec: transformer_spec.TransformerSpec):
        self._spec = spec

    def _load(self) -> transformer_spec.TransformerSpec:
        return self._spec


def build_ct2_model(
    output_dir: Path,
    vocabulary: list[str],
    *,
    seed: int = 0,
    d_model: int = 32,
    ffn: int = 64,
    layers: int = 2,
    heads: int = 2,
) -> Path:
    """A Transformer whose encoder is random and whose decoder always writes two words.

    The decoder's layers add nothing (zero weights), so each step sees only the token
    before it: the start token (or the target prefix) leads to a first word piece, that
    one to a second, that one to `</s>`. Every sentence thus comes out as the same two
    words, picked by `seed`: a short answer with letters, as from a real model, and
    never the source unchanged.
    """
    rng = np.random.default_rng(seed)
    size = len(vocabulary)
    words = [i for i, piece in enumerate(vocabulary) if re.fullmatch("▁[A-Za-z]{3,}", piece)]
    first, second = (int(i) for i in rng.choice(words, size=2, replace=False))
    starts = [vocabulary.index(token) for token in ("<s>", PREFIX_TOKEN) if token in vocabulary]

    def weight(*shape: int, scale: float = 0.3) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def zeros(*shape: int) -> np.ndarray:
        return np.zeros(shape, np.float32)

    def norm(spec: object) -> None:
        spec.gamma = np.ones(d_model, np.float32)  # type: ignore[attr-defined]
        spec.beta = np.zeros(d_model, np.float32)  # type: ignore[attr-defined]

    def linear(spec: object, out: int, inp: int, *, silent: bool = False) -> None:
        spec.weight = zeros(out, inp) if silent else weight(out, inp)  # type: ignore[attr-defined]
        spec.bias = zeros(out) if silent else weight(out, scale=0.05)  # type: ignore[attr-defined]

    def ffn_block(spec: object, *, silent: bool = False) -> None:
        norm(spec.layer_norm)  # type: ignore[attr-defined]
        linear(spec.linear_0, ffn, d_model)  # type: ignore[attr-defined]
        linear(spec.linear_1, d_model, ffn, silent=silent)  # type: ignore[attr-defined]

    spec = transformer_spec.TransformerSpec.from_config((layers, layers), heads)
    encoder, decoder = spec.encoder, spec.decoder
    encoder.embeddings[0].weight = weight(size, d_model, scale=1.0)
    norm(encoder.layer_norm)
    for layer in encoder.layer:
        norm(layer.self_attention.layer_norm)
        linear(layer.self_attention.linear[0], 3 * d_model, d_model)  # fused q, k, v
        linear(layer.self_attention.linear[1], d_model, d_model)
        ffn_block(layer.ffn)
    # Decoder: token embeddings along three axes, layers that leave them as they are.
    embeddings = weight(size, d_model, scale=0.01)
    for axis, tokens in enumerate((starts, [first], [second])):
        for token in tokens:
            embeddings[token, axis] = 20.0
    decoder.embeddings.weight = embeddings
    norm(decoder.layer_norm)
    for layer in decoder.layer:
        norm(layer.self_attention.layer_norm)
        linear(layer.self_attention.linear[0], 3 * d_model, d_model)
        linear(layer.self_attention.linear[1], d_model, d_model, silent=True)
        norm(layer.attention.layer_norm)
        linear(layer.attention.linear[0], d_model, d_model)  # query
        linear(layer.attention.linear[1], 2 * d_model, d_model)  # fused k, v from the encoder
        linear(layer.attention.linear[2], d_model, d_model, silent=True)
        ffn_block(layer.ffn, silent=True)
    projection = zeros(size, d_model)
    for axis, token in enumerate((first, second, vocabulary.index("</s>"))):
        projection[token, axis] = 5.0  # the token after the one along `axis`
    decoder.projection.weight = projection
    decoder.projection.bias = zeros(size)
    spec.register_source_vocabulary(vocabulary)
    spec.register_target_vocabulary(vocabulary)
    _SpecConverter(spec).convert(str(output_dir), quantization="int8", force=True)
    return output_dir


def build_argosmodel(
    dest: Path,
    *,
    from_code: str = "en",
    to_code: str = "de",
    version: str = "1.0",
    target_prefix: str = "",
    seed: int = 0,
    top: str | None = None,
) -> Path:
    """Write a real `.argosmodel` zip to `dest` and return it."""
    work = dest.parent / f".build-{dest.stem}"
    work.mkdir(parents=True, exist_ok=True)
    sp_model = train_sentencepiece(seed)
    processor = spm.SentencePieceProcessor(model_proto=sp_model)
    vocabulary = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    model_dir = build_ct2_model(work / "model", vocabulary, seed=seed)
    metadata = {
        "package_version": version,
        "argos_version": "1.9.0",
        "from_code": from_code,
        "from_name": from_code.upper(),
        "to_code": to_code,
        "to_name": to_code.upper(),
        "target_prefix": target_prefix,
    }
    folder = top or f"translate-{from_code}_{to_code}-{version.replace('.', '_')}"
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{folder}/", b"")
        archive.writestr(f"{folder}/metadata.json", json.dumps(metadata, indent=2))
        archive.writestr(f"{folder}/sentencepiece.model", sp_model)
        archive.writestr(f"{folder}/README.md", "Tiny random test model.\n")
        for file in sorted(model_dir.iterdir()):
            archive.write(file, f"{folder}/model/{file.name}")
    return dest


@dataclass(frozen=True)
class TinyModels:
    """Prebuilt packages: en→de, en→de with a target prefix, and fr→en for pivoting."""

    en_de: Path
    en_de_prefixed: Path
    fr_en: Path
    en_fr: Path


_cache: dict[Path, TinyModels] = {}


def tiny_models(base: Path) -> TinyModels:
    """Build the set once per `base` folder (one per test session)."""
    if base not in _cache:
        _cache[base] = TinyModels(
            en_de=build_argosmodel(base / "en_de.argosmodel", seed=1),
            en_de_prefixed=build_argosmodel(
                base / "en_de_prefix.argosmodel", version="1.1", target_prefix=PREFIX_TOKEN, seed=2
            ),
            fr_en=build_argosmodel(base / "fr_en.argosmodel", from_code="fr", to_code="en", seed=3),
            en_fr=build_argosmodel(base / "en_fr.argosmodel", from_code="en", to_code="fr", seed=4),
        )
    return _cache[base]


def session_models(factory: pytest.TempPathFactory) -> TinyModels:
    """The set for this test session, shared by every module that asks."""
    return tiny_models(factory.getbasetemp() / "tiny-argos")
