"""Refusals: a request the rules do not allow. The code picks the answer template."""


class Refused(Exception):
    """The action is not allowed; `code` names why, `params` fill the answer."""

    def __init__(self, code: str, /, **params: object) -> None:  # params may hold `code`
        super().__init__(code)
        self.code = code
        self.params = params
