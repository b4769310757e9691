"""The benchmark driver behind ``benchmarks/run.py``, as a small package.

- ``common``: paths, the names of the tools, logging, throw-away SSH keys;
- ``fixtures``: the GitLab test server, its snapshots (one fixture per size) and control API;
- ``playbook``: running ``ansible-playbook`` and reading its PLAY RECAP or JSON output;
- ``rows/``: one module per kind of row; every module registers its ``RowType`` (adding a kind is
  adding a file there);
- ``report``: the tables, the goals, Markdown and JSON under ``benchmarks/results/``;
- ``cli``: the command line and the order of the work.
"""
