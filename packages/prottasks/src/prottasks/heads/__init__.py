"""Task heads of the seeds: multi-label (EC, GO), single-label, regression with target normalisation, pair
classification (PPI), mutation stability (MSP), residue-pair contacts and the ESM2 Function Caller's ``<cls>``
head. Their configs are in the torch-free :mod:`prottasks.heads.configs`; names are imported on first use."""

from protdata._lazy import lazy_exports

__all__ = [
    "AttentionContactHead",
    "AttentionContactHeadConfig",
    "ContactHead",
    "ContactHeadConfig",
    "ContactOutput",
    "ContactTargets",
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
    "contact_targets",
    "mutated_positions",
    "parse_head_config",
]

# public name -> defining module, imported on first use (protdata._lazy)
_EXPORTS = {
    "AttentionContactHead": "prottasks.heads.attention_contact",
    "AttentionContactHeadConfig": "prottasks.heads.configs",
    "HeadOutput": "prottasks.heads.base",
    "build_head": "prottasks.heads.build",
    "parse_head_config": "prottasks.heads.build",
    "ContactHeadConfig": "prottasks.heads.configs",
    "FunctionCallerHeadConfig": "prottasks.heads.configs",
    "HeadConfig": "prottasks.heads.configs",
    "MSPHeadConfig": "prottasks.heads.configs",
    "MultiLabelHeadConfig": "prottasks.heads.configs",
    "PairHeadConfig": "prottasks.heads.configs",
    "RegressionHeadConfig": "prottasks.heads.configs",
    "SingleLabelHeadConfig": "prottasks.heads.configs",
    "ContactHead": "prottasks.heads.contact",
    "ContactOutput": "prottasks.heads.contact",
    "ContactTargets": "prottasks.heads.contact",
    "contact_targets": "prottasks.heads.contact",
    "FunctionCallerHead": "prottasks.heads.function_caller",
    "MSPHead": "prottasks.heads.msp",
    "mutated_positions": "prottasks.heads.msp",
    "MultiLabelHead": "prottasks.heads.multilabel",
    "PairHead": "prottasks.heads.pair",
    "RegressionHead": "prottasks.heads.regression",
    "SingleLabelHead": "prottasks.heads.single_label",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
