"""Build any task head from its config (``type`` discriminator, for YAML presets)."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from torch import nn

from prottasks.heads.attention_contact import AttentionContactHead
from prottasks.heads.configs import AttentionContactHeadConfig, HeadConfig
from prottasks.heads.contact import ContactHead, ContactHeadConfig
from prottasks.heads.function_caller import FunctionCallerHead, FunctionCallerHeadConfig
from prottasks.heads.msp import MSPHead, MSPHeadConfig
from prottasks.heads.multilabel import MultiLabelHead, MultiLabelHeadConfig
from prottasks.heads.pair import PairHead, PairHeadConfig
from prottasks.heads.regression import RegressionHead, RegressionHeadConfig
from prottasks.heads.single_label import SingleLabelHead, SingleLabelHeadConfig

_ADAPTER: TypeAdapter[Any] = TypeAdapter(HeadConfig)
_BUILDERS: dict[type, type[nn.Module]] = {
    MultiLabelHeadConfig: MultiLabelHead,
    SingleLabelHeadConfig: SingleLabelHead,
    RegressionHeadConfig: RegressionHead,
    PairHeadConfig: PairHead,
    MSPHeadConfig: MSPHead,
    FunctionCallerHeadConfig: FunctionCallerHead,
    ContactHeadConfig: ContactHead,
    AttentionContactHeadConfig: AttentionContactHead,
}


def parse_head_config(data: dict[str, Any] | Any) -> Any:
    """Validate a head config given as a mapping; errors name the offending key."""
    return data if type(data) in _BUILDERS else _ADAPTER.validate_python(data)


def build_head(config: dict[str, Any] | Any, encoder: nn.Module) -> nn.Module:
    """The head described by ``config`` on ``encoder``."""
    config = parse_head_config(config)
    return _BUILDERS[type(config)](encoder, config)
