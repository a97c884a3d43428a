"""What every encoder does the same way: the batching loop, the one-at-a-time questions, the prompts.

An encoder (encoders.TorchEncoder, encoders.OnnxEncoder, numpy_bert.NumpyBert) implements one
thing, `_forward`: unit float32 vectors for one batch of texts, given as they are to be
tokenized. This class owns the rest:

- the model's prompt goes before the text in one place, `_encode` (e5: "query: " for questions,
  "passage: " for passages; nothing for m3e). It is the prefix sentence-transformers puts there
  for `prompt_name=`, and with pooling that includes the prompt (its default) the vectors are the
  same bits (encoders.exact_prompts refuses a model whose pooling leaves its prompt out);
- `passages` encodes in batches of similar length (longest first), in input order on return;
- `questions` encodes each question alone, on one thread (`_lone`): a question is a few dozen
  tokens that two threads cannot share usefully, and on busy cores waiting for the second
  thread cost 10-30x the work itself. A lone question and a primed batch of them take the same
  path, so a question's vector never depends on how it arrived.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import numpy as np


def length_order(texts: list[str]) -> np.ndarray:
    """Longest first, so a batch pads to similar lengths (as sentence-transformers does inside encode)."""
    return np.argsort([-len(t) for t in texts], kind="stable")


class Encoder:
    """One model run one way. Subclasses give `variant`, `dimension`, `prompts` and `_forward`."""

    variant: str
    dimension: int
    prompts: tuple[str, str] = ("", "")  # (question, passage) prefixes; a subclass sets the model's

    def _forward(self, texts: list[str], lone: bool) -> np.ndarray:
        """Unit float32 vectors of one batch of `texts` (prompt included); `lone`: one question, inside `_lone`."""
        raise NotImplementedError

    def _lone(self) -> AbstractContextManager:
        """The setting questions are encoded under (torch: one intra-op thread)."""
        return nullcontext()

    def _encode(self, texts: list[str], query: bool, lone: bool = False) -> np.ndarray:
        """The one place a prompt is put before the text."""
        prefix = self.prompts[0] if query else self.prompts[1]
        return self._forward([prefix + t for t in texts] if prefix else list(texts), lone)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        """One batch of passages, with the model's passage prompt."""
        return self._encode(texts, query=False)

    def encode_question(self, text: str) -> np.ndarray:
        """One question, with the model's question prompt (call inside `_lone`, as `questions` does)."""
        return self._encode([text], query=True, lone=True)[0]

    def passages(self, texts: list[str], batch_size: int = 32, bar=None) -> np.ndarray:
        """Unit float32 vectors in input order, encoded in length-sorted batches; `bar` (tqdm) advances per batch."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = length_order(texts)
        for i in range(0, len(texts), batch_size):
            idx = order[i : i + batch_size]
            out[idx] = self.encode_passages([texts[j] for j in idx])
            if bar is not None:
                bar.update(len(idx))
        return out

    def questions(self, texts: list[str], bar=None) -> np.ndarray:
        """Unit float32 vectors of questions, each encoded alone; `bar` advances per question."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        with self._lone():
            for i, t in enumerate(texts):
                out[i] = self.encode_question(t)
                if bar is not None:
                    bar.update(1)
        return out
