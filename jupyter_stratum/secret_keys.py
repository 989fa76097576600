"""The one rule for "does this key hold a secret", used wherever jupyter-stratum writes
something out (deployment records in the registry, generated Ansible projects).

A key is secret when its name says password/passphrase, secret, token, vault,
credential, API key, private key or ``*_key_data`` (inline key material). A *path* to a
key file (``ansible_ssh_private_key_file``) is not a secret: it is kept, so that a
generated project can still reach its hosts and a record says which key was used.
A string value that holds a PEM private key is a secret whatever its key is called.
"""

from __future__ import annotations

import re

_SECRET_NAME = re.compile(
    r"pass(word|wd|phrase)?|secret|token|vault|credential|private_key(?!_file)|api_key|_key_data", re.I
)


def is_secret_key(name: str) -> bool:
    """True when a variable or record key named ``name`` holds a secret."""
    return bool(_SECRET_NAME.search(name))


def is_secret(name: str, value: object = None) -> bool:
    """:func:`is_secret_key`, or a string value holding PEM private key material."""
    return is_secret_key(name) or (isinstance(value, str) and "PRIVATE KEY" in value)
