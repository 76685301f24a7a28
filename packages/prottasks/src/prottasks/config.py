"""Base class of every prottasks config: a frozen pydantic model where unknown keys and wrong types are errors
that name the key."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TaskConfig(BaseModel):
    """Base of objective / head configs (``type`` discriminator + hyper-parameters with the seeds' defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
