"""What a directory tree holds, to prove a run changed nothing on disk (the bad-input suites)."""

from __future__ import annotations

import os
import stat


def snapshot(top) -> dict:
    """``{relative path: [type, mode, uid, gid, content]}`` of every entry under ``top``.

    Content is a file's text (undecodable bytes replaced) or a link's target; lists, not tuples, so a
    snapshot survives a JSON round trip between pytest workers unchanged.
    """
    found = {}
    for directory, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(directory, name)
            st = os.lstat(path)
            content = None
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as fh:
                    content = fh.read().decode("utf-8", "replace")
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(path)
            found[os.path.relpath(path, top)] = [stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                                                 st.st_gid, content]
    return found
