"""ProtAnno (ProtCLIP, Zhou et al., AAAI 2025): protein–text records, their JSONL files, UniProt flat-file
parsing into records, ProtCLIP's text building / property split, and the property-driven sampler."""

from protdata.protanno.jsonl import iter_jsonl, read_jsonl, write_jsonl
from protdata.protanno.record import EXISTENCE_LEVELS, ProtAnnoRecord, existence_level
from protdata.protanno.report import SkipReport
from protdata.protanno.sampler import PropertySampler, PropertySamplerConfig, keep_probability, sample_mask
from protdata.protanno.text import PROPERTY_MARKERS, build_text, parse_properties, split_text
from protdata.protanno.uniprot import GoAnnotation, UniProtEntry, crc64, iter_uniprot, read_uniprot

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
