"""The ``stslab`` command's groups of subcommands, one module each, gathered by :mod:`stslab.cli`.

Each group's module adds its parsers to the top-level one (``add_<group>``) and holds their
handlers; :mod:`~.parsing` is what they share with :mod:`stslab.cli`. The command line's other
commands (the cluster's, the workshop's, ``progress``, ``images``) are in :mod:`stslab.cli`.
"""
