"""Trust in a published release: `verify` checks what a target holds, `sign_published`/`sign_plan` sign it."""

from __future__ import annotations

from .model import Check, CheckKind, VerifyReport
from .sign import NotVerified, SignResult, sign_plan, sign_published
from .verify import verify

__all__ = ["Check", "CheckKind", "VerifyReport", "NotVerified", "SignResult", "sign_plan", "sign_published", "verify"]
