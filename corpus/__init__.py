"""The corpus stage: files in, documents with metadata and offset-exact passages out.

    reader.py     the folder walked (`scan`), one file read whole (`read_document`), a folder (`read_corpus`)
    loaders.py    each format to text (`load`), office.py, pdf.py, ofd.py, ocr.py: the hard ones
    sections.py   headings found and passages cut (`passages`, `ChunkParams`); offsets index the text
    metadata.py   title, place, year, type, issuer, 文号 and date; places.py: the gazetteer
    types.py      the nouns: Document, Passage, DocMeta, Extracted
"""

from __future__ import annotations

from policyqa.exports import lazy

_PUBLIC = {
    "Document": "policyqa.corpus.types",
    "Passage": "policyqa.corpus.types",
    "DocMeta": "policyqa.corpus.types",
    "ChunkParams": "policyqa.corpus.sections",
    "load": "policyqa.corpus.loaders",
    "scan": "policyqa.corpus.reader",
    "read_document": "policyqa.corpus.reader",
    "read_corpus": "policyqa.corpus.reader",
}
__all__ = sorted(_PUBLIC)
__getattr__ = lazy(__name__, _PUBLIC)
