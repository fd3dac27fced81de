"""minillm.lang: the two editions' notebooks pick their words by the folder they run in."""
import pytest

from minillm.lang import language, tr


def test_the_language_follows_the_folder_and_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("MINILLM_LANG", raising=False)
    (tmp_path / "notebooks" / "zh").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "notebooks")
    assert language() == "en" and tr("loss", "损失") == "loss"
    monkeypatch.chdir(tmp_path / "notebooks" / "zh")
    assert language() == "zh" and tr("loss", "损失") == "损失"
    monkeypatch.setenv("MINILLM_LANG", "en")
    assert tr("loss", "损失") == "loss"
    monkeypatch.setenv("MINILLM_LANG", "fr")
    with pytest.raises(ValueError, match="MINILLM_LANG must be one of en, zh, got 'fr'"):
        language()


def test_tr_refuses_what_is_not_text():
    with pytest.raises(TypeError, match="two str"):
        tr("loss", None)
