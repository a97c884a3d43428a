"""A Unigram tokenizer built per text from the pieces that text can use: e5-small's tokenizer without its 1 s load.

Loading e5-small's tokenizer.json (XLM-R's SentencePiece unigram, 250,002 pieces, 17 MB) took
about 0.8 s of a fresh `policyqa ask`'s 2 s, to tokenize one question of twenty pieces. A
unigram tokenizer's Viterbi can only use pieces that occur in the (normalized) text, so a piece
holding a character the text lacks never takes part: a tokenizer holding just the pieces made
of the text's characters gives the same pieces, hence (renumbered) the same ids. What else the
model reads from its whole vocabulary is kept: the first ids (the special tokens the
post-processor inserts by id, and the unknown piece) and the lowest-scored piece (an unknown
character is scored from it; forced on every path alike, so it cannot change the ids, but the
slice then computes every score the original does). Everything around the model (normalizer, pre-tokenizer, post-processor) is the
original's, loaded from a copy of tokenizer.json with the vocabulary cut to those first ids.

So the export (`export`, beside numpy_bert's weights) keeps the pieces as arrays read by memory
map: the pieces themselves, their scores, and for each character the pieces that contain it.
Per text, `Sliced.encode` normalizes, counts for every piece how many of its distinct characters
the text has, and builds a `tokenizers` Unigram of those that have them all (about 2 ms). A
text holding an added token's content (`<mask>`, `<s>`: split off whole by the full tokenizer
before the model) goes to the full tokenizer, loaded then. tests/index/test_unigram_slice.py
checks identical ids against the full tokenizer on every gold and CMRC2018 question.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FOLDER = "unigram"  # inside the numpy engine's export folder


@dataclass(frozen=True)
class Tokens:
    """What the numpy engine reads of an encoding: the ids and their token types."""

    ids: list[int]
    type_ids: list[int]


def sliceable(tokenizer_json: dict) -> bool:
    """Whether `tokenizer_json` is a tokenizer this module reproduces: a Unigram without byte fallback."""
    model = tokenizer_json.get("model") or {}
    return model.get("type") == "Unigram" and not model.get("byte_fallback") and model.get("unk_id") is not None


def _leading(tokenizer_json: dict) -> int:
    """How many first ids every slice keeps: through the unknown piece and every special token the
    post-processor inserts by id, so those ids stay what they are."""
    ids = [int(tokenizer_json["model"]["unk_id"])]

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "ids" and isinstance(value, list):
                    ids.extend(int(i) for i in value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tokenizer_json.get("post_processor"))
    return max(ids) + 1


def _marks(tokenizer_json: dict) -> str:
    """Characters the pre-tokenizer puts into every text (Metaspace's "▁"): counted as present without a look-up."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "Metaspace" and node.get("replacement"):
                found.append(node["replacement"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tokenizer_json.get("pre_tokenizer"))
    return "".join(sorted(set(found)))


def export(tokenizer_path: Path, folder: Path) -> bool:
    """Write the sliceable form of the tokenizer at `tokenizer_path` into `folder`/unigram; False when it is
    not a Unigram this module reproduces (questions then use the full tokenizer)."""
    full = json.loads(Path(tokenizer_path).read_text(encoding="utf-8"))
    if not sliceable(full):
        return False
    vocab = full["model"]["vocab"]
    lead = _leading(full)
    marks = set(_marks(full))
    pieces = [p for p, _ in vocab]
    out = Path(folder) / FOLDER
    out.mkdir(parents=True, exist_ok=True)
    chars = sorted({c for p in pieces[lead:] for c in p} - marks)
    at = {c: i for i, c in enumerate(chars)}
    holders: list[list[int]] = [[] for _ in chars]
    distinct = np.full(len(pieces), -1, np.int32)  # -1: the leading pieces, kept anyway
    for i, p in enumerate(pieces[lead:], lead):
        own = set(p) - marks  # a piece of marks alone ("▁") has 0 and is always kept
        distinct[i] = len(own)
        for c in own:
            holders[at[c]].append(i)
    np.save(out / "pieces.npy", np.array(pieces, dtype=f"<U{max(1, max(map(len, pieces)))}"))
    np.save(out / "scores.npy", np.array([s for _, s in vocab], np.float64))
    np.save(out / "distinct.npy", distinct)
    np.save(out / "starts.npy", np.cumsum([0] + [len(h) for h in holders]).astype(np.int64))
    np.save(out / "holders.npy", np.fromiter((i for h in holders for i in h), np.int32))
    (out / "chars.txt").write_text("".join(chars), encoding="utf-8")
    shell = dict(full, model=dict(full["model"], vocab=vocab[:lead]))
    (out / "shell.json").write_text(json.dumps(shell, ensure_ascii=False), encoding="utf-8")
    (out / "meta.json").write_text(json.dumps({"leading": lead, "unk_id": int(full["model"]["unk_id"]),
                                               "added": [t["content"] for t in full.get("added_tokens", [])]}),
                                   encoding="utf-8")
    return True


@dataclass
class Sliced:
    """A Unigram tokenizer that loads only the pieces each text can use; `full` is loaded when a text needs it."""

    pieces: np.ndarray
    scores: np.ndarray
    distinct: np.ndarray
    starts: np.ndarray
    holders: np.ndarray
    at: dict[str, int]
    shell: object
    leading: int
    unk_id: int
    added: tuple[str, ...]
    max_length: int
    full_path: Path
    lowest: int = 0
    _full: object = field(default=None, repr=False)

    @classmethod
    def open(cls, folder: Path, full_path: Path, max_length: int) -> Sliced | None:
        """The sliced tokenizer exported in `folder`, or None when there is none."""
        from tokenizers import Tokenizer

        u = Path(folder) / FOLDER
        if not (u / "meta.json").exists():
            return None
        meta = json.loads((u / "meta.json").read_text(encoding="utf-8"))
        load = lambda name: np.asarray(np.load(u / name, mmap_mode="r"))  # noqa: E731 (a plain view: no memmap per item)
        scores = load("scores.npy")
        chars = (u / "chars.txt").read_text(encoding="utf-8")
        return cls(load("pieces.npy"), scores, load("distinct.npy"), load("starts.npy"), load("holders.npy"),
                   {c: i for i, c in enumerate(chars)}, Tokenizer.from_file(str(u / "shell.json")),
                   int(meta["leading"]), int(meta["unk_id"]), tuple(meta["added"]), max_length, Path(full_path),
                   int(np.argmin(scores)))

    def full(self):
        """The whole tokenizer, for a text with an added token in it (loaded once)."""
        if self._full is None:
            from tokenizers import Tokenizer

            self._full = Tokenizer.from_file(str(self.full_path))
            self._full.enable_truncation(self.max_length)
            self._full.no_padding()
        return self._full

    def usable(self, text: str) -> np.ndarray:
        """The original ids of the pieces that can take part in tokenizing `text`, ascending: the first
        `leading` ids, the lowest-scored piece, and every piece whose characters all occur in the text
        (the pre-tokenizer's marks counting as present in every text)."""
        seen = set(self.shell.normalizer.normalize_str(text) if self.shell.normalizer else text)
        rows = [self.at[c] for c in seen if c in self.at]
        found = np.concatenate([self.holders[self.starts[r]:self.starts[r + 1]] for r in rows]) if rows \
            else np.zeros(0, np.int32)
        chosen = np.flatnonzero(np.bincount(found, minlength=len(self.distinct)) == self.distinct)
        return np.union1d(np.concatenate([np.arange(self.leading), chosen]), [self.lowest])

    def encode(self, text: str) -> Tokens:
        """The ids and token types `text` gets from the full tokenizer."""
        if any(a in text for a in self.added):
            enc = self.full().encode(text)
            return Tokens(enc.ids, enc.type_ids)
        from tokenizers import Tokenizer, models

        ids = self.usable(text)
        unk = int(np.searchsorted(ids, self.unk_id))
        tok = Tokenizer(models.Unigram(list(zip(self.pieces[ids].tolist(), self.scores[ids].tolist())), unk_id=unk,
                                       byte_fallback=False))
        tok.normalizer = self.shell.normalizer
        tok.pre_tokenizer = self.shell.pre_tokenizer
        tok.post_processor = self.shell.post_processor
        tok.enable_truncation(self.max_length)
        tok.no_padding()
        enc = tok.encode(text)
        return Tokens([int(ids[i]) for i in enc.ids], enc.type_ids)
