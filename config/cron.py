"""Backup schedules: one cron dialect in the stack file, checked here, translated where a consumer needs another.

Stack files write every schedule as a standard 5-field cron expression (`minute hour day-of-month month
day-of-week`, the dialect of a Kubernetes CronJob), always in UTC. Each field is `*`, a number, a range
`a-b`, any of those with a step `/n`, or a comma list of them; day-of-week runs 0-7 (0 and 7 are Sunday).
Names (`MON`, `JAN`) and the `@daily` macros are refused: one spelling, checked the same way everywhere.

Elasticsearch's snapshot lifecycle (SLM) takes the Quartz-like cron of Elasticsearch's Watcher
("Cron expressions", elasticsearch reference): `seconds minutes hours day-of-month month day-of-week`,
where one of the two day fields must be `?` and day-of-week counts 1-7 from Sunday or takes names.
`to_elasticsearch` translates (day-of-week as names, so the numbering cannot be misread).
"""

from __future__ import annotations

import re

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12), ("day-of-week", 0, 7))
_PART = re.compile(r"^(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?$")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


def parse(expr: str) -> list[str]:
    """The five fields of a valid expression; ValueError naming the first bad field otherwise."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"{expr!r} is not a 5-field cron expression (minute hour day-of-month month day-of-week)")
    for value, (name, low, high) in zip(fields, FIELDS, strict=True):
        for part in value.split(","):
            match = _PART.match(part)
            if match is None:
                raise ValueError(f"{expr!r}: {name} {part!r} is not *, N, N-M or either with /STEP")
            start, end, step = match.group(2), match.group(3), match.group(4)
            numbers = [int(n) for n in (start, end) if n is not None]
            if any(not low <= n <= high for n in numbers):
                raise ValueError(f"{expr!r}: {name} {part!r} is outside {low}-{high}")
            if len(numbers) == 2 and numbers[0] > numbers[1]:
                raise ValueError(f"{expr!r}: {name} range {part!r} runs backwards")
            if step is not None and int(step) == 0:
                raise ValueError(f"{expr!r}: {name} step must be at least 1")
    return fields


def to_elasticsearch(expr: str) -> str:
    """The same schedule as an Elasticsearch (SLM) cron expression, at second 0.

    Quartz cannot express "this day of the month *or* this weekday" (standard cron's meaning when both
    day fields are restricted), so that combination raises ValueError.
    """
    minute, hour, dom, month, dow = parse(expr)
    if dom != "*" and dow != "*":
        raise ValueError(f"{expr!r}: Elasticsearch schedules restrict day-of-month or day-of-week, not both")
    if dow == "*":
        return f"0 {minute} {hour} {dom} {month} ?"

    def part(value: str) -> str:
        base, _, step = value.partition("/")
        named = re.sub(r"\d+", lambda m: _DAYS[int(m.group(0))], base)
        return f"{named}/{step}" if step else named

    return f"0 {minute} {hour} ? {month} {','.join(part(p) for p in dow.split(','))}"
