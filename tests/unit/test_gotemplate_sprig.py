"""sprig functions whose answers Go cannot give twice: the clock, randomness, the
environment, and the functions this engine refuses."""

from __future__ import annotations

import base64
import datetime as dt
import re
import string
import uuid

import pytest

from sidecar_injector import gotemplate
from sidecar_injector.gotemplate import values
from sidecar_injector.gotemplate.sprig import (
    FUNCS,
    crypto,
    dates,
    durations,
    semver,
    timeformat,
    timeparse,
)

FIXED = dt.datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=dt.UTC)


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> dt.datetime:
    monkeypatch.setattr(dates, "clock", lambda: FIXED)
    return FIXED


def render(template: str, data: object = None) -> str:
    return gotemplate.parse(template).execute(data)


def test_now_reads_the_injected_clock(fixed_clock: dt.datetime) -> None:
    assert render("{{ now.UTC }}") == "2024-05-01 12:30:15.25 +0000 UTC"
    assert render('{{ dateInZone "2006-01-02 15:04:05.000 MST" now "Asia/Tokyo" }}') == (
        "2024-05-01 21:30:15.250 JST"
    )
    assert render("{{ now.UTC.Unix }}") == str(int(fixed_clock.timestamp()))


def test_date_of_a_value_that_is_not_a_time_is_now(fixed_clock: dt.datetime) -> None:
    assert render('{{ dateInZone "2006-01-02" .f "UTC" }}', {"f": 1.5}) == "2024-05-01"
    assert render('{{ dateInZone "2006" "not a time" "UTC" }}') == "2024"


def test_ago_and_duration_round_measure_from_the_clock(fixed_clock: dt.datetime) -> None:
    assert render('{{ ago (toDate "2006-01-02 15:04:05" "2024-05-01 10:59:59") }}') == "1h30m16s"
    assert render("{{ ago (int64 1714566615) }}") == "0s"
    assert render('{{ durationRound (toDate "2006-01-02" "2024-04-01") }}') == "1mo"
    assert render("{{ ago .f }}", {"f": 2.5}) == "0s"


def test_ago_rounds_half_seconds_away_from_zero(fixed_clock: dt.datetime) -> None:
    early = timeformat.from_datetime(fixed_clock - dt.timedelta(seconds=2, milliseconds=500))
    late = timeformat.from_datetime(fixed_clock + dt.timedelta(seconds=2, milliseconds=500))
    assert FUNCS["ago"].fn(early) == "3s"
    assert FUNCS["ago"].fn(late) == "-3s"


def test_the_default_clock_is_the_system_clock() -> None:
    before = dt.datetime.now(dt.UTC)
    now = dates.current_time()
    after = dt.datetime.now(dt.UTC)
    assert before.timestamp() - 1 <= now.unix <= after.timestamp() + 1


@pytest.mark.parametrize(
    ("name", "alphabet"),
    [
        ("randAlpha", string.ascii_letters),
        ("randNumeric", string.digits),
        ("randAlphaNum", string.ascii_letters + string.digits),
        ("randAscii", "".join(map(chr, range(32, 127)))),
    ],
)
def test_random_strings_have_the_length_and_alphabet_asked_for(name: str, alphabet: str) -> None:
    drawn = {render(f"{{{{ {name} 40 }}}}") for _ in range(5)}
    assert len(drawn) > 1
    assert all(len(s) == 40 and set(s) <= set(alphabet) for s in drawn)
    assert render(f"{{{{ {name} 0 }}}}") == render(f"{{{{ {name} -3 }}}}") == ""


def test_rand_int_stays_in_its_half_open_range() -> None:
    drawn = {int(render("{{ randInt 3 6 }}")) for _ in range(60)}
    assert drawn == {3, 4, 5}
    with pytest.raises(gotemplate.ExecError, match="invalid argument to Intn"):
        render("{{ randInt 5 5 }}")


def test_rand_bytes_is_base64_of_that_many_bytes() -> None:
    assert len(base64.b64decode(render("{{ randBytes 24 }}"))) == 24


def test_uuidv4_is_a_random_version_4_uuid() -> None:
    first, second = render("{{ uuidv4 }}"), render("{{ uuidv4 }}")
    assert first != second
    assert uuid.UUID(first).version == 4


def test_shuffle_permutes_runes() -> None:
    text = "héllo wörld 中文"
    shuffled = {render('{{ shuffle "' + text + '" }}') for _ in range(10)}
    assert len(shuffled) > 1
    assert all(sorted(s) == sorted(text) for s in shuffled)
    assert render('{{ shuffle "" }}') == ""


def test_env_and_expandenv_read_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPRIG_TEST_VALUE", "v1")
    monkeypatch.delenv("SPRIG_TEST_UNSET", raising=False)
    assert render('{{ env "SPRIG_TEST_VALUE" }}|{{ env "SPRIG_TEST_UNSET" }}') == "v1|"
    assert render('{{ expandenv "a=$SPRIG_TEST_VALUE b=${SPRIG_TEST_VALUE}c" }}') == "a=v1 b=v1c"


@pytest.mark.parametrize("func", crypto.UNSUPPORTED, ids=lambda f: f.name)
def test_unsupported_functions_name_themselves(func: values.Func) -> None:
    args = ["x"] * len(func.params)
    with pytest.raises(values.GoError, match=f"^{func.name} is not supported"):
        func.fn(*args)


