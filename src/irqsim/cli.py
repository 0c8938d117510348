"""Command-line interface (placeholder, filled in by the demo work)."""


def main() -> None:
    print("irqsim")
