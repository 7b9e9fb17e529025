"""Ban patterns (`^regex`, Mailman's form) compiled with RE2.

List owners write them and every post and request is checked against them,
so matching must not depend on how a pattern is written: RE2 matches in
time linear in the address, where Python's backtracking `re` can be stalled
for minutes by a pattern such as `^(a+)+$` (ReDoS). RE2 has no
backreferences or lookaround; a ban does not need them, and a pattern that
uses them is refused when the ban is made.
"""

import logging

import re2

logger = logging.getLogger(__name__)

BanPattern = re2._Regexp


class PatternError(ValueError):
    """A pattern RE2 cannot compile; str() says why."""


def compile_ban(pattern: str) -> BanPattern:
    """`pattern` compiled to match addresses case-insensitively."""
    options = re2.Options()
    options.case_sensitive = False
    # The error is raised to the caller; RE2 would also print it to stderr.
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        # RE2 gives its reason as bytes.
        reason = exc.args[0] if exc.args else b"it does not compile"
        raise PatternError(reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)) from None


def compiled_or_none(pattern: str) -> BanPattern | None:
    """For bans already stored: one that no longer compiles (written to the
    database by hand, say) matches nothing instead of failing every post."""
    try:
        return compile_ban(pattern)
    except PatternError:
        logger.warning("Ban pattern %r does not compile and matches nothing", pattern)
        return None
