import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from tools import BraveSearch, LocalSearch, Search, ToolError, ToolsConfig, build_registry, default_registry


def test_defaults_register_the_tools_that_need_no_configuration() -> None:
    assert default_registry().names() == ["calculator", "fetch_url", "join", "python"]


def test_search_and_kb_are_registered_when_configured_relative_to_the_task_file(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("alpha beta", encoding="utf-8")
    (tmp_path / "facts.json").write_text(json.dumps({"k": "v"}), encoding="utf-8")
    config = ToolsConfig.model_validate({"search": {"corpus": "corpus", "k": 3}, "kb": {"file": "facts.json"}})
    registry = build_registry(config, base_dir=tmp_path)
    assert registry.names() == ["calculator", "fetch_url", "join", "kb", "python", "search"]
    search = registry.get("search")
    assert isinstance(search, Search) and isinstance(search.provider, LocalSearch) and search.k == 3


async def test_settings_reach_the_tools(tmp_path: Path) -> None:
    (tmp_path / "facts.json").write_text(json.dumps({"k": "v"}), encoding="utf-8")
    config = ToolsConfig.model_validate(
        {"python": {"timeout_s": 0.5}, "kb": {"file": str(tmp_path / "facts.json"), "latency_s": 0.01},
         "fetch_url": {"allow": ["example.org"]}}
    )  # fmt: skip
    registry = build_registry(config)
    assert await registry.call("kb", {"key": "K"}) == "v"
    with pytest.raises(ToolError, match="^python: timed out after 0.5 s$"):
        await registry.call("python", {"code": "while True:\n    pass"})
    with pytest.raises(ToolError, match="not in the fetch_url allow list \\(example.org\\)"):
        await registry.call("fetch_url", {"url": "http://example.net/"})


def test_brave_search_reads_its_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = ToolsConfig.model_validate({"search": {"provider": "brave", "api_key_env": "TEST_BRAVE_KEY"}})
    monkeypatch.delenv("TEST_BRAVE_KEY", raising=False)
    with pytest.raises(ToolError, match="set the environment variable TEST_BRAVE_KEY"):
        build_registry(config)
    monkeypatch.setenv("TEST_BRAVE_KEY", "secret")
    assert isinstance(build_registry(config).get("search").provider, BraveSearch)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("section", "message"),
    [({"kb": {"file": "nowhere.json"}}, "kb: knowledge file not found: "),
     ({"search": {"corpus": "nowhere"}}, "search: corpus not found: ")],
)  # fmt: skip
def test_a_missing_file_is_one_clear_error(tmp_path: Path, section: dict, message: str) -> None:
    with pytest.raises(ToolError, match=f"^{message}{tmp_path}"):
        build_registry(ToolsConfig.model_validate(section), base_dir=tmp_path)


def test_unknown_keys_are_refused_and_the_config_is_frozen() -> None:
    with pytest.raises(ValidationError, match="python.timeout\n"):
        ToolsConfig.model_validate({"python": {"timeout": 3}})
    with pytest.raises(ValidationError, match="searh"):
        ToolsConfig.model_validate({"searh": {}})
    with pytest.raises(ValidationError):
        ToolsConfig().python.timeout_s = 3  # type: ignore[misc]


def test_every_argument_is_described_for_a_planner(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("alpha", encoding="utf-8")
    (tmp_path / "kb.json").write_text("{}", encoding="utf-8")
    config = ToolsConfig.model_validate({"search": {"corpus": "a.txt"}, "kb": {"file": "kb.json"}})
    for schema in build_registry(config, base_dir=tmp_path).schemas():
        assert schema["description"]
        for name, field in schema["parameters"]["properties"].items():
            assert field.get("description"), f"{schema['name']}.{name}"
