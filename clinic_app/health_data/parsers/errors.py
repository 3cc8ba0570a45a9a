"""The one error every parser raises: it names the line (1-based) where the file went wrong."""


class ParseError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message
