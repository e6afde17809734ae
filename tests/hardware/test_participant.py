"""The virtual participant: reproducibility, the timing and force models, profiles and presets."""

from __future__ import annotations

import ast
import dataclasses
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hardware.clock import NS_PER_S
from hardware.errors import StationError
from hardware.sim import participant as participant_module
from hardware.sim.participant import (
    FINGERS,
    Contact,
    Edge,
    Hand,
    ParticipantProfile,
    ProfileError,
    TapScript,
    VirtualParticipant,
    load_profile,
    preset_names,
)

T0_NS = 1_000 * NS_PER_S
NS_PER_MS = 1_000_000
PRESETS = ("healthy", "older", "nerve_injury", "musician")
HOLES = [f"h{i}" for i in range(1, 10)]
PRESET_DIR = Path(participant_module.__file__).parent / "presets"


def tuned(name: str, **sections: dict[str, Any]) -> ParticipantProfile:
    """A preset with some parameters replaced, e.g. ``tuned("healthy", pegs={"drop_prob": 0})``."""
    profile = load_profile(name)
    changes = {s: dataclasses.replace(getattr(profile, s), **v) for s, v in sections.items()}
    return dataclasses.replace(profile, **changes)


def ms(t_ns: float) -> float:
    return t_ns / NS_PER_MS


def assert_valid_edges(edges: list[Edge] | tuple[Edge, ...]) -> None:
    """Strictly increasing times, alternating levels starting with a press, ending released."""
    times = [t for t, _ in edges]
    levels = [level for _, level in edges]
    assert all(isinstance(t, int) for t in times)
    assert all(b > a for a, b in pairwise(times))
    assert levels[0] == 1 and levels[-1] == 0
    assert all(b != a for a, b in pairwise(levels))


def plateau(trace: Any, start_ns: int, end_ns: int) -> np.ndarray:
    """The trace sampled at 1 kHz over [start_ns, end_ns)."""
    return trace(np.arange(start_ns, end_ns, NS_PER_MS, dtype=np.int64))


# ---- profiles and presets ----------------------------------------------------------------------


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads_and_says_it_is_not_normative(name: str) -> None:
    assert name in preset_names()
    profile = load_profile(name)
    assert profile.name == name
    assert load_profile(str(PRESET_DIR / f"{name}.toml")) == profile
    header = (PRESET_DIR / f"{name}.toml").read_text().split("\n\n")[0]
    assert "SIMULATION PARAMETERS" in header and "NOT normative" in header


def test_presets_are_ordered_as_described() -> None:
    healthy, older, injured, musician = (load_profile(n) for n in PRESETS)
    assert older.tapping.clock_sd_ms > healthy.tapping.clock_sd_ms > musician.tapping.clock_sd_ms
    assert musician.tapping.preferred_iti_ms < healthy.tapping.preferred_iti_ms
    assert older.pegs.reach_ms > healthy.pegs.reach_ms
    assert injured.force.max_force_n < healthy.force.max_force_n
    assert injured.force.tremor_amplitude_n > healthy.force.tremor_amplitude_n
    assert injured.pegs.drop_prob > healthy.pegs.drop_prob
    assert injured.reaction.choice_error_prob > healthy.reaction.choice_error_prob


def test_finger_table_overrides_max_force() -> None:
    force = load_profile("healthy").force
    assert force.max_force_for("index") == 32.0
    assert force.max_force_for("little") == 16.0
    assert dataclasses.replace(force, finger_max_force_n=()).max_force_for("ring") == 30.0


