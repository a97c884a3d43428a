"""The ui stage: the Gradio web UI and the JSON API on one port.

    app.py        the page (`build_app`), the app with the API mounted (`create_app`), `serve`
    api.py        the FastAPI routes; render.py: answers as HTML; export.py: CSV; links.py: shareable links
    uploads.py    uploads checked and indexed; guard.py: Host and Origin checks
"""

from __future__ import annotations

from policyqa.exports import lazy

__getattr__, __all__ = lazy(__name__, {
    "policyqa.ui.app": "create_app serve",
    "policyqa.ui.api": "create_api",
})
