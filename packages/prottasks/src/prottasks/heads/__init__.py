"""Task heads of the seeds: multi-label (EC, GO), single-label, regression with target normalisation, pair
classification (PPI), mutation stability (MSP) and the ESM2 Function Caller's ``<cls>`` head."""

from prottasks.heads.base import HeadOutput
from prottasks.heads.build import HeadConfig, build_head, parse_head_config
from prottasks.heads.function_caller import FunctionCallerHead, FunctionCallerHeadConfig
from prottasks.heads.msp import MSPHead, MSPHeadConfig, mutated_positions
from prottasks.heads.multilabel import MultiLabelHead, MultiLabelHeadConfig
from prottasks.heads.pair import PairHead, PairHeadConfig
from prottasks.heads.regression import RegressionHead, RegressionHeadConfig
from prottasks.heads.single_label import SingleLabelHead, SingleLabelHeadConfig

__all__ = [
    "FunctionCallerHead",
    "FunctionCallerHeadConfig",
    "HeadConfig",
    "HeadOutput",
    "MSPHead",
    "MSPHeadConfig",
    "MultiLabelHead",
    "MultiLabelHeadConfig",
    "PairHead",
    "PairHeadConfig",
    "RegressionHead",
    "RegressionHeadConfig",
    "SingleLabelHead",
    "SingleLabelHeadConfig",
    "build_head",
    "mutated_positions",
    "parse_head_config",
]
