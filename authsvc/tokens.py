"""The old import path of `authsvc.core.tokens`, kept for resource servers written against it."""

from __future__ import annotations

import sys

from authsvc.core import tokens as _tokens

sys.modules[__name__] = _tokens
