"""The YAML loader for the city file: every plain scalar arrives as the text the press officer typed."""

from __future__ import annotations

import yaml

_NULL_TAG = "tag:yaml.org,2002:null"


class CityLoader(yaml.SafeLoader):
    """Reads every plain scalar as text and leaves the conversion to the models.

    YAML 1.1 turns unquoted `22:30` into the number 1350, `2026-11-01` into a date, `no` into False and the
    phone number `0231123` into an octal number; as text each arrives exactly as the press officer typed it.
    """

    yaml_implicit_resolvers = {  # noqa: RUF012  (PyYAML looks this up on the class)
        first: [(tag, regexp) for tag, regexp in resolvers if tag == _NULL_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        if any(tag == _NULL_TAG for tag, _ in resolvers)
    }
