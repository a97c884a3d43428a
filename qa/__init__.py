"""The qa stage: a question in, ranked and cited passages with the answering sentence out.

    search.py     `Searcher.ask`: candidates from a backend, fused, capped per document, answered
    query.py      what a question names (places, years, types) and asks for (哪些城市, a sum, a day)
    fusion.py     dense and BM25 scores fused; answer.py: the answering sentence and phrase
    grouping.py   哪些城市 answers grouped by place; refusal.py: when the hits do not answer
    rerank.py     the optional cross-encoder; types.py: Hit, Group, Answer
"""

from __future__ import annotations

from policyqa.exports import lazy

__getattr__, __all__ = lazy(__name__, {
    "policyqa.qa.search": "Searcher Filters MODES",
    "policyqa.qa.types": "Answer Hit Group",
})
