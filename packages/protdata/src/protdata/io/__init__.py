"""Structure I/O: PDB, mmCIF, BinaryCIF (plain or gzip) → :class:`~protdata.Protein`, read the way Foldseek reads.

Entry points:

* :func:`load_chains` — one protein per chain of one model (default the first) or of every model.
* :func:`load_models`, :func:`foldseek_entries` — every model; Foldseek's entry names.
* :func:`iter_archive` / :func:`load_archive` — stream a tar of structure files (AlphaFold DB bulk downloads)
  without extracting it.
* :func:`iter_structures` / :func:`load_many` — many files, directories or globs; bad files are skipped and
  reported in a :class:`LoadReport`.

The reader reproduces Foldseek's residue selection (Foldseek ``createdb``, steineggerlab/foldseek) so that 3Di
strings computed from the proteins match ``foldseek createdb`` letter for letter; see :func:`load_chains`.
"""

from protdata.io.archive import iter_archive, load_archive
from protdata.io.chain_walk import ALTLOC_RULES, ATOMS
from protdata.io.collection import LoadReport, LoadResult, SkippedSource, iter_structures, load_many
from protdata.io.formats import FORMATS, entry_stem, format_from_name, open_structure, sniff_format
from protdata.io.loaders import foldseek_entries, load_chains, load_models, load_structure
from protdata.io.residue_rules import RESIDUE_RULES

__all__ = [
    "ALTLOC_RULES",
    "ATOMS",
    "FORMATS",
    "RESIDUE_RULES",
    "LoadReport",
    "LoadResult",
    "SkippedSource",
    "entry_stem",
    "foldseek_entries",
    "format_from_name",
    "iter_archive",
    "iter_structures",
    "load_archive",
    "load_chains",
    "load_many",
    "load_models",
    "load_structure",
    "open_structure",
    "sniff_format",
]
