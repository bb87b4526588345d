"""`apart --fresh` starts tests and benchmarks from an empty state folder, and deletes only one it made."""

from pipeline.stack.__main__ import MADE_APART, renew


def test_a_folder_renew_made_is_emptied_each_time(settings, tmp_path):
    stack = settings.model_copy(update={"state_dir": tmp_path / "test"})
    renew([], stack)
    (tmp_path / "test" / "checkpoints").mkdir()
    (tmp_path / "test" / "checkpoints" / "metadata").write_text("{}")
    renew([], stack)
    assert sorted(path.name for path in (tmp_path / "test").iterdir()) == [MADE_APART]


def test_a_folder_make_up_made_is_kept_as_it_is(settings, tmp_path):
    (tmp_path / "var" / "mysql").mkdir(parents=True)
    renew([], settings.model_copy(update={"state_dir": tmp_path / "var"}))
    assert sorted(path.name for path in (tmp_path / "var").iterdir()) == ["mysql"]
