"""What every kind of row shares: the registry, the tools, the samples of one cell, and the
first-run / re-run loop of two playbooks on a fixture of N projects."""

from __future__ import annotations

import functools
import json
import os
import statistics
from dataclasses import dataclass, field

from ..common import CONSTANT_READS, OURS, PHASES, log
from ..fixtures import Fixture, Server
from ..playbook import RunResult, ansible_env, run_playbook

ROW_TYPES: dict = {}
ROW_ALIASES: dict[str, str] = {}


def register(cls):
    """Class decorator: make a RowType subclass a row kind (``--rows <name>``; ``aliases`` too)."""
    ROW_TYPES[cls.name] = cls
    for alias in cls.aliases:
        ROW_ALIASES[alias] = cls.name
    return cls


@dataclass
class Tool:
    name: str
    playbook: str


@dataclass
class Measurement:
    """All samples of one tool in one (row type, size, latency) cell."""

    row_type: str
    tool: str
    size: int
    latency_ms: int
    phase: str  # "first run" | "no-change re-run"
    samples: list[RunResult] = field(default_factory=list)

    @property
    def wall_median(self) -> float:
        return statistics.median(s.wall_s for s in self.samples)

    @property
    def ok(self) -> bool:
        return all(s.rc == 0 for s in self.samples)


def cells_for(row_type: str, tools, size: int, latency: int) -> dict:
    return {(t.name, phase): Measurement(row_type, t.name, size, latency, phase) for t in tools for phase in PHASES}


def turns(tools, times: dict):
    """(repeat index, tool) in the order to run them: the tools take turns going first, so a slow
    patch of the machine hits both; a tool with fewer repeats drops out when it has had them."""
    for i in range(max(times.values())):
        for tool in (tools if i % 2 == 0 else tools[::-1]):
            if i < times[tool.name]:
                yield i, tool


def log_sample(row: str, size: int, latency: int, tool: str, phase: str, sample: RunResult, extra: str = "") -> None:
    log(f"  {row:<14} N={size:<4} {latency:>3} ms  {tool:<24} {phase:<17} {sample.wall_s:7.2f} s  "
        f"reads={sample.reads:<5} writes={sample.writes:<5} changed={sample.changed}{extra} rc={sample.rc}")


class RowType:
    """A kind of row in the table. Subclasses: name, title, measure(); register them with @register.

    ``table`` names the table of the report the rows go to ("api", "fleet" or "gitlabform");
    ``order`` places the kind among the others (lower first)."""

    name = ""
    title = ""
    unit = "projects"
    table = "api"
    order = 50
    aliases: tuple = ()
    # What a full run measures when --sizes / --latency are not given; --quick: N=20, 0 ms.
    default_sizes: tuple = (50,)
    default_latencies: tuple = (0, 20)

    def unavailable(self) -> str | None:
        """Why this row type cannot be measured here, or None (may prepare what it needs)."""
        return None

    def versions(self) -> dict:
        """Versions of the tools this kind measures, beyond Ansible's and the collection's."""
        return {}

    def sizes(self, config) -> list[int]:
        return config.sizes or list(self.default_sizes)

    def latencies(self, config) -> list[int]:
        return config.latency or list(self.default_latencies)

    def cells(self, config) -> list[tuple[int, int]]:
        """The (size, latency) cells of a run, sizes outermost (one fixture at a time)."""
        return [(size, latency) for size in self.sizes(config) for latency in self.latencies(config)]

    def projects_for(self, size: int) -> int:
        """Projects the fixture of a row of this size needs."""
        return size

    def max_rerun_reads(self, size: int) -> int:
        """The promise for our no-change re-run: at most one read per project (+ a constant)."""
        return size + CONSTANT_READS

    def measure(self, ctx, fixture: Fixture, latency: int, repeat: int, alt_repeat: int) -> list[Measurement]:
        raise NotImplementedError

    def summary(self, ours: Measurement, alt: Measurement, doc: dict) -> dict:
        """More columns for the row of this cell (the report's generic ones come first)."""
        return {}

    def verify(self, server: Server, fixture: Fixture) -> str | None:
        """After the first run (admin API, not counted): None, or what is wrong."""
        return None

    def run_phases(self, ctx, cells, tool, label, server, fixture, latency, run_once) -> None:
        """The first run and the no-change re-run of one tool on one fresh server, one sample each.

        ``run_once()`` runs the tool and returns ``(wall, rc, changed, extra)``, ``extra`` being more
        :class:`RunResult` fields. The counters are zeroed before each run; the first run is verified.
        """
        for phase in PHASES:
            server.control("DELETE", "requests")
            wall, rc, changed, extra = run_once()
            sample = RunResult(wall, rc, changed, **server.counters(), **extra)
            cells[(tool.name, phase)].samples.append(sample)
            log_sample(self.name, fixture.size, latency, tool.name, phase, sample)
            if rc != 0:
                raise SystemExit(f"{label} failed (rc={rc}); see {ctx.ansible_log}")
            if phase == PHASES[0]:
                problem = self.verify(server, fixture)
                if problem:
                    raise SystemExit(f"{tool.name}: after the first run: {problem}")


class PlaybookComparison(RowType):
    """Our playbook vs an alternative's, on N projects of a fixture; first run and re-run."""

    alternative: Tool
    ours: Tool
    extra_vars: dict = {}

    def vars_for(self, fixture: Fixture) -> dict:
        return dict(self.extra_vars, bench_projects=fixture.projects)

    def measure(self, ctx, fixture: Fixture, latency: int, repeat: int, alt_repeat: int) -> list[Measurement]:
        tools = [self.ours, self.alternative]
        cells = cells_for(self.name, tools, fixture.size, latency)
        vars_file = os.path.join(ctx.workdir, f"{self.name}-{fixture.size}.json")
        with open(vars_file, "w", encoding="utf-8") as fh:
            json.dump(self.vars_for(fixture), fh)
        for dummy, tool in turns(tools, {self.ours.name: repeat, self.alternative.name: alt_repeat}):
            with fixture.start(ctx.workdir, ctx.server_log) as server:
                server.control("PUT", "latency", {"ms": latency})
                env = ansible_env(server.url, fixture.bot_token, ctx.collections, ctx.ansible_home)
                self.run_phases(ctx, cells, tool, tool.playbook, server, fixture, latency,
                                functools.partial(_run_playbook_once, tool, vars_file, env, ctx))
        return list(cells.values())


def _run_playbook_once(tool, vars_file, env, ctx) -> tuple:
    """One run of a playbook row's tool: ``(wall, rc, changed, extra)`` for :meth:`RowType.run_phases`."""
    return (*run_playbook(tool.playbook, vars_file, env, ctx.ansible_log), {})


__all__ = ["OURS", "ROW_ALIASES", "ROW_TYPES", "Measurement", "PlaybookComparison", "RowType", "Tool", "register"]
