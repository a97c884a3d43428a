"""The ui stage: the Gradio web UI and the JSON API on one port.

    app.py        the page (`build_app`), the app with the API mounted (`create_app`), `serve`
    api.py        the FastAPI routes; render.py: answers as HTML; export.py: CSV; links.py: shareable links
    uploads.py    uploads checked and indexed; guard.py: Host and Origin checks
"""

from __future__ import annotations

from policyqa.exports import lazy

_PUBLIC = {
    "create_app": "policyqa.ui.app",
    "serve": "policyqa.ui.app",
    "create_api": "policyqa.ui.api",
}
__all__ = sorted(_PUBLIC)
__getattr__ = lazy(__name__, _PUBLIC)
