"""Reading and checking a profile: everything `validate` does; what a build starts from."""
