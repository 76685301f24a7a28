"""ProtAnno (ProtCLIP, Zhou et al., AAAI 2025): protein–text records, their JSONL files, UniProt flat-file
parsing into records, ProtCLIP's text building / property split, and the property-driven sampler."""

from protdata._lazy import lazy_exports

__all__ = [
    "EXISTENCE_LEVELS",
    "PROPERTY_MARKERS",
    "GoAnnotation",
    "PropertySampler",
    "PropertySamplerConfig",
    "ProtAnnoRecord",
    "SkipReport",
    "UniProtEntry",
    "build_text",
    "crc64",
    "existence_level",
    "iter_jsonl",
    "iter_uniprot",
    "keep_probability",
    "parse_properties",
    "read_jsonl",
    "read_uniprot",
    "sample_mask",
    "split_text",
    "write_jsonl",
]

# public name -> defining module, imported on first use (protdata._lazy)
_EXPORTS = {
    "iter_jsonl": "protdata.protanno.jsonl",
    "read_jsonl": "protdata.protanno.jsonl",
    "write_jsonl": "protdata.protanno.jsonl",
    "EXISTENCE_LEVELS": "protdata.protanno.record",
    "ProtAnnoRecord": "protdata.protanno.record",
    "existence_level": "protdata.protanno.record",
    "SkipReport": "protdata.protanno.report",
    "PropertySampler": "protdata.protanno.sampler",
    "PropertySamplerConfig": "protdata.protanno.sampler",
    "keep_probability": "protdata.protanno.sampler",
    "sample_mask": "protdata.protanno.sampler",
    "PROPERTY_MARKERS": "protdata.protanno.text",
    "build_text": "protdata.protanno.text",
    "parse_properties": "protdata.protanno.text",
    "split_text": "protdata.protanno.text",
    "GoAnnotation": "protdata.protanno.uniprot",
    "UniProtEntry": "protdata.protanno.uniprot",
    "crc64": "protdata.protanno.uniprot",
    "iter_uniprot": "protdata.protanno.uniprot",
    "read_uniprot": "protdata.protanno.uniprot",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
