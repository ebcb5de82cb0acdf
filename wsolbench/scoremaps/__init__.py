"""Score maps from any WSOL method, as versioned HDF5 files (format v1, see ``docs/scoremaps.md``).

Writing needs only numpy + h5py (or :class:`ScoreMapWriter`); reading streams in batches with
:class:`ScoreMapFile`, so evaluation never holds the whole file in memory.
"""

from wsolbench.scoremaps.content import content_sha256
from wsolbench.scoremaps.format import FORMAT_NAME, FORMAT_VERSION, SUPPORTED_VERSIONS, Layout
from wsolbench.scoremaps.npydir import ExportSummary, export_npy_dir, import_npy_dir, npy_path
from wsolbench.scoremaps.reader import MapBatch, ScoreMapFile, ValidationReport, sha256_file, validate_scoremaps
from wsolbench.scoremaps.writer import ScoreMapWriter, write_scoremaps

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SUPPORTED_VERSIONS",
    "Layout",
    "ScoreMapWriter",
    "write_scoremaps",
    "ScoreMapFile",
    "MapBatch",
    "ValidationReport",
    "validate_scoremaps",
    "sha256_file",
    "content_sha256",
    "import_npy_dir",
    "export_npy_dir",
    "npy_path",
    "ExportSummary",
]
