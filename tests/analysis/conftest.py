"""Run directories the analysis tests read, made once per session by the real engines (in-memory ledger, or the
embedded chain for the demo)."""
import pytest
from typer.testing import CliRunner

from sims.cli import app

runner = CliRunner()


@pytest.fixture(scope="session")
def make_run(tmp_path_factory):
    """`deml ARGS --out DIR` into a fresh directory (equilibrium tables cached per session, not in the home)."""
    def make(name: str, *args: str):
        out = tmp_path_factory.mktemp("runs") / name
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DEML_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "deml-cache"))
            result = runner.invoke(app, [*args, "--out", str(out)])
        assert result.exit_code == 0, result.output
        return out

    return make


@pytest.fixture(scope="session")
def quad_run(make_run):
    """quad3d, 2 runs x 60 rounds, VISTA and eta = 2, 8: eta = 2 rejects about 40% of its rounds."""
    return make_run("quad", "sim", "quad3d", "--runs", "2", "--rounds", "60", "--set", "baselines=[2,8]")


@pytest.fixture(scope="session")
def diverging_run(make_run):
    """alpha0 = 1: VISTA's iterate explodes until the reports no longer fit the fixed-point codec; a node that
    cannot encode its report commits nothing and is slashed."""
    return make_run("diverging", "sim", "quad3d", "--runs", "1", "--rounds", "30", "--set", "alpha0=1",
                    "--set", "baselines=[2]")


@pytest.fixture(scope="session")
def sweep_run(make_run):
    """quad3d swept over lam = 0.3, 3 (2 runs x 40 rounds, VISTA and eta = 2)."""
    return make_run("sweep", "sim", "quad3d", "--runs", "2", "--rounds", "40", "--sweep", "lam=0.3,3",
                    "--set", "baselines=[2]")


@pytest.fixture(scope="session")
def demo_run(make_run):
    """6 on-chain rounds of `deml demo` on the embedded chain."""
    return make_run("demo", "demo", "--rounds", "6")


def _analyse(tmp_path_factory, name, *run_dirs):
    out = tmp_path_factory.mktemp("analysis") / name
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEML_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "deml-cache"))
        result = runner.invoke(app, ["analyse", *map(str, run_dirs), "--out", str(out), "--gas-price", "2"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def analysed(tmp_path_factory, quad_run):
    """`deml analyse` of the quad3d run."""
    return _analyse(tmp_path_factory, "quad", quad_run)


@pytest.fixture(scope="session")
def sweep_analysed(tmp_path_factory, sweep_run):
    return _analyse(tmp_path_factory, "sweep", sweep_run)


@pytest.fixture(scope="session")
def demo_analysed(tmp_path_factory, demo_run, quad_run):
    """`deml analyse` of the demo run beside the quad3d run (two sources in one report)."""
    return _analyse(tmp_path_factory, "demo", demo_run, quad_run)
