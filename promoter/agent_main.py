"""The stream agent's process: ``splitstream promoter --windows`` and ``python -m
promoter.agent_main`` (settings from the environment).

Faust's worker owns the process: its logging, SIGTERM and SIGINT, and its web view
(``/counts/``); ``run`` lowers the process's CPU priority first and returns only by exiting.
"""

from typing import NoReturn

from promoter.agent import run_agent
from promoter.settings import AgentSettings


def run(settings: AgentSettings) -> NoReturn:
    """Run the stream agent in this process until SIGTERM or SIGINT."""
    run_agent(settings)


def main() -> None:
    run(AgentSettings.load())


if __name__ == "__main__":
    main()
