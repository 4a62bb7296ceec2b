"""The IR v1 contract between the compiler and the runtime: the JSON schema and its checker."""
