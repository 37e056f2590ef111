"""The build stages, one module each: collect, render, metadata, archive, export."""
