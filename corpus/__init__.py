"""The corpus stage: files in, documents with metadata and offset-exact passages out.

    reader.py     the folder walked (`scan`), one file read whole (`read_document`), a folder (`read_corpus`)
    loaders.py    each format to text (`load`), office.py, pdf.py, ofd.py, ocr.py: the hard ones
    sections.py   headings found and passages cut (`passages`, `ChunkParams`); offsets index the text
    metadata.py   title, place, year, type, issuer, 文号 and date
    places.py     the gazetteer, place names read as whole names (`mentions`), a document's place (`infer_city`)
    types.py      the nouns: Document, Passage, DocMeta, Extracted
"""

from __future__ import annotations

from policyqa.exports import lazy

__getattr__, __all__ = lazy(__name__, {
    "policyqa.corpus.types": "Document Passage DocMeta",
    "policyqa.corpus.sections": "ChunkParams",
    "policyqa.corpus.loaders": "load",
    "policyqa.corpus.reader": "scan read_document read_corpus",
})
