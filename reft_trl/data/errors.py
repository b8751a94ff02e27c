"""`DataFormatError`: a bad row or file, named by file, row, item id and field."""

from __future__ import annotations


class DataFormatError(ValueError):
    """A data file or row that cannot be turned into a training example.

    The message names where the problem is (file, 0-based row, item id, field) and what it is. Row mappers
    raise it with only `field` and `reason`; the loader adds the location with `located`.

    >>> str(DataFormatError("not a number: 'x'", source="svamp.json", row=3, item_id="svamp_3", field="answer_value"))
    "svamp.json, row 3 (item_id 'svamp_3'), field 'answer_value': not a number: 'x'"
    >>> str(DataFormatError("empty question", field="question").located(source="a.jsonl", row=0))
    "a.jsonl, row 0, field 'question': empty question"
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str | None = None,
        row: int | None = None,
        item_id: str | None = None,
        field: str | None = None,
        line: int | None = None,
    ):
        self.reason = reason
        self.source = source
        self.row = row
        self.item_id = item_id
        self.field = field
        self.line = line
        super().__init__(self._message())

    def _message(self) -> str:
        where = [self.source] if self.source else []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.row is not None:
            row = f"row {self.row}"
            if self.item_id is not None:
                row += f" (item_id {self.item_id!r})"
            where.append(row)
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    def located(self, *, source: str, row: int | None = None, item_id: str | None = None) -> DataFormatError:
        """The same error with its location filled in (values already set are kept)."""
        return DataFormatError(
            self.reason,
            source=self.source or source,
            row=self.row if self.row is not None else row,
            item_id=self.item_id if self.item_id is not None else item_id,
            field=self.field,
            line=self.line,
        )
