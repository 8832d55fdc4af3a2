"""GameSpec: one game of coding - who reports, how the DC estimates, what the adversary wants."""

import hashlib
import json
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator


class GameSpec(BaseModel):
    """The game's parameters (docs/game_of_coding.md). One colluding adversary controls `adversaries` nodes, all sending
    the same point. N = 2 or one honest node: exact kernels in any dimension; scalar N > 2: exact; vectors with
    two or more honest nodes: mean estimator only, exact for eta >= 2 and by Monte Carlo below. A sketched check
    (k < d): the Gaussian-limit kernels of economics.sketch (closed form for one honest node)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dim: int = Field(1, ge=1, description="report dimension d")
    delta: float = Field(1.0, gt=0, allow_inf_nan=False, description="honest noise radius Delta")
    honest: int = Field(1, ge=1, description="honest node count h")
    adversaries: int = Field(1, ge=1, description="adversarial node count t (one colluding adversary)")
    utility: Literal["log", "product"] = Field(
        "log", description="log: log MSE + kappa log P_A; product: MSE P_A^kappa"
    )
    kappa: float = Field(1.0, gt=0, allow_inf_nan=False, description="weight of acceptance in the utility")
    estimator: Literal["mean", "midrange"] = Field("mean", description="(max + min)/2 or the average; equal for N = 2")
    sketch: Optional[int] = Field(
        None, ge=1, description="k: the check sees k-row Rademacher sketches of the d-dim reports (None, or k >= d: "
        "the full reports); the damage is still that of the full reports")

    @model_validator(mode="after")
    def _supported(self) -> "GameSpec":
        if self.sketched and self.estimator != "mean":
            raise ValueError("sketch: the sketched check is modelled with estimator='mean' only")
        if self.estimator == "midrange" and self.dim > 1 and self.honest > 1:
            raise ValueError(
                "estimator='midrange' with dim > 1 and honest > 1 is not supported (vector N-node midrange is open); "
                "use estimator='mean' (Monte Carlo), dim=1, or honest=1"
            )
        return self

    def key(self) -> str:
        """Stable 16-hex-digit hash of the fields (an unset sketch leaves the hash of older specs unchanged)."""
        return hashlib.sha256(json.dumps(self.model_dump(exclude_none=True), sort_keys=True).encode()).hexdigest()[:16]

    @property
    def sketched(self) -> bool:
        """True when the check sees sketches (k < d) rather than the reports themselves."""
        return self.sketch is not None and self.sketch < self.dim

    @property
    def monte_carlo(self) -> bool:
        """True when curves are estimated by Monte Carlo: vectors with two or more honest nodes, below eta = 2 (or at
        every eta when the check sees sketches)."""
        return self.dim > 1 and self.honest > 1