def test_unsupported_functions_fail_the_template_with_their_name() -> None:
    with pytest.raises(gotemplate.ExecError, match=r"error calling genCA: genCA is not supported"):
        render('{{ genCA "ca" 365 }}')


def test_regex_without_a_python_equivalent_is_a_template_error() -> None:
    with pytest.raises(gotemplate.ExecError, match="error parsing regexp"):
        render('{{ mustRegexMatch "\\\\pL" "a" }}')


def test_semver_versions_compare_and_print() -> None:
    v = semver.parse_version("v1.2.3-rc.1+build.5")
    assert (v.String(), v.Original(), v.Prerelease(), v.Metadata()) == (
        "1.2.3-rc.1+build.5",
        "v1.2.3-rc.1+build.5",
        "rc.1",
        "build.5",
    )
    assert v.LessThan(semver.parse_version("1.2.3"))
    assert repr(v).startswith("Version(")


def test_times_have_readable_reprs_and_compare_by_instant() -> None:
    t = timeparse.parse_time("2006-01-02", "2020-01-01")
    assert repr(t) == "GoTime('2020-01-01 00:00:00 +0000 UTC')"
    assert t == timeparse.parse_time("2006-01-02", "2020-01-01")
    assert hash(t) == hash(timeparse.parse_time("2006-01-02", "2020-01-01"))
    assert t != timeparse.parse_time("2006-01-02", "2020-01-02")


def test_zero_time_is_year_one() -> None:
    zero = FUNCS["toDate"].fn("2006", "bad")
    assert isinstance(zero, timeformat.GoTime) and zero.is_zero()
    assert zero.String() == "0001-01-01 00:00:00 +0000 UTC"
    assert FUNCS["unixEpoch"].fn(zero) == "-62135596800"


class _Tagged(values.Struct):
    """A struct whose JSON names come from field tags, as Kubernetes types do."""

    go_type = "v1.Tagged"
    go_fields = ("Name", "Empty")

    def __init__(self) -> None:
        self.Name = "x"
        self.Empty = ""

    def json_value(self) -> object:
        return {"name": self.Name}


class _Plain(values.Struct):
    go_type = "main.Plain"
    go_fields = ("B", "A")

    def __init__(self) -> None:
        self.B = [1, "<"]
        self.A = None


def test_structs_encode_by_their_json_view_or_their_fields_in_order() -> None:
    assert FUNCS["toJson"].fn(_Tagged()) == '{"name":"x"}'
    assert FUNCS["toJson"].fn(_Plain()) == '{"B":[1,"\\u003c"],"A":null}'
    assert FUNCS["toPrettyJson"].fn([_Tagged()]) == '[\n  {\n    "name": "x"\n  }\n]'


def test_now_prints_a_monotonic_reading_that_utc_and_in_drop(fixed_clock: dt.datetime) -> None:
    printed = render('{{ now }}|{{ now.UTC }}|{{ now | dateModify "1h" }}').split("|")
    assert re.fullmatch(r"2024-05-01 12:30:15\.25 \+0000 UTC m=\+\d+\.\d{9}", printed[0])
    assert printed[1] == "2024-05-01 12:30:15.25 +0000 UTC"
    later = re.fullmatch(r"2024-05-01 13:30:15\.25 \+0000 UTC m=\+(\d+\.\d{9})", printed[2])
    assert later is not None and float(later.group(1)) >= 3600


@pytest.mark.parametrize(
    ("value", "kind", "type_name"),
    [
        (values.Nil("*v1.SecurityContext"), "ptr", "*v1.SecurityContext"),
        (values.Nil("map[string]string"), "map", "map[string]string"),
        (values.Nil("[]v1.Container"), "slice", "[]v1.Container"),
        (values.Nil("interface {}"), "invalid", "<nil>"),
        (values.Slice([1, 2, 3], "[3]int"), "array", "[3]int"),
        (values.Int(8080, "int32"), "int32", "int32"),
        (values.Map({"a": "b"}, "map[string]string", zero=""), "map", "map[string]string"),
    ],
)
def test_typed_values_have_go_kinds_and_types(value: object, kind: str, type_name: str) -> None:
    assert FUNCS["kindOf"].fn(value) == kind
    assert FUNCS["typeOf"].fn(value) == type_name
    assert FUNCS["typeIs"].fn(type_name, value) is True


def test_nil_interfaces_are_deeply_equal_and_empty() -> None:
    assert FUNCS["deepEqual"].fn(values.Nil("interface {}"), None) is True
    assert FUNCS["deepEqual"].fn(values.Nil("*v1.Pod"), None) is False
    assert FUNCS["empty"].fn(values.Nil("*v1.Pod")) is True
    assert FUNCS["default"].fn("d", values.Nil("map[string]string")) == "d"


@pytest.mark.parametrize("text", ["1.5ms", "999ns", "1µs", "2.000001ms", "-1.5µs", "1h0m0.5s"])
def test_durations_print_back_as_go_writes_them(text: str) -> None:
    nanos = durations.parse_duration(text)
    assert durations.parse_duration(durations.format_duration(nanos)) == nanos
    assert durations.format_duration(nanos) == text


@pytest.mark.parametrize("template", ['{{ htpasswd "user" "pw" }}', '{{ genPrivateKey "ecdsa" }}'])
def test_key_generation_is_refused_by_name(template: str) -> None:
    name = template.split()[1]
    with pytest.raises(
        gotemplate.ExecError, match=f"error calling {name}: {name} is not supported"
    ):
        render(template)
