"""The command line: thin typer commands over the library; the only package that prints."""
