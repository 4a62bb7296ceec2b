"""The IR v1 contract between the compiler and the runtime: the JSON schema and its checker."""

#: The deepest nesting of arrays/objects an IR document may have: what orjson, the JSON writer of
#: ``manifest compile`` and the HTTP layer, can write. The compiler refuses a model whose IR would
#: nest deeper (a chain of hundreds of operators), and an IR file past it is refused when loaded.
MAX_IR_DEPTH = 255
