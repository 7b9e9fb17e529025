"""Addresses as anonymous readers of an archive see them: "alice at
example.com", as Mailman 2's obfuscated archives showed them, so that
public archives do not feed address harvesters. Who sees what is
archive.access.shows_addresses; pages, feeds and search results all use
the functions here."""

import re

# Something that looks like an address in free text: a local part, "@", and a
# dotted domain. Loose on purpose: hiding too much costs less than too little.
# Bounded (RFC 5321 section 4.5.3.1 sizes), so that a long run of address
# characters costs linear time, not quadratic.
ADDRESS = re.compile(r"([\w.!#$%&'*+/=?^`{|}~-]{1,64})@([\w-]{1,63}(?:\.[\w-]{1,63}){1,8})")


def obfuscate_text(text: str) -> str:
    """`text` with every address in it written "user at domain"."""
    return ADDRESS.sub(r"\1 at \2", text)


def obfuscate_address(address: str) -> str:
    """One address written "user at domain"; anything without an "@" as it is."""
    return address.replace("@", " at ", 1) if "@" in address else address


def displayed(text: str, shows_addresses: bool) -> str:
    """`text` as a reader sees it: as written, or with its addresses obfuscated."""
    return text if shows_addresses else obfuscate_text(text)
