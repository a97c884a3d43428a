"""Every error a user can cause, in one place.

Each derives from `PolicyQAError`, whose message is one line that names what went wrong and the
command or change that fixes it. The CLI, the web UI and the API catch that one base class and show
the message as it is; anything else that escapes is a bug and is reported as one.
"""

from __future__ import annotations

import importlib


class PolicyQAError(Exception):
    """An error a user can cause and fix; str(e) is one line naming the fix."""


class UsageError(PolicyQAError):
    """A command line that cannot run as given (a missing question, a file that is not there)."""


class LoadError(PolicyQAError):
    """A file that cannot be turned into text; the build reports it and goes on."""


class OcrUnavailable(PolicyQAError):
    """The OCR engine is not installed."""


class OutsideFolder(PolicyQAError, ValueError):
    """A user-given path that leads out of the documents folder (the message names the path)."""


class ModelError(PolicyQAError):
    """A model that cannot be found or loaded."""


class EncoderError(ModelError):
    """An encoder that cannot run here."""


class E5Error(ModelError):
    """The bundled e5 file is missing or not in the format the converter reads."""


class ExtraMissing(PolicyQAError):
    """An optional package (the cluster or onnx extra) is not installed."""


class IndexMissing(PolicyQAError):
    """No index has been built in the folder asked for."""


class IndexMismatch(PolicyQAError):
    """An index this version, model or chunker cannot query as it is."""


class IndexDamaged(IndexMismatch):
    """A part of the index is truncated, corrupt or missing."""


class MilvusMissing(IndexMissing):
    """No policyqa collection at the URI, or one built with another model or chunker."""


class BuildLocked(PolicyQAError):
    """Another build holds the index's lock."""


class EmptyCorpus(PolicyQAError):
    """The documents folder holds nothing to index."""


class CannotWrite(PolicyQAError):
    """A folder cannot be written: no permission, a read-only file system, or a full disk; `full`
    says which (the API answers 507 or 503)."""

    def __init__(self, message: str, full: bool = False):
        super().__init__(message)
        self.full = full


class UpdateError(PolicyQAError):
    """An add or remove that cannot be done as asked."""


class QuestionError(PolicyQAError, ValueError):
    """A question that cannot be asked as given."""


class GoldMismatch(PolicyQAError, ValueError):
    """The gold set does not fit the index being evaluated (another corpus, or edited documents)."""


class PortInUse(PolicyQAError):
    """The address to serve on is taken (another server, or this one already running)."""


def require(module: str, what: str, extra: str = "cluster") -> None:
    """Import `module` or fail in one line naming the install command."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise ExtraMissing(f"{what} needs the {module} package, which is not installed; "
                           f"install it with: pip install 'policyqa[{extra}]'") from None
