"""anytune.logs.route_to_file: the trainer's library warnings go to a file, not into the job's log."""

from __future__ import annotations

import io
import logging
import warnings

import pytest


@pytest.fixture
def clean_logging():
    root, warned = logging.getLogger(), logging.getLogger("py.warnings")
    saved = (list(root.handlers), root.level, list(warned.handlers), warned.propagate, warnings.showwarning)
    for logger in (root, warned):  # a trainer run earlier in this process routed its warnings already
        for h in logger.handlers[:]:
            if getattr(h, "_anytune", False):
                logger.removeHandler(h)
    logging.captureWarnings(False)  # its "already captured" state outlives pytest's per-test warnings reset
    yield root
    for h in root.handlers[:]:
        if h not in saved[0]:
            root.removeHandler(h)
            h.close()
    root.handlers[:] = saved[0]
    warned.handlers[:] = saved[2]
    root.level, warned.propagate = saved[1], saved[3]
    logging.captureWarnings(False)
    warnings.showwarning = saved[4]


def test_warnings_reach_the_file_and_not_a_hosts_own_root_handler(tmp_path, clean_logging):
    """A Ray worker has its own handler on the root logger, to stderr (the job's log): a Python warning must
    not be printed there too (under Ray, one deprecation warning per collective call filled the log)."""
    from anytune.logs import route_to_file

    host = io.StringIO()
    clean_logging.addHandler(logging.StreamHandler(host))  # the host's, e.g. Ray's
    route_to_file(tmp_path / "trainer-warnings.log")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("`all_gather_into_tensor` is deprecated", FutureWarning, stacklevel=1)
    logging.getLogger("some.library").warning("a library's own warning")
    for h in clean_logging.handlers:
        h.flush()
    text = (tmp_path / "trainer-warnings.log").read_text()
    assert "all_gather_into_tensor" in text and "a library's own warning" in text
    assert "all_gather_into_tensor" not in host.getvalue()
