"""Small utilities every layer may use (they import nothing of gazeattn but each other, and not torch).

- :mod:`~gazeattn.utils.errors`: ``DataError`` (bad input: names the file and line) and ``OutputError`` (an
  output that cannot be written: names the path asked for), the one-line errors the CLI prints;
- :mod:`~gazeattn.utils.atomic`: files that appear whole or not at all (temp file + ``os.replace``).
"""
