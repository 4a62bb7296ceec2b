"""What the checker and the language server know of the built-ins: names, signatures, docs.

The runtime's registry (``expr.builtins.BUILTINS``) is the authority on what exists; a test
keeps this table equal to it, so the compiler side needs no runtime import.
"""

from __future__ import annotations

#: name -> (signature, one-line doc)
BUILTIN_DOCS: dict[str, tuple[str, str]] = {
    "now": ("now() -> number", "The current time in epoch milliseconds (the engine's clock)."),
    "uuid": ("uuid() -> string", "A fresh id from the engine's id generator."),
    "flag": (
        "flag(name) -> any",
        "A feature flag: the flag provider's answer, else the engine's flags, else false.",
    ),
    "hasPermission": (
        "hasPermission(action, target?) -> boolean",
        "Whether the acting user's role (context.user.role) grants the action, by the model's roles.",
    ),
    "roleAllows": ("roleAllows(role, action, target?) -> boolean", "The same check for an explicit role."),
    "trim": ("trim(s) -> string", "s without leading and trailing white space."),
    "toUpperCase": ("toUpperCase(s) -> string", "s in upper case."),
    "toLowerCase": ("toLowerCase(s) -> string", "s in lower case."),
    "split": ("split(s, separator) -> list<string>", "The parts of s between separators."),
    "count": ("count(list) -> number", "The number of elements of a list (or characters of a string)."),
    "length": ("length(x) -> number", "The length of a string or a list."),
    "startsWith": ("startsWith(s, prefix) -> boolean", "Whether s starts with prefix."),
    "endsWith": ("endsWith(s, suffix) -> boolean", "Whether s ends with suffix."),
    "replace": ("replace(s, find, with) -> string", "s with every occurrence of find replaced (literally)."),
    "substring": ("substring(s, start, end?) -> string", "The characters of s from start up to end."),
    "indexOf": ("indexOf(s, part) -> number", "The position of part in s, or -1."),
    "matches": ("matches(s, pattern) -> boolean", "Whether the regular expression pattern matches s."),
    "search": ("search(text, query) -> boolean", "Whole-word search: every word of query is a word of text."),
    "abs": ("abs(x) -> number", "The absolute value of x."),
    "round": ("round(x) -> number", "x rounded to the nearest integer (halves upward)."),
    "floor": ("floor(x) -> number", "The largest integer <= x."),
    "ceil": ("ceil(x) -> number", "The smallest integer >= x."),
    "min": ("min(a, b, ...) -> number", "The smallest argument."),
    "max": ("max(a, b, ...) -> number", "The largest argument."),
    "between": ("between(x, low, high) -> boolean", "Whether low <= x <= high."),
    "sum": (
        "sum(list, (item) => value?) -> number",
        "The sum of the numbers of a list (or of a mapper's results).",
    ),
    "avg": ("avg(list, (item) => value?) -> number", "Their average."),
    "min_of": ("min_of(list, (item) => value?) -> number", "Their minimum."),
    "max_of": ("max_of(list, (item) => value?) -> number", "Their maximum."),
    "count_of": ("count_of(list, (item) => condition) -> number", "How many elements satisfy the condition."),
    "filter": ("filter(list, (item) => condition) -> list", "The elements that satisfy the condition."),
    "map": ("map(list, (item) => value) -> list", "Each element mapped."),
    "flat_map": (
        "flat_map(list, (item) => list) -> list",
        "Each element mapped to a list, flattened one level.",
    ),
    "unique_of": ("unique_of(list, (item) => key?) -> list", "The elements without duplicates."),
    "year": ("year(timestamp) -> number", "The year of a timestamp (epoch ms), in UTC."),
    "month": ("month(timestamp) -> number", "Its month, 1-12."),
    "day": ("day(timestamp) -> number", "Its day of the month."),
    "hours": ("hours(timestamp) -> number", "The hours of a timestamp (UTC)."),
    "minutes": ("minutes(timestamp) -> number", "Its minutes."),
    "seconds": ("seconds(timestamp) -> number", "Its seconds."),
    "dateOf": ("dateOf(timestamp) -> date", "The calendar date (YYYY-MM-DD) of a timestamp."),
    "timeOf": ("timeOf(timestamp) -> time", "The time of day (HH:MM:SS) of a timestamp."),
    "datetimeOf": (
        "datetimeOf(date, time?) -> number",
        "Epoch ms of 'YYYY-MM-DD' and 'HH:MM:SS' (null if invalid).",
    ),
    "addDuration": (
        "addDuration(timestamp, ms) -> number",
        "A timestamp moved by a duration in milliseconds.",
    ),
    "durationBetween": ("durationBetween(a, b) -> number", "b - a in milliseconds."),
    "durationDays": ("durationDays(n) -> number", "n days in milliseconds."),
    "durationHours": ("durationHours(n) -> number", "n hours in milliseconds."),
    "durationMinutes": ("durationMinutes(n) -> number", "n minutes in milliseconds."),
    "durationSeconds": ("durationSeconds(n) -> number", "n seconds in milliseconds."),
}

BUILTIN_FUNCTIONS: frozenset[str] = frozenset(BUILTIN_DOCS)

#: the type names the compiler knows (language reference); anything else must be declared
BUILTIN_TYPES: dict[str, str] = {
    "string": "Text.",
    "number": "A number (JSON double).",
    "boolean": "true or false.",
    "int": "An integer (a number).",
    "integer": "An integer (a number).",
    "float": "A number.",
    "bigint": "An integer (a number).",
    "decimal": "A decimal number (decimal(p, s) gives precision and scale).",
    "money": "An amount of money (a number).",
    "date": "A calendar date, 'YYYY-MM-DD'.",
    "datetime": "A point in time: epoch milliseconds or an ISO-8601 string.",
    "timestamp": "A point in time: epoch milliseconds or an ISO-8601 string.",
    "time": "A time of day, 'HH:MM[:SS]'.",
    "duration": "A length of time in milliseconds.",
    "list": "A list: list<T>.",
    "array": "A list: T[] or array<T>.",
    "map": "A map with string keys: map<V>.",
    "record": "The same as map.",
    "json": "Any JSON value.",
    "object": "A JSON object.",
    "any": "Any value (not checked).",
    "void": "No value (command returns).",
}

#: names every expression of an entity can read
CONTEXT_NAMES: dict[str, str] = {
    "self": "The instance (its properties, computed values and relationships).",
    "this": "The same as self.",
    "user": "The acting user (context.user): id, role, ...",
    "context": "The runtime context the engine was given (user, tenantId, ...).",
}
