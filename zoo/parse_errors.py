"""One line out of jsonargparse's parse errors: which option, what value, what was expected.

jsonargparse reports a bad ``--model.latent_dim abc`` as a 90-line tree of every type it
tried (the model's union with None, each subclass, the value as it arrived); the user
needs one branch of it. :func:`condense` finds that branch; ``--debug`` shows the tree.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

_KEY = re.compile(r'Parser key "([^"]+)"')
_EXPECTED = re.compile(r"^(\s*)(?:- )?Expected an? (.+?)(?:\. Got value: (.*))?$")
_NESTED_VALUE = re.compile(r"NestedArg\(key='([^']*)', val=(.*)\)$")


def _type_name(text: str) -> str:
    """``<class 'int'>`` -> ``int``; ``typing.Literal['a', 'b']`` -> ``one of 'a', 'b'``."""
    text = re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", text)
    literal = re.fullmatch(r"(?:typing\.)?Literal\[(.*)\]", text)
    if literal:
        return f"one of {literal.group(1)}"
    return {"NoneType": "null", "bool": "true or false"}.get(text, text.replace("typing.", ""))


def _close(word: str, choices: Iterable[str]) -> str:
    matches = difflib.get_close_matches(word, list(dict.fromkeys(choices)), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(matches)}?" if matches else ""


_YAML_MARK = re.compile(r'in ".*", line (\d+), column (\d+)$')


def _yaml_error(report: str, config: str | None) -> str:
    """PyYAML's report (context, its mark, problem, its mark) as one line that leads with the problem's line."""
    where = f"--config {config}" if config else "--config"
    lines = [line.strip() for line in report.strip().splitlines() if line.strip()]
    marks = [index for index, line in enumerate(lines) if _YAML_MARK.match(line)]
    if not marks:
        return f"{where}: YAML syntax error: {' '.join(lines)}"
    line, column = _YAML_MARK.match(lines[marks[-1]]).groups()
    problem = lines[marks[-1] - 1] if marks[-1] > 0 else "invalid YAML"
    context = ""
    if len(marks) > 1 and marks[0] > 0:  # "while parsing a flow sequence" and where that began
        context_line, context_column = _YAML_MARK.match(lines[marks[0]]).groups()
        context = f" ({lines[marks[0] - 1]} that starts at line {context_line}, column {context_column})"
    return f"{where}: YAML syntax error at line {line}, column {column}: {problem}{context}"


def classes_named(message: str) -> list[str]:
    """The class paths a jsonargparse error names (``Problem with given class_path '...'``)."""
    return re.findall(r"class_path '([\w.]+)'", message)


def condense(message: str, options: Iterable[str] = (), subcommand: str | None = None, config: str | None = None) -> str:
    """The one meaningful line of a jsonargparse error ``message``.

    ``options`` are the flags a close match is looked for in; ``subcommand`` (``fit``) is dropped from the
    keys jsonargparse prefixes with it; ``config`` names the ``--config`` file a YAML error is in.
    """
    if subcommand:
        message = re.sub(rf"(?<=[\"' ]){subcommand}\.", "", message)
    lines = [line for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return "could not parse the arguments"
    if "Problems parsing config:" in message:
        return _yaml_error(message.split("Problems parsing config:", 1)[1], config)
    keys = _KEY.findall(message)
    # `--model.latent_dim abc` arrives as key "model" with a nested key "latent_dim"; `--trainer.max_epochs x` as one.
    flag = "--" + ".".join(dict.fromkeys(keys)) if keys else None

    unknown = re.search(r"Option '([^']+)' is not accepted", message) or re.search(
        r"does not accept (?:option|nested key) '([^']+)'", message)
    if unknown:
        name = unknown.group(1)
        where = f"{flag}.{name}" if flag and not name.startswith(flag[2:] + ".") else f"--{name}"
        return f"{where} is not an option{_close(where, options)}"
    if match := re.search(r"unrecognized arguments: (.*)", message):
        first = match.group(1).split()[0]
        return f"unrecognized argument {first}{_close(first.split('=')[0], options)}"
    if match := re.search(r"the following arguments are required: (.*)", message):
        missing = [name.strip() for name in match.group(1).split(",")]
        prefix = flag + "." if flag else "--"
        return "missing " + ", ".join(prefix + name for name in missing)
    if match := re.search(r'Parser key "config":\s*(.*)', message):
        return f"--config: {match.group(1).strip()}"
    if match := re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message):
        return f"unknown subcommand '{match.group(1)}'; choose from {match.group(2)}"

    expected = [(len(m.group(1)), _type_name(m.group(2)), m.group(3))
                for m in (_EXPECTED.match(line) for line in lines) if m]
    if flag and expected:
        deepest = max(indent for indent, _, _ in expected)
        types = list(dict.fromkeys(name for indent, name, _ in expected if indent == deepest))
        got = next((value for indent, _, value in reversed(expected) if value is not None), None)
        if got is None:
            given = re.search(r"Given value: (.*)", message)
            got = given.group(1).strip() if given else None
            nested = _NESTED_VALUE.match(got or "")
            if nested:
                got = nested.group(2).strip("'")
        value = f" {got}" if got is not None else ""
        return f"{flag}{value}: expected {' or '.join(types)}"
    # Anything else: the first line that is not a key header, which names the problem.
    detail = next((line.strip() for line in lines if not _KEY.fullmatch(line.strip().rstrip(":"))), lines[0])
    return f"{flag}: {detail}" if flag and detail != lines[0] else detail