def write_variant(tmp_path: Path, old: str, new: str, name: str = "bad.toml") -> Path:
    text = (PRESET_DIR / "healthy.toml").read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "clock_sd_ms = 12.0",
            'clock_sd_ms = "x"',
            'bad.toml: [tapping] clock_sd_ms must be a number >= 0, got "x"',
        ),
        (
            "clock_sd_ms = 12.0",
            "clock_sd_ms = -1",
            "bad.toml: [tapping] clock_sd_ms must be a number >= 0, got -1",
        ),
        (
            "drop_prob = 0.02",
            "drop_prob = 1.0",
            "bad.toml: [pegs] drop_prob must be a number in [0, 1), got 1.0",
        ),
        (
            "sync_correction_gain = 0.5",
            "sync_correction_gain = true",
            "bad.toml: [tapping] sync_correction_gain must be a number in [0, 1], got true",
        ),
        (
            "rise_time_ms = 200.0",
            "rise_time_ms = 0",
            "bad.toml: [force] rise_time_ms must be a number > 0, got 0",
        ),
        (
            "simple_rt_ms = 250.0",
            "simple_rt_ms = 250.0\nsimple_rt = 1",
            "[reaction] unknown key 'simple_rt'",
        ),
        ("rt_sd_ms = 40.0\n", "", "bad.toml: [reaction] rt_sd_ms is missing"),
        ("little = 16.0", "thumb = 16.0", "[force] finger_max_force_n: unknown finger 'thumb'"),
        ("little = 16.0", "little = -2", "[force] finger_max_force_n.little must be a number > 0"),
        ("[switch]", "[switches]", "bad.toml: unknown section or key 'switches'"),
        ('name = "healthy"', "name = 3", "bad.toml: name must be a string, got 3"),
        ("[pegs]", "pegs = 1\n[pegs_old]", "bad.toml: unknown section or key 'pegs_old'"),
        ("[tapping]", "[tapping", "bad.toml: not valid TOML"),
    ],
)
def test_profile_errors_name_file_key_and_problem(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = write_variant(tmp_path, old, new)
    with pytest.raises(ProfileError) as info:
        ParticipantProfile.from_toml(path)
    assert message in str(info.value)
    assert isinstance(info.value, StationError)


def test_missing_section_and_missing_file_and_unknown_preset(tmp_path: Path) -> None:
    text = (PRESET_DIR / "healthy.toml").read_text()
    path = tmp_path / "short.toml"
    path.write_text(text.split("[switch]")[0])
    with pytest.raises(ProfileError, match=r"short\.toml: missing section \[switch\]"):
        load_profile(str(path))
    with pytest.raises(ProfileError, match=r"nowhere\.toml: cannot read"):
        load_profile(str(tmp_path / "nowhere.toml"))
    with pytest.raises(
        ProfileError, match=r"no participant preset 'athlete' \(available: .*healthy"
    ):
        load_profile("athlete")


# ---- reproducibility ---------------------------------------------------------------------------


def run_everything(seed: int) -> list[Any]:
    vp = VirtualParticipant("healthy", seed)
    beats = [T0_NS + i * 500 * NS_PER_MS for i in range(12)]
    hold = vp.hold(T0_NS, 3.0, 8.0)
    pegs = vp.pegboard(T0_NS, HOLES)
    t = np.arange(T0_NS, T0_NS + 3 * NS_PER_S, 7 * NS_PER_MS + 13, dtype=np.int64)
    return [
        vp.switch_edges(T0_NS, T0_NS + 80 * NS_PER_MS),
        vp.tapping(T0_NS, 50),
        vp.synchronize(beats, 10),
        vp.reaction(T0_NS, choice=True),
        dataclasses.replace(pegs, home_force=None, dish_force=None),
        pegs.home_force(t).tolist(),
        hold(t).tolist(),
        vp.max_effort(T0_NS, 3.0, "middle")(t).tolist(),
    ]


def test_same_seed_gives_identical_scripts_and_different_seeds_differ() -> None:
    first, again, other = run_everything(7), run_everything(7), run_everything(8)
    assert first == again
    for a, b in zip(first, other, strict=True):
        assert a != b


def test_force_values_do_not_depend_on_call_order() -> None:
    trace = VirtualParticipant("older", 3).hold(T0_NS, 4.0, 6.0)
    t = np.arange(T0_NS - NS_PER_S, T0_NS + 5 * NS_PER_S, 997_001, dtype=np.int64)
    forward = trace(t)
    backward = trace(t[::-1])[::-1]
    one_by_one = np.array([trace(int(x)) for x in t[::37]])
    np.testing.assert_array_equal(forward, backward)
    np.testing.assert_array_equal(forward[::37], one_by_one)
    assert isinstance(trace(T0_NS), float)
    assert np.all(forward >= 0.0)


def test_seed_must_be_explicit_and_non_negative() -> None:
    with pytest.raises(ValueError, match="seed"):
        VirtualParticipant("healthy", -1)


# ---- switch bounce -----------------------------------------------------------------------------


@pytest.mark.parametrize("contact", ["button", "hole"])
def test_bounce_stays_in_its_window_and_never_changes_the_final_level(contact: Contact) -> None:
    profile = load_profile("healthy")
    bounce_ms, _ = profile.switch.for_contact(contact)
    vp = VirtualParticipant(profile, 11)
    bursts = 0
    for k in range(300):
        press = T0_NS + k * NS_PER_S
        release = press + (2 + k % 60) * NS_PER_MS  # some presses shorter than the bounce window
        edges = vp.switch_edges(press, release, contact=contact)
        assert_valid_edges(edges)
        assert edges[0] == (press, 1)
        pressed = [e for e in edges if e[0] < release]
        released = [e for e in edges if e[0] >= release]
        assert pressed[-1][1] == 1  # settled closed before the release
        assert released[0] == (release, 0)
        assert pressed[-1][0] <= press + bounce_ms * NS_PER_MS
        assert released[-1][0] <= release + bounce_ms * NS_PER_MS
        bursts += len(edges) > 2
    assert bursts > 200  # bounce is really there


def test_release_bounce_ends_before_until() -> None:
    vp = VirtualParticipant("healthy", 2)
    for k in range(200):
        press = T0_NS + k * NS_PER_S
        edges = vp.switch_edges(press, press + 50 * NS_PER_MS, until_t_ns=press + 51 * NS_PER_MS)
        assert edges[-1][0] < press + 51 * NS_PER_MS


# ---- tapping: Wing-Kristofferson ---------------------------------------------------------------


def wk_estimates(script: TapScript) -> tuple[float, float, float]:
    """(motor variance, clock variance, lag-1 autocorrelation) of the intended ITIs."""
    iti = script.intended_iti_ms
    dev = iti - iti.mean()
    var = float(np.mean(dev**2))
    acov1 = float(np.mean(dev[1:] * dev[:-1]))
    motor = -acov1
    return motor, var - 2.0 * motor, acov1 / var


@pytest.mark.parametrize("name", ["healthy", "nerve_injury"])
def test_wing_kristofferson_variances_are_recovered(name: str) -> None:
    profile = tuned(name, tapping={"fatigue_iti_slope_ms_per_s": 0.0})
    script = VirtualParticipant(profile, 5).tapping(T0_NS, 20_000)
    assert script.clock_var_ms2 == profile.tapping.clock_sd_ms**2
    assert script.motor_var_ms2 == profile.tapping.motor_sd_ms**2
    motor, clock, rho1 = wk_estimates(script)
    assert motor == pytest.approx(script.motor_var_ms2, rel=0.15)
    assert clock == pytest.approx(script.clock_var_ms2, rel=0.15)
    assert -0.5 < rho1 < 0.0
    assert np.mean(script.intended_iti_ms) == pytest.approx(
        profile.tapping.preferred_iti_ms, rel=0.01
    )


def test_fatigue_slope_is_recovered_by_regression() -> None:
    profile = tuned("healthy", tapping={"fatigue_iti_slope_ms_per_s": 2.0})
    script = VirtualParticipant(profile, 9).tapping(T0_NS, duration_s=60.0)
    onsets_s = (np.asarray(script.intended_t_ns[:-1]) - T0_NS) / NS_PER_S
    slope, intercept = np.polyfit(onsets_s, script.intended_iti_ms, 1)
    assert slope == pytest.approx(2.0, rel=0.1)
    assert intercept == pytest.approx(profile.tapping.preferred_iti_ms, abs=10.0)


def test_tapping_by_duration_starts_on_time_and_stays_inside() -> None:
    script = VirtualParticipant("musician", 1).tapping(T0_NS, duration_s=10.0)
    assert script.intended_t_ns[0] == T0_NS
    assert script.intended_t_ns[-1] < T0_NS + 10 * NS_PER_S
    assert 55 <= len(script.intended_t_ns) <= 70  # ~10 s / 160 ms, minus fatigue
    assert_valid_edges(script.edges)


def test_missed_and_extra_taps_follow_their_probabilities() -> None:
    profile = tuned("healthy", tapping={"missed_tap_prob": 0.2, "extra_tap_prob": 0.1})
    script = VirtualParticipant(profile, 4).tapping(T0_NS, 3000)
    extras = [tap for tap in script.taps if not tap.intended]
    assert len(script.missed_t_ns) / 3000 == pytest.approx(0.2, abs=0.025)
    assert len(extras) / (3000 - len(script.missed_t_ns)) == pytest.approx(0.1, abs=0.02)
    made = {tap.onset_t_ns for tap in script.taps if tap.intended}
    assert made.isdisjoint(script.missed_t_ns)
    assert made | set(script.missed_t_ns) == set(script.intended_t_ns)
    # the edges play exactly the physical taps, each closing at its onset and opening at its release
    assert_valid_edges(script.edges)
    edges = dict(script.edges)
    for tap in script.taps:
        assert edges[tap.onset_t_ns] == 1 and edges[tap.release_t_ns] == 0
    onsets = list(script.onsets_t_ns)
    assert onsets == sorted(onsets)
    assert all(d > 0 for d in script.press_durations_ns)


# ---- synchronization-continuation --------------------------------------------------------------


def beats(n: int, ioi_ms: int = 500) -> list[int]:
    return [T0_NS + i * ioi_ms * NS_PER_MS for i in range(n)]


def test_synchronization_settles_at_the_mean_asynchrony_and_continues_at_the_beat() -> None:
    profile = tuned("healthy", tapping={"fatigue_iti_slope_ms_per_s": 0.0})
    script = VirtualParticipant(profile, 3).synchronize(beats(600), 400)
    assert script.n_sync == 600 and len(script.intended_t_ns) == 1000
    assert script.beat_t_ns == tuple(beats(600))
    async_ms = np.asarray(script.asynchronies_ms)
    assert np.mean(async_ms[20:]) == pytest.approx(profile.tapping.sync_asynchrony_ms, abs=3.0)
    cont_iti = np.diff(np.asarray(script.intended_t_ns[599:])) / NS_PER_MS
    assert np.mean(cont_iti) == pytest.approx(500.0, abs=3.0)
    assert_valid_edges(script.edges)


@pytest.mark.parametrize("alpha", [0.1, 0.5, 0.9])
def test_phase_correction_gives_the_theoretical_asynchrony_variance(alpha: float) -> None:
    # A_n = m + y_n + D_n with y_{n+1} = (1 - alpha) y_n + (C_n - IOI) - alpha D_n (an AR(1)), so
    # var(A) = (clock_var + alpha^2 motor_var) / (1 - (1 - alpha)^2) + motor_var.
    profile = tuned("healthy", tapping={"sync_correction_gain": alpha})
    script = VirtualParticipant(profile, 6).synchronize(beats(3000), 0)
    clock_var, motor_var = script.clock_var_ms2, script.motor_var_ms2
    theory_var = (clock_var + alpha**2 * motor_var) / (1 - (1 - alpha) ** 2) + motor_var
    assert np.std(script.asynchronies_ms[50:]) == pytest.approx(np.sqrt(theory_var), rel=0.12)


def test_synchronize_rejects_bad_beats() -> None:
    vp = VirtualParticipant("healthy", 0)
    with pytest.raises(ValueError):
        vp.synchronize([T0_NS], 3)
    with pytest.raises(ValueError):
        vp.synchronize([T0_NS, T0_NS], 3)


# ---- reaction ----------------------------------------------------------------------------------


def test_reaction_times_anticipations_and_choice_errors() -> None:
    profile = tuned("healthy", reaction={"anticipation_prob": 0.1, "choice_error_prob": 0.2})
    vp = VirtualParticipant(profile, 12)
    simple = [vp.reaction(T0_NS + k * 5 * NS_PER_S) for k in range(800)]
    choice = [vp.reaction(T0_NS, choice=True, target="middle") for _ in range(800)]
    for trials, mean_ms in ((simple, 250.0), (choice, 400.0)):
        rts = [s.rt_ms for s in trials if not s.anticipation]
        assert np.mean(rts) == pytest.approx(mean_ms, rel=0.03)
        assert np.std(rts) == pytest.approx(profile.reaction.rt_sd_ms, rel=0.15)
        assert min(rts) > 0
    anticipations = [s for s in simple + choice if s.anticipation]
    assert len(anticipations) / 1600 == pytest.approx(0.1, abs=0.025)
    assert all(-150.0 <= s.rt_ms < 0 for s in anticipations)
    errors = [s for s in choice if s.error]
    assert len(errors) / 800 == pytest.approx(0.2, abs=0.05)
    assert all(s.finger in FINGERS and s.finger != "middle" for s in errors)
    assert not any(s.error for s in simple)
    for s in simple[:50] + choice[:50]:
        assert s.edges[0] == (s.onset_t_ns, 1)
        assert (s.release_t_ns, 0) in s.edges
        assert_valid_edges(s.edges)


# ---- pegboard ----------------------------------------------------------------------------------


def expected_peg_total_ms(profile: ParticipantProfile, n: int, factor: float = 1.0) -> float:
    p = profile.pegs
    placement = p.reach_ms + p.grasp_ms + p.transport_ms + p.insert_ms
    removal = p.reach_ms + p.remove_ms + p.dish_ms
    return profile.reaction.simple_rt_ms + factor * (n * (placement + removal) + p.reach_ms)


def test_pegboard_events_are_ordered_and_hole_switches_follow_them() -> None:
    profile = load_profile("older")
    hole_bounce_ns = profile.switch.hole_bounce_ms * NS_PER_MS
    script = VirtualParticipant(profile, 21).pegboard(T0_NS, HOLES)
    inserts = [script.insert_ns[h] for h in HOLES]
    removes = [script.remove_ns[h] for h in HOLES]
    sequence = [script.start_t_ns, script.home_liftoff_ns, script.first_touch_ns, *inserts]
    for remove_ns, dish_ns in zip(removes, script.dish_ns, strict=True):
        sequence += [remove_ns, dish_ns]
    sequence.append(script.home_return_ns)
    assert sequence == sorted(sequence) and len(set(sequence)) == len(sequence)
    assert script.placement_done_ns == inserts[-1]
    for hole in HOLES:
        edges = script.hole_edges[hole]
        assert_valid_edges(edges)
        assert edges[0] == (script.insert_ns[hole], 1)
        assert (script.remove_ns[hole], 0) in edges
        assert [lv for t, lv in edges if t < script.remove_ns[hole]][
            -1
        ] == 1  # closed until removal
        assert edges[-1][0] <= script.remove_ns[hole] + hole_bounce_ns


@pytest.mark.parametrize(("hand", "factor"), [("dominant", 1.0), ("non_dominant", 1.1)])
def test_pegboard_total_time_is_the_sum_of_its_components(hand: Hand, factor: float) -> None:
    exact = tuned(
        "healthy", pegs={"sd_fraction": 0.0, "drop_prob": 0.0}, reaction={"rt_sd_ms": 0.0}
    )
    script = VirtualParticipant(exact, 0).pegboard(T0_NS, HOLES, hand)
    total_ms = ms(script.home_return_ns - T0_NS)
    assert total_ms == pytest.approx(expected_peg_total_ms(exact, 9, factor), abs=1e-4)
    assert ms(script.home_liftoff_ns - T0_NS) == pytest.approx(250.0, abs=1e-6)

    noisy = tuned("healthy", pegs={"drop_prob": 0.0})
    scripts = [VirtualParticipant(noisy, seed).pegboard(T0_NS, HOLES, hand) for seed in range(40)]
    totals = [ms(s.home_return_ns - T0_NS) for s in scripts]
    assert np.mean(totals) == pytest.approx(expected_peg_total_ms(noisy, 9, factor), rel=0.02)
    assert np.std(totals) > 100.0  # the components really vary


def test_dropped_pegs_are_recorded_and_cost_a_re_pick() -> None:
    profile = tuned(
        "healthy", pegs={"sd_fraction": 0.0, "drop_prob": 0.3}, reaction={"rt_sd_ms": 0.0}
    )
    script = VirtualParticipant(profile, 8).pegboard(T0_NS, HOLES)
    p = profile.pegs
    n_drops = len(script.drops)
    assert n_drops > 0
    assert {d.phase for d in script.drops} <= {"placement", "removal"}
    assert all(T0_NS < d.t_ns < script.home_return_ns for d in script.drops)
    extra_ms = ms(script.home_return_ns - T0_NS) - expected_peg_total_ms(profile, 9)
    assert n_drops * (p.reach_ms + p.grasp_ms) <= extra_ms + 1e-3
    assert extra_ms <= n_drops * (p.reach_ms + p.grasp_ms + max(p.transport_ms, p.dish_ms))


def test_home_and_dish_pads_show_the_hand_and_the_impacts() -> None:
    profile = load_profile("healthy")
    script = VirtualParticipant(profile, 4).pegboard(T0_NS, HOLES)
    rest_n = profile.pegs.home_rest_force_n
    home = script.home_force
    rise_ns = int(profile.force.rise_time_ms * NS_PER_MS)
    assert home(T0_NS - 5 * NS_PER_S) == pytest.approx(rest_n, abs=0.1)
    assert home(script.home_liftoff_ns - rise_ns) == pytest.approx(rest_n, abs=0.1)
    assert home(script.home_liftoff_ns + NS_PER_MS) < 0.1
    assert home(script.home_return_ns) < 0.1
    assert home(script.home_return_ns + rise_ns + 10 * NS_PER_S) == pytest.approx(rest_n, abs=0.1)
    half_impact_ns = int(profile.pegs.dish_impact_ms * NS_PER_MS / 2)
    for dish_ns in script.dish_ns:
        peak = script.dish_force(dish_ns + half_impact_ns)
        assert peak == pytest.approx(profile.pegs.dish_impact_peak_n, abs=0.1)
        assert script.dish_force(dish_ns - 50 * NS_PER_MS) < 0.1


# ---- force -------------------------------------------------------------------------------------


def tremor_peak_hz(force: np.ndarray) -> float:
    detrended = force - np.polyval(
        np.polyfit(np.arange(force.size), force, 2), np.arange(force.size)
    )
    spectrum = np.abs(np.fft.rfft(detrended * np.hanning(force.size)))
    freqs = np.fft.rfftfreq(force.size, d=1e-3)
    band = freqs > 3.0  # above the slow fluctuation
    return float(freqs[band][np.argmax(spectrum[band])])


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("target_n", [4.0, 10.0])
def test_tremor_peak_frequency_is_recovered_and_independent_of_force(
    name: str, target_n: float
) -> None:
    profile = load_profile(name)
    trace = VirtualParticipant(profile, 13).hold(T0_NS, 12.0, target_n)
    force = plateau(trace, T0_NS + NS_PER_S, T0_NS + 11 * NS_PER_S)
    assert tremor_peak_hz(force) == pytest.approx(profile.force.tremor_frequency_hz, abs=0.5)


@pytest.mark.parametrize("name", PRESETS)
def test_hold_mean_and_variability(name: str) -> None:
    profile = load_profile(name)
    f = profile.force
    target_n = 0.5 * f.max_force_for("index")
    trace = VirtualParticipant(profile, 2).hold(T0_NS, 8.0, target_n)
    force = plateau(trace, T0_NS + NS_PER_S, T0_NS + 7 * NS_PER_S)
    assert np.mean(force) == pytest.approx(target_n, rel=0.03)
    tremor_sd = f.tremor_amplitude_n * target_n / f.tremor_reference_force_n / np.sqrt(2)
    expected_sd = np.hypot(f.steadiness_cv * target_n, tremor_sd)
    assert np.std(force) == pytest.approx(expected_sd, rel=0.3)
    assert trace(T0_NS - NS_PER_MS) < 0.2 and trace(T0_NS + 8 * NS_PER_S + NS_PER_MS) < 0.2


def test_hold_above_maximum_is_capped() -> None:
    profile = load_profile("nerve_injury")
    trace = VirtualParticipant(profile, 2).hold(T0_NS, 4.0, 100.0, "ring")
    force = plateau(trace, T0_NS + NS_PER_S, T0_NS + 3 * NS_PER_S)
    assert np.mean(force) == pytest.approx(profile.force.max_force_for("ring"), rel=0.05)


@pytest.mark.parametrize("finger", FINGERS)
def test_max_effort_reaches_the_finger_maximum_and_fatigues(finger: str) -> None:
    profile = load_profile("healthy")
    f = profile.force
    trace = VirtualParticipant(profile, 17).max_effort(T0_NS, 10.0, finger)
    rise_ns = int(f.rise_time_ms * NS_PER_MS)
    assert trace(T0_NS) < 0.2
    first = plateau(trace, T0_NS + rise_ns, T0_NS + rise_ns + NS_PER_S)
    assert np.mean(first) == pytest.approx(f.max_force_for(finger), rel=0.05)
    last = plateau(trace, T0_NS + 8 * NS_PER_S, T0_NS + 9 * NS_PER_S)
    span_s = 8.5 - (rise_ns / NS_PER_S + 0.5)
    expected_ratio = (1.0 - f.fatigue_fraction_per_10s) ** (span_s / 10.0)
    assert np.mean(last) / np.mean(first) == pytest.approx(expected_ratio, abs=0.03)


def test_track_follows_the_target_with_the_lag() -> None:
    def target(t_ns: np.ndarray) -> np.ndarray:
        return 6.0 + 3.0 * np.sin(2 * np.pi * 0.5 * (t_ns - T0_NS) / NS_PER_S)

    quiet = tuned(
        "healthy", force={"steadiness_cv": 0.0, "tremor_amplitude_n": 0.0, "rest_noise_n": 0.0}
    )
    lag_ms = quiet.force.tracking_lag_ms
    trace = VirtualParticipant(quiet, 1).track(target, T0_NS, 10.0)
    t = np.arange(T0_NS + NS_PER_S, T0_NS + 9 * NS_PER_S, NS_PER_MS, dtype=np.int64)
    np.testing.assert_allclose(trace(t), target(t - int(lag_ms * NS_PER_MS)), atol=1e-9)

    noisy = VirtualParticipant("healthy", 1).force_profile("track", target, T0_NS, 10.0)
    force = noisy(t)
    lags_ms = np.arange(0, 400)
    errors = [np.mean((force - target(t - int(k * NS_PER_MS))) ** 2) for k in lags_ms]
    assert lags_ms[int(np.argmin(errors))] == pytest.approx(lag_ms, abs=15)


def test_enslaved_pad_carries_a_fraction_of_the_instructed_force() -> None:
    vp = VirtualParticipant("healthy", 5)
    instructed = vp.hold(T0_NS, 5.0, 10.0, "index")
    neighbour = vp.force_profile("enslaved", instructed)
    t = np.arange(T0_NS + NS_PER_S, T0_NS + 4 * NS_PER_S, NS_PER_MS, dtype=np.int64)
    ratio = np.mean(neighbour(t)) / np.mean(instructed(t))
    assert ratio == pytest.approx(load_profile("healthy").force.enslaving_fraction, abs=0.01)
    assert np.mean(vp.enslaved(instructed, 0.4)(t)) == pytest.approx(4.0, rel=0.05)


def test_press_and_rest() -> None:
    profile = load_profile("healthy")
    vp = VirtualParticipant(profile, 3)
    spike = vp.press(T0_NS, 15.0, 2.5)
    assert spike(T0_NS + int(7.5 * NS_PER_MS)) == pytest.approx(2.5, abs=0.1)
    assert spike(T0_NS - NS_PER_MS) < 0.1 and spike(T0_NS + 20 * NS_PER_MS) < 0.1
    hand = vp.force_profile("press", T0_NS, 5_000.0, 3.0)
    held = plateau(hand, T0_NS + NS_PER_S, T0_NS + 4 * NS_PER_S)
    assert np.all(np.abs(held - 3.0) < 0.1)
    both = hand + vp.hold(T0_NS, 5.0, 2.0)
    t = np.arange(T0_NS + NS_PER_S, T0_NS + 4 * NS_PER_S, 3 * NS_PER_MS, dtype=np.int64)
    assert np.mean(both(t)) == pytest.approx(5.0, rel=0.02)
    rest = plateau(vp.rest(), T0_NS, T0_NS + 10 * NS_PER_S)
    assert np.all(rest >= 0.0) and np.max(rest) < 5 * profile.force.rest_noise_n
    with pytest.raises(ValueError, match="unknown force kind"):
        vp.force_profile("squeeze")


def test_force_profile_dispatches_like_the_methods() -> None:
    t = np.arange(T0_NS, T0_NS + 2 * NS_PER_S, 3 * NS_PER_MS, dtype=np.int64)
    by_kind = VirtualParticipant("musician", 4).force_profile("hold", T0_NS, 2.0, 5.0)
    direct = VirtualParticipant("musician", 4).hold(T0_NS, 2.0, 5.0)
    np.testing.assert_array_equal(by_kind(t), direct(t))


# ---- layering ----------------------------------------------------------------------------------


def test_participant_imports_nothing_from_station_or_web() -> None:
    tree = ast.parse(Path(participant_module.__file__).read_text())
    modules = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in modules if m.split(".")[0] in ("station", "web")}
