"""``python -m promoter.agent_main``: run the stream agent with settings from the environment."""

from promoter.agent import run_agent
from promoter.settings import AgentSettings


def main() -> None:
    run_agent(AgentSettings.load())


if __name__ == "__main__":
    main()
