"""``python -m promoter.agent_main``: run the stream agent with settings from the environment."""

from plumbing.settings import get_settings
from promoter.agent import run_agent


def main() -> None:
    run_agent(get_settings())


if __name__ == "__main__":
    main()
