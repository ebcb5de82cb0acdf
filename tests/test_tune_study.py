"""The study mechanics of `wsolbench tune` (Optuna, SQLite; no training): exact budget, joining,
requeueing, heartbeats, reproducible configurations, storage errors."""

import time

import pytest

optuna = pytest.importorskip("optuna")

from wsolbench.nn import tune_study  # noqa: E402
from wsolbench.nn.search_space import get_space  # noqa: E402

IDENTITY = {"method": "cam", "space": {"params": ["train.lr"]}}


@pytest.fixture
def storage_url(tmp_path):
    return f"sqlite:///{tmp_path / 'study.db'}"


def _claim_all(study, storage, url):
    claimed = []
    while (trial_id := tune_study.claim_next(study, storage, url)) is not None:
        claimed.append(trial_id)
    return claimed


def test_a_study_has_exactly_its_budget_of_slots_and_each_is_claimed_once(storage_url):
    storage = tune_study.open_storage(storage_url, heartbeat=60)
    study = tune_study.create_or_join(storage, "s", identity=IDENTITY, budget=5, url=storage_url)
    other = tune_study.create_or_join(tune_study.open_storage(storage_url), "s", identity=IDENTITY, budget=5,
                                      url=storage_url)
    first = _claim_all(study, storage, storage_url)
    assert len(first) == 5 and len(set(first)) == 5
    assert _claim_all(other, storage, storage_url) == []
    assert len(study.get_trials()) == 5


def test_joining_checks_the_identity_and_the_budget(storage_url):
    storage = tune_study.open_storage(storage_url)
    tune_study.create_or_join(storage, "s", identity=IDENTITY, budget=3, url=storage_url)
    with pytest.raises(tune_study.StudyError, match="created for another search \\(space differ\\).*--study-name"):
        tune_study.create_or_join(storage, "s", identity={**IDENTITY, "space": {"params": ["x"]}}, budget=3,
                                  url=storage_url)
    with pytest.raises(tune_study.StudyError, match="budget of 3 trials; pass --trials 3"):
        tune_study.create_or_join(storage, "s", identity=IDENTITY, budget=2, url=storage_url)
    study = tune_study.create_or_join(storage, "s", identity=IDENTITY, budget=4, url=storage_url)
    assert len(study.get_trials()) == 4 and study.user_attrs[tune_study.BUDGET_ATTR] == 4


def _suggest(study, storage, trial_id, seed, sampler="random"):
    frozen = storage.get_trial(trial_id)
    study.sampler = tune_study.make_sampler(sampler, seed, tune_study.slot_of(frozen))
    trial = optuna.trial.Trial(study, trial_id)
    return {p.name: p.suggest(trial) for p in get_space("has").for_backbone("smallcnn", lambda k: False).params}


def test_a_slot_draws_the_same_configuration_in_any_study_with_the_same_seed(tmp_path):
    drawn = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        url = f"sqlite:///{tmp_path / (name + '.db')}"
        storage = tune_study.open_storage(url)
        study = tune_study.create_or_join(storage, name, identity=IDENTITY, budget=3, url=url)
        drawn.append([_suggest(study, storage, t, seed) for t in _claim_all(study, storage, url)])
    assert drawn[0] == drawn[1] and drawn[0] != drawn[2]
    lrs = [d["train.lr"] for d in drawn[0]]
    assert len(set(lrs)) == 3 and all(0.01 <= lr <= 0.5 for lr in lrs)
    assert all(8 <= d["method.patch_sizes"] <= 112 and 0 <= d["method.hide_prob"] <= 1 for d in drawn[0])


def test_an_interrupted_trial_is_requeued_with_its_parameters_and_slot(storage_url):
    storage = tune_study.open_storage(storage_url)
    study = tune_study.create_or_join(storage, "s", identity=IDENTITY, budget=2, url=storage_url)
    first = tune_study.claim_next(study, storage, storage_url)
    params = _suggest(study, storage, first, 0)
    tune_study.requeue(study, storage, first)
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "WAITING", "WAITING"]
    retry = trials[2]
    assert tune_study.slot_of(retry) == trials[0].number and retry.params == params
    claimed = _claim_all(study, storage, storage_url)
    assert _suggest(study, storage, claimed[-1], 0) == params   # the retry draws nothing new


def test_a_trial_whose_worker_stopped_beating_is_failed_and_requeued(storage_url):
    storage = tune_study.open_storage(storage_url, heartbeat=1)
    study = tune_study.create_or_join(storage, "s", identity=IDENTITY, budget=1, url=storage_url)
    dead = tune_study.claim_next(study, storage, storage_url)
    alive = tune_study.open_storage(storage_url, heartbeat=1)
    with tune_study.Heartbeat(alive, dead, 1):
        time.sleep(2.5)
        tune_study.fail_stale(study)          # still beating: nothing happens
        assert [t.state.name for t in study.get_trials()] == ["RUNNING"]
    time.sleep(3.0)
    tune_study.fail_stale(study)
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "WAITING"] and tune_study.slot_of(trials[1]) == 0


@pytest.mark.parametrize("url,match", [
    ("postgresql://nobody:secret@127.0.0.1:1/none", "cannot open the study storage postgresql://nobody:\\*\\*\\*@"),
    ("runs/study.db", "not a database URL"),
    ("sqlite:////nonexistent-folder-xyz/study.db", "does not exist"),
    ("nosuchdb://host/db", "cannot open the study storage"),
])
def test_unusable_storages_are_one_line_errors(url, match):
    with pytest.raises(tune_study.StudyError, match=match) as info:
        tune_study.open_storage(url)
    assert "\n" not in str(info.value) and "secret" not in str(info.value)


def test_a_missing_study_lists_the_studies_there(storage_url):
    storage = tune_study.open_storage(storage_url)
    tune_study.create_or_join(storage, "present", identity=IDENTITY, budget=1, url=storage_url)
    with pytest.raises(tune_study.StudyError, match="no study 'absent'.*studies there: present"):
        tune_study.load_existing(storage, "absent", storage_url)


def test_tpe_draws_in_the_space_and_an_unknown_sampler_is_refused(storage_url):
    storage = tune_study.open_storage(storage_url)
    study = tune_study.create_or_join(storage, "s", identity=IDENTITY, budget=3, url=storage_url)
    for trial_id in _claim_all(study, storage, storage_url):
        params = _suggest(study, storage, trial_id, 0, sampler="tpe")
        study.tell(storage.get_trial(trial_id).number, params["method.hide_prob"])
        assert 0.01 <= params["train.lr"] <= 0.5
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE"] * 3
    with pytest.raises(tune_study.StudyError, match="unknown sampler 'grid'"):
        tune_study.make_sampler("grid", 0, 0)
