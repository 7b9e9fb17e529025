"""Regular expressions that people write, compiled with RE2.

Ban patterns and the lists' header and body filters are written by list
owners and run on every post or request. Python's backtracking `re` can be
stalled for minutes by a pattern such as `(a+)+$` (ReDoS); RE2 matches in
time linear in the text, whatever the pattern. It has no backreferences or
lookaround, so a pattern that uses them is refused when it is saved.
"""

import logging
from functools import lru_cache

import re2

logger = logging.getLogger(__name__)

SafePattern = re2._Regexp


class PatternError(ValueError):
    """A pattern RE2 cannot compile; str() says why."""


def compile_safe(pattern: str, *, ignore_case: bool = True, multiline: bool = False) -> SafePattern:
    """`pattern` compiled by RE2, or PatternError.

    With `multiline`, ^ and $ also match at the start and end of each line.
    Compiled patterns are kept: the same few run on every post.
    """
    return _compiled(pattern, ignore_case, multiline)


@lru_cache(maxsize=1024)
def _compiled(pattern: str, ignore_case: bool, multiline: bool) -> SafePattern:
    options = re2.Options()
    options.case_sensitive = not ignore_case
    # The error is raised to the caller; RE2 would also print it to stderr.
    options.log_errors = False
    try:
        compiled = re2.compile(pattern, options)
        # The flag goes in front only once the pattern compiled alone, so an
        # error quotes the pattern as its author wrote it.
        return re2.compile(f"(?m){pattern}", options) if multiline else compiled
    except re2.error as exc:
        # RE2 gives its reason as bytes.
        reason = exc.args[0] if exc.args else b"it does not compile"
        raise PatternError(reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)) from None


def compiled_or_none(pattern: str, **options: bool) -> SafePattern | None:
    """For patterns already stored: one that no longer compiles (written to
    the database by hand, say) matches nothing instead of failing every post."""
    try:
        return compile_safe(pattern, **options)
    except PatternError:
        logger.warning("Pattern %r does not compile and matches nothing", pattern)
        return None
