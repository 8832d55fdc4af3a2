"""`deml analyse RUN_DIR ...`: the economics of finished runs into one output directory: summary.parquet (one row
per source x (sweep) x method x run x node), summary.json (per source: per role, realised play against the
solver, cost of progress, the chain balance check), modes.parquet (swarms on chain, round-based or FAR-SIGN: what
each pays per unit of progress), PNGs, and a self-contained report.html."""
from __future__ import annotations

import html
import json
import re
import time
from pathlib import Path

import pandas as pd

from sims import rundir
from sims.analysis import figures, modes, page, play, progress, tokens
from sims.analysis.load import Run, load

UNITS = {"tokens": "reward tokens (1 token = 10^18 base units)", "gas": "gas units",
         "gas_cost": "ETH at --gas-price gwei", "net": "tokens earned - stake slashed, in tokens (gas is in ETH)"}


def _slug(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "run"
    slug, i = base, 2
    while slug in taken:
        slug, i = f"{base}-{i}", i + 1
    taken.add(slug)
    return slug


def _records(frame: pd.DataFrame | None) -> list[dict]:
    return [] if frame is None else json.loads(frame.to_json(orient="records"))


class Source:
    """Everything the analysis computes for one run directory."""

    def __init__(self, run: Run, slug: str, gas_price: float):
        self.run, self.slug = run, slug
        self.nodes = tokens.per_node(run, gas_price)
        self.roles = tokens.per_role(self.nodes)
        self.progress = progress.per_method(run)
        adversaries = any(c.get("adversaries", 0) for c in run.configs())
        self.play = play.against_solver(run) if adversaries else None
        self.balances = tokens.balance_check(run) if run.chain else None
        self.dc_gas = tokens.dc_gas(run)

    def summary(self) -> dict:
        judged = None if self.play is None else self.play[self.play["judged"]]
        return {"source": self.run.name, "path": str(self.run.path), "experiment": self.run.experiment,
                "chain_backed": self.run.chain, "sweep": self.run.sweep,
                "per_role": _records(self.roles), "cost_of_progress": _records(self.progress),
                "play_vs_solver": _records(self.play),
                "play_inside_intervals": None if judged is None else f"{int(judged['inside'].sum())} of {len(judged)}",
                "balance_check": None if self.balances is None else {
                    "all_equal": bool(self.balances["equal"].all()), "nodes": _records(self.balances)},
                "dc_gas": _records(self.dc_gas)}

    def figures(self, out: Path) -> dict[str, list[Path]]:
        """The PNGs by the report section they belong to."""
        name = self.run.name
        shown = {"tokens": [figures.tokens_per_node(self.nodes, out / f"{self.slug}_tokens.png", name)], "play": []}
        if self.play is not None:
            for value, part in self._by_sweep(self.play):
                tag = "" if value is None else f"_{_slug(str(value), set())}"
                shown["play"].append(figures.play_curves(
                    part, out / f"{self.slug}{tag}_play.png",
                    name if value is None else f"{name}, {self.run.sweep['key']}={value}"))
        if self.run.sweep is None:
            shown["progress"] = [figures.cost_of_progress(self.progress, out / f"{self.slug}_progress.png", name)]
        else:
            shown["progress"] = self._sweep_figures(out)
        return shown

    def _by_sweep(self, frame: pd.DataFrame):
        if self.run.sweep is None:
            return [(None, frame)]
        return [(v, frame[frame["sweep"] == v]) for v in self.run.sweep["values"]]

    def _sweep_figures(self, out: Path) -> list[Path]:
        key = self.run.sweep["key"]
        roles = self.roles.pivot_table(index=["sweep", "method"], columns="role", values="net_per_node",
                                       observed=True, sort=False).reset_index()
        accept = self.run.rounds.groupby(["sweep", "method"], sort=False)["accepted"].mean().rename(
            "acceptance").reset_index()
        p = f"{self.slug}_sweep_{_slug(key, set())}"
        paths = [figures.against_key(self.progress, "loss_last", key, out / f"{p}_final_loss.png",
                                     "mean final loss", logy=True),
                 figures.against_key(self.progress, "tokens_per_progress", key, out / f"{p}_tokens_per_progress.png",
                                     "tokens per unit of loss decrease"),
                 figures.against_key(accept, "acceptance", key, out / f"{p}_acceptance.png",
                                     "acceptance rate (adversary's realised P_A)")]
        for role in ("honest", "adversary"):
            if role in roles.columns:
                paths.append(figures.against_key(roles, role, key, out / f"{p}_net_{role}.png",
                                                 f"net tokens per {role} node per run"))
        return paths

    def section(self, images: dict[str, str]) -> str:
        r = self.run
        parts = [f"<h2>{html.escape(r.name)}</h2><p>experiment <b>{html.escape(r.experiment)}</b>, "
                 f"{r.nodes['round'].max()} rounds, {self.nodes['node'].nunique()} nodes, methods "
                 f"{html.escape(', '.join(map(str, dict.fromkeys(self.progress['method']))))}"
                 + (f", sweep over <b>{html.escape(r.sweep['key'])}</b> = {html.escape(str(r.sweep['values']))}"
                    if r.sweep else "") + ("; <b>chain-backed</b>: every figure below is read from the chain's events"
                                           if r.chain else "; in-memory ledger: gas is 0") + f" ({html.escape(str(r.path))})</p>"]
        parts.append("<h3>Tokens per role</h3><p class='note'>per node per run (mean over runs), in tokens; "
                     "net_role_total = net per node x nodes of that role</p>" + page.table(self.roles))
        shown = self.nodes.groupby([c for c in ("sweep", "method", "node", "address", "role") if c in self.nodes],
                                   observed=True, sort=False)[
            [c for c in ("earned_tokens", "slashed_tokens", "net_tokens", "gas_units", "gas_cost_eth", "own_tx_eth")
             if c in self.nodes]].mean().reset_index()
        parts.append("<h3>Per node</h3><p class='note'>mean per run; earned, slashed, net in tokens; gas in gas units; "
                     "gas cost and own_tx_eth (the node's own transactions: allowance and registration) in ETH</p>"
                     + page.table(shown) + images.get("tokens", ""))
        if self.balances is not None:
            ok = bool(self.balances["equal"].all())
            parts.append("<h3>Per-node sums against the chain</h3><p class='" + ("good" if ok else "bad") + "'>"
                         + ("every node's token balance and stake equal what its events imply" if ok else
                            "MISMATCH between the events and the balances") + "</p><p class='note'>base units; "
                         "tokens = minted - locked + withdrawn + sum(paid); stake = locked - withdrawn - "
                         "sum(slashed)</p>" + page.table(self.balances))
        if self.dc_gas is not None:
            parts.append("<h3>The DC's gas per phase</h3><p class='note'>relay mode: the DC sends every round "
                         "transaction; the nodes' per-round gas is 0</p>" + page.table(self.dc_gas))
        if self.play is not None:
            judged = self.play[self.play["judged"]]
            parts.append(f"<h3>Adversary's play against the equilibrium</h3><p class='note'>per announced eta: realised "
                         f"acceptance P_A (Wilson) and MSE of accepted estimates (t), {play.LEVEL:.0%} intervals, "
                         f"against the solver's P_A*(eta), MSE*(eta); etas visited at least {play.MIN_ROUNDS} times "
                         f"are judged: {int(judged['inside'].sum())} of {len(judged)} inside both intervals "
                         f"({len(self.play) - len(judged)} rarer etas in the figure only)</p>"
                         + page.table(judged.drop(columns=["source", "judged"])) + images.get("play", ""))
        parts.append("<h3>Cost of progress</h3><p class='note'>progress = loss at the first posted model - loss at "
                     "the last, summed over runs; tokens paid to all nodes and gas per unit of it</p>"
                     + page.table(self.progress) + images.get("progress", ""))
        return "".join(parts)


def analyse(paths: list[Path], out: Path | None, gas_price: float) -> Path:
    """Read every run (refusing bad input before anything is written), then write the output directory. Swarms on
    chain with evaluations (round-based or FAR-SIGN's board) also go into modes.parquet: what each mode pays per
    unit of progress (sims/analysis/modes.py)."""
    boards = [modes.board_row(p) for p in paths if modes.is_board(p)]
    runs = [load(p) for p in paths if not modes.is_board(p)]
    taken: set[str] = set()
    sources = [Source(run, _slug(run.name, taken), gas_price) for run in runs]
    rows = [r for r in (modes.rounds_row(run) for run in runs) if r is not None] + [row for row, _ in boards]
    out = rundir.prepare(out, "analyse")
    frames = [s.nodes for s in sources]
    summary = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if "sweep" in summary.columns:
        summary["sweep"] = summary["sweep"].astype(str)
    summary.to_parquet(out / "summary.parquet", index=False)
    by_mode = pd.DataFrame(rows)
    if rows:
        by_mode.to_parquet(out / "modes.parquet", index=False)
    (out / "summary.json").write_text(json.dumps({
        "gas_price_gwei": gas_price, "units": UNITS, "written": time.strftime("%Y-%m-%d %H:%M:%S"),
        "sources": [s.summary() for s in sources], "modes": _records(by_mode if rows else None),
        "farsign_roles": [_records(roles) for _, roles in boards]}, indent=1, default=str) + "\n")
    sections = []
    if rows:
        sections.append("<h2>Modes: what a unit of progress costs</h2><p class='note'>progress = test loss of the "
                        "first evaluated model - that of the last; tokens = paid to all nodes; gas = every "
                        "transaction of the run, the nodes' and the data collector's; per report = per report paid "
                        "(a revealer of an accepted round, an accepted board post)</p>" + page.table(by_mode))
    for row, roles in boards:
        sections.append(f"<h2>{html.escape(row['source'])}</h2><p>FAR-SIGN on the report board: "
                        f"{html.escape(row['workload'])}, {row['nodes']} nodes of which {row['adversaries']} "
                        f"{html.escape(row['attack'])}, {html.escape(row['duration'])}</p><h3>Tokens per role</h3>"
                        "<p class='note'>the board pays a fee per accepted report, whoever posts it</p>"
                        + page.table(roles))
    for s in sources:
        images = {kind: "".join(page.image(p) for p in paths) for kind, paths in s.figures(out).items()}
        sections.append(s.section(images))
    intro = (f"<p>{len(sources)} run director{'y' if len(sources) == 1 else 'ies'}; gas priced at {gas_price:g} gwei. "
             f"Units: {'; '.join(f'{k}: {v}' for k, v in UNITS.items())}.</p>")
    (out / "report.html").write_text(page.page("deml analyse", [intro] + sections))
    return out
