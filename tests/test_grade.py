"""The graders' command scores only what a checkpoint has learned."""
import json

from conftest import _jpeg, run_main
from onehead.grade import main as grade_main
from onehead.predict import main as predict_main
from test_predict import save_checkpoint_of


def test_grading_a_task_the_checkpoint_never_learned(tmp_path, data_root, capsys):
    stage1 = save_checkpoint_of(tmp_path / "stage1_seg.pt", data_root, ["seg"])
    code, _, err = run_main(capsys, grade_main, ["--weights", stage1, "--data_root", data_root, "--tasks", "cls"])
    assert code == 2 and "stage1_seg.pt: this checkpoint has not learned cls (it learned seg)" in err
    out_json = tmp_path / "eval.json"
    code, out, err = run_main(capsys, grade_main, ["--weights", stage1, "--data_root", data_root, "--tasks", "all",
                                              "--out", out_json])
    assert code == 0, err
    assert "has not learned det (it learned seg); skipped" in err and "has not learned cls" in err
    assert set(json.loads(out_json.read_text())) == {"weights", "data_root", "split", "seg"}
    assert "top1" not in out and "miou" in out
    photo = tmp_path / "photo.jpg"
    _jpeg(photo)
    code, _, err = run_main(capsys, predict_main, ["--weights", stage1, "--out", tmp_path / "pred", photo])
    assert code == 0 and "stage1_seg.pt has not learned det, cls; those outputs are untrained" in err
