"""ATOM3D's LMDB datasets (Townshend et al. 2021, "ATOM3D: Tasks on molecules in three dimensions"; drorlab/atom3d):
the reader (:class:`Atom3DLmdb`: json / msgpack entries, pkl refused), atom tables -> :class:`~protdata.Protein`
(:func:`atoms_to_protein`), and the PSR / MSP records and split folders (:mod:`protdata.atom3d.records`).
Needs the optional dependency ``protstack-protdata[atom3d]`` (lmdb); names are imported on first use."""

from protdata._lazy import lazy_exports

__all__ = [
    "Atom3DDataset",
    "Atom3DEntryError",
    "Atom3DLmdb",
    "MSPRecord",
    "PSRRecord",
    "atoms_to_protein",
    "msp_record",
    "psr_record",
    "read_msp",
    "read_psr",
    "split_dirs",
]

# public name -> defining module, imported on first use (protdata._lazy)
_EXPORTS = {
    "atoms_to_protein": "protdata.atom3d.atoms",
    "Atom3DEntryError": "protdata.atom3d.lmdb_file",
    "Atom3DLmdb": "protdata.atom3d.lmdb_file",
    "Atom3DDataset": "protdata.atom3d.records",
    "MSPRecord": "protdata.atom3d.records",
    "PSRRecord": "protdata.atom3d.records",
    "msp_record": "protdata.atom3d.records",
    "psr_record": "protdata.atom3d.records",
    "read_msp": "protdata.atom3d.records",
    "read_psr": "protdata.atom3d.records",
    "split_dirs": "protdata.atom3d.records",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
