"""Ban patterns (`^regex`, Mailman's form), compiled safely.

Matching must not depend on how a pattern is written, so bans compile
with RE2 (see mailman_site.safe_regex), case-insensitively as addresses
compare; a pattern RE2 refuses is refused when the ban is made.
"""

from mailman_site.safe_regex import PatternError, SafePattern, compile_safe
from mailman_site.safe_regex import compiled_or_none as compiled_safe_or_none

BanPattern = SafePattern

__all__ = ["BanPattern", "PatternError", "compile_ban", "compiled_or_none"]


def compile_ban(pattern: str) -> BanPattern:
    """`pattern` compiled to match addresses case-insensitively; PatternError if RE2 refuses it."""
    return compile_safe(pattern, ignore_case=True)


def compiled_or_none(pattern: str) -> BanPattern | None:
    """For bans already stored: one that no longer compiles (written to the
    database by hand, say) matches nothing instead of failing every post."""
    return compiled_safe_or_none(pattern, ignore_case=True)
