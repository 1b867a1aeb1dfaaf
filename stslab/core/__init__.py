"""The foundation every other part of stslab stands on, importing nothing above it.

Errors (:mod:`~stslab.core.errors`), where things live (:mod:`~stslab.core.paths`), pinned
versions (:mod:`~stslab.core.versions`), label keys (:mod:`~stslab.core.labels`), local
processes and ports (:mod:`~stslab.core.procs`), atomic file writes
(:mod:`~stslab.core.files`) and API clients and waits (:mod:`~stslab.core.kube`).
"""
