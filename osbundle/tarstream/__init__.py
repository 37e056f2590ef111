"""The performance core: tar headers, parallel deflate, reader processes, same-pass hashing."""
