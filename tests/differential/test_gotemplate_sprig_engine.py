"""sprig through the template engine (data as Go's JSON decoding gives it: numbers are float64): `gotemplate.parse(...).execute(data)` against Go.

These cover what a direct call cannot: Go's argument conversion into sprig's signatures,
`time.Time` and `*semver.Version` values flowing through pipelines, methods on them, and
how results print.
"""

from __future__ import annotations

import os

import pytest

from sidecar_injector import gotemplate
from tests.conftest import GoOracle

DATA = {
    "f": 1.5,
    "n": 3.0,
    "s": "héllo wörld",
    "l": [1.0, "a", None, 2.5],
    "m": {"a": 1.0, "b": {"c": [1.0, 2.0]}},
    "empty": "",
    "annotations": {"sidecar.istio.io/proxyCPU": "100m", "x": "1"},
}

TEMPLATES = [
    # dates: formatting, parsing, zones, durations
    '{{ toDate "2006-01-02 15:04:05" "2020-02-29 13:04:05" | date "Mon Jan _2 3:04:05PM 2006" }}',
    '{{ toDate "2006-01-02 15:04:05" "2020-02-29 13:04:05" | date ".000 MST -07:00 Z07:00 __2 002 pm" }}',
    '{{ toDate "2006-01-02 15:04:05" "2021-12-31 00:00:09" | date "January Monday 06 1 01 2 02 3 03 4 04 5 05 15" }}',
    '{{ toDate "2006-01-02 15:04:05.000" "2021-12-31 00:00:09.120" | date "05.000 05.999 05,000 .9" }}',
    '{{ toDate "2006-01-02" "2021-03-04" | date "Janet Mondays _2006 -070000 -07:00:00 Z070000 Z07 -07" }}',
    '{{ mustToDate "2006-01-02" "2020-02-30" }}',
    '{{ mustToDate "2006-01-02" "2021-02-29" }}',
    '{{ mustToDate "2006-01-02" "2020-13-01" }}',
    '{{ mustToDate "2006-01-02" "20x" }}',
    '{{ mustToDate "2006-01-02" "2020-01-01x" }}',
    '{{ mustToDate "2006-01-02" "2020/01/01" }}',
    '{{ mustToDate "15:04" "25:00" }}',
    '{{ mustToDate "15:04:05" "10:61:00" }}',
    '{{ mustToDate "Jan 2" "Foo 2" }}',
    '{{ mustToDate "3:04PM" "3:04XM" }}',
    '{{ mustToDate "2006-01-02 Monday" "2021-03-04 Thursday" }}',
    '{{ mustToDate "2006-01-02 Mon" "2021-03-04 Xyz" }}',
    '{{ toDate "2006-01-02T15:04:05Z07:00" "2021-06-01T10:00:00+02:00" }}',
    '{{ toDate "2006-01-02T15:04:05Z07:00" "2021-06-01T10:00:00Z" }}',
    '{{ toDate "2006-01-02T15:04:05.999999999Z07:00" "2021-06-01T10:00:00.5Z" }}',
    '{{ toDate "2006-01-02T15:04:05.000Z07:00" "2021-06-01T10:00:00.123456789Z" }}',
    '{{ toDate "2006-01-02 15:04:05" "2021-06-01 10:00:00.25" }}',
    '{{ toDate "Jan 2 2006 3:04pm MST" "Feb 3 2021 4:05pm PST" }}',
    '{{ toDate "Jan 2 2006 3:04pm MST" "feb 3 2021 12:05am UTC" }}',
    '{{ toDate "2 January 2006 -0700" "3 March 2021 -0130" }}',
    '{{ toDate "06-1-2" "99-12-31" }} {{ toDate "06-1-2" "68-1-2" }}',
    '{{ toDate "2006 002" "2020 060" }}',
    '{{ toDate "_2 Jan 2006" " 3 Jan 2021" }}',
    '{{ toDate "x" "y" }}',
    '{{ toDate "2006-01-02" "2020-01-01" | toJson }}',
    '{{ toDate "2006-01-02" "2020-01-01" | unixEpoch }}',
    '{{ (toDate "2006-01-02" "2020-01-01").Unix }} {{ (toDate "2006-01-02" "2020-03-01").YearDay }}',
    '{{ (toDate "2006-01-02" "2020-01-01").Format "02/01/06" }}',
    '{{ dateInZone "2006-01-02 15:04 MST" 0 "America/New_York" }}',
    '{{ dateInZone "2006-01-02 15:04 MST -0700" 1600000000 "Asia/Kolkata" }}',
    '{{ dateInZone "2006-01-02 15:04 MST" (int64 1600000000) "Nowhere/Zone" }}',
    '{{ dateInZone "2006-01-02 15:04 MST" (toDate "2006-01-02" "2021-07-01") "Europe/Paris" }}',
    '{{ date_in_zone "2006-01-02" 0 "" }} {{ date "2006-01-02" 86400 }}',
    '{{ htmlDate 0 }} {{ htmlDateInZone 0 "Asia/Tokyo" }} {{ htmlDateInZone 86399 "Asia/Tokyo" }}',
    '{{ toDate "2006-01-02" "2020-01-01" | dateModify "1.5h" }}',
    '{{ toDate "2006-01-02" "2020-01-01" | dateModify "-90m30.5s" }}',
    '{{ toDate "2006-01-02" "2020-01-01" | date_modify "bad" }}',
    '{{ toDate "2006-01-02" "2020-01-01" | mustDateModify "1x" }}',
    '{{ toDate "2006-01-02" "2020-01-01" | must_date_modify "1" }}',
    '{{ toDate "2006-01-02" "2020-01-01" | mustDateModify ".s" }}',
    '{{ toDate "2006-01-02" "2020-01-01" | mustDateModify "" }}',
    '{{ toDate "2006-01-02" "2020-01-01" | mustDateModify "1µs1us1ns" }}',
    '{{ duration 3661 }} {{ duration "90" }} {{ duration (int64 1) }} {{ duration "x" }}',
    '{{ duration "3600" }} {{ duration "-61" }} {{ duration (int64 86400) }} {{ duration 1.5 }}',
    '{{ durationRound "2h30m" }} {{ durationRound (int64 5000000000) }} {{ durationRound "800h" }}',
    '{{ durationRound "-3s" }} {{ durationRound "1s" }} {{ durationRound 5 }} {{ durationRound "9000h" }}',
    '{{ durationRound "721h" }} {{ durationRound "25h" }} {{ durationRound "61m" }}',
    '{{ mustToDate "2006-01-02" "2021-01-01" | date "2006" }}',
    # semver
    '{{ semver "v1.2.3-beta.1+build" }} {{ (semver "1.2").Major }} {{ semver "1.2.3" | toJson }}',
    '{{ (semver "1.2.3-rc.1+b5").Prerelease }} {{ (semver "1.2.3-rc.1+b5").Metadata }}',
    '{{ (semver "v2").Original }} {{ (semver "1.10.0").Minor }} {{ (semver "1.2.30").Patch }}',
    '{{ (semver "1.2.3").Compare (semver "1.2.4") }} {{ (semver "1.3.0").GreaterThan (semver "1.2.9") }}',
    '{{ (semver "1.0.0-alpha").LessThan (semver "1.0.0-alpha.1") }} {{ (semver "1.0.0-2").LessThan (semver "1.0.0-10") }}',
    '{{ (semver "1.0.0-beta").LessThan (semver "1.0.0-alpha") }} {{ (semver "1.0.0-a").LessThan (semver "1.0.0-1") }}',
    '{{ semver "1.2.3.4" }}',
    '{{ semver "1.2.3-01" }}',
    '{{ semver "" }}',
    '{{ semver "99999999999999999999.0.0" }}',
    '{{ semverCompare ">=1.2.3" "1.2.4" }} {{ semverCompare "^1.2" "1.9.0" }} {{ semverCompare "~1.2" "1.3.0" }}',
    '{{ semverCompare "1.2 - 1.4" "1.4.9" }} {{ semverCompare "1.2 - 1.4.1" "1.4.2" }}',
    '{{ semverCompare ">1.2 <2 || =3.0.0" "3.0.0" }} {{ semverCompare "!=1.2.x" "1.2.5" }}',
    '{{ semverCompare ">=1.0" "1.5.0-beta" }} {{ semverCompare ">=1.0.0-0" "1.5.0-beta" }}',
    '{{ semverCompare "^0.2.3" "0.2.9" }} {{ semverCompare "^0.2.3" "0.3.0" }} {{ semverCompare "^0.0.3" "0.0.4" }}',
    '{{ semverCompare "~1" "1.9.0" }} {{ semverCompare "~1.2.3" "1.2.9" }} {{ semverCompare "~>1.2" "1.2.0" }}',
    '{{ semverCompare "1.x" "1.9.9" }} {{ semverCompare "*" "5.0.0" }} {{ semverCompare "" "1.0.0" }}',
    '{{ semverCompare ">1.x" "2.0.0" }} {{ semverCompare ">1.2.x" "1.3.0" }} {{ semverCompare "<=1.2.x" "1.2.9" }}',
    '{{ semverCompare "<=1.2" "1.3.0" }} {{ semverCompare "<1.2.3" "1.2.2" }} {{ semverCompare "=1.2.3" "v1.2.3" }}',
    '{{ semverCompare ">= 1.2, < 2" "1.5.0" }} {{ semverCompare "!=1.2.3" "1.2.3" }} {{ semverCompare "!=1.2.3" "1.2.3-beta" }}',
    '{{ semverCompare "=>1.2" "1.2.0" }} {{ semverCompare "=<1.2" "1.2.5" }} {{ semverCompare "1.2" "1.2.5" }}',
    '{{ semverCompare "foo" "1.0.0" }}',
    '{{ semverCompare ">=1" "bar" }}',
    '{{ semverCompare ">=1 ||" "1.0.0" }}',
    # urls, paths, environment
    '{{ urlParse "https://user:p%40ss@Example.com:8080/a%20b/c?x=1&y=%20#frag%21" | toJson }}',
    '{{ urlParse "mailto:joe@example.com" | toJson }} {{ urlParse "" | toJson }}',
    '{{ urlParse "/rel/path?q" | toJson }} {{ urlParse "rel?" | toJson }}',
    '{{ urlParse "http://[::1]:80/x" | toJson }} {{ (urlParse "HTTP://h/").scheme }}',
    '{{ urlParse "1http://x" | toJson }}',
    '{{ urlParse "a:b" | toJson }} {{ urlParse "//host/p" | toJson }} {{ urlParse "http://u@h" | toJson }}',
    '{{ urlParse "%zz" }}',
    '{{ urlParse ":x" }}',
    '{{ urlParse "http://h:port/" }}',
    '{{ urlJoin (dict "scheme" "https" "host" "example.com:80" "path" "/a b/c?d" "query" "x=1" "fragment" "f g!" "userinfo" "u:p@ss") }}',
    '{{ urlJoin (dict "scheme" "mailto" "opaque" "joe@x") }}|{{ urlJoin (dict "path" "a:b/c") }}|{{ urlJoin (dict "host" "h" "path" "p") }}',
    '{{ urlJoin (dict) }}|{{ urlJoin (dict "scheme" "file" "path" "/tmp/x") }}|{{ urlJoin (dict "query" "a=b" "fragment" "#") }}',
    '{{ urlJoin (urlParse "https://u:pw@h.example:8443/p/q?r=s#t") }}',
    '{{ urlJoin (dict "path" 1) }}',
    '{{ expandenv "a $HOME ${HOME} $$ $1 ${} $ ${HOME" }}',
    '{{ env "HOME" }}|{{ env "SIDECAR_INJECTOR_SURELY_UNSET" }}|{{ expandenv "${SIDECAR_INJECTOR_SURELY_UNSET}x" }}',
    '{{ base "/a/b/" }} {{ base "" }} {{ base "///" }} {{ dir "a/b/c" }} {{ dir "/" }} {{ dir "abc" }}',
    '{{ clean "//a/../b/./c/" }} {{ clean "../../x" }} {{ clean "" }} {{ clean "/.." }} {{ ext "a/b.tar.gz" }} {{ ext "a.b/c" }}',
    '{{ isAbs "/x" }} {{ isAbs "x" }} {{ osBase "a/b" }} {{ osDir "x" }} {{ osClean "a//b" }} {{ osExt ".bashrc" }} {{ osIsAbs "" }}',
    # argument conversion into sprig signatures
    '{{ trunc 2 .s }} {{ .n | int64 | add1 }} {{ .l | toJson }} {{ default "x" .missing }}',
    "{{ .m | toJson }} {{ .f | int }} {{ .n | toString }} {{ .f | toString }} {{ .l | toStrings }}",
    '{{ trunc .f "abc" }}',
    "{{ add1 }}",
    "{{ repeat 2 }}",
    '{{ dict "a" }}',
    '{{ hasKey .annotations "x" }} {{ index .annotations "sidecar.istio.io/proxyCPU" | quote }}',
    '{{ $d := dict "a" 1 }}{{ set $d "b" 2 | toJson }}{{ $d | toJson }}{{ unset $d "a" | toJson }}',
    '{{ list 3 1 2 | sortAlpha }} {{ keys (dict "b" 1 "a" 2) | sortAlpha }} {{ values (dict "b" 1) }}',
    "{{ .l | first }} {{ .l | last }} {{ .l | rest }} {{ .l | initial }} {{ .l | reverse }} {{ .l | compact }}",
    '{{ .m.b.c | has 2 }} {{ .m.b.c | has 2.0 }} {{ dig "b" "c" "none" .m }} {{ dig "b" "x" "none" .m }}',
    '{{ regexFind "[0-9]+" "ab12" | atoi | add 1 }} {{ until 3 | toJson }} {{ seq 3 }}',
    '{{ range $i, $v := until 3 }}{{ $i }}{{ $v }}{{ end }} {{ range splitList "," "a,b" }}<{{ . }}>{{ end }}',
    '{{ $x := split "/" "a/b/c" }}{{ $x._1 }} {{ index $x "_2" }} {{ $x._9 }}',
    '{{ .empty | default "d" }} {{ coalesce .missing .empty "c" }} {{ ternary 1 2 (empty .empty) }}',
    "{{ if empty .m }}E{{ else }}N{{ end }} {{ if has 1 .l }}H{{ end }} {{ typeOf .n }} {{ kindOf .l }}",
    '{{ toJson .s }} {{ toPrettyJson .m }} {{ toRawJson (dict "h" "<b>") }} {{ .l | toJson | fromJson | toJson }}',
    "{{ b64enc .s | b64dec }} {{ b32enc .s | b32dec }} {{ sha256sum .s | trunc 8 }} {{ adler32sum .s }}",
    "{{ .s | upper | lower | title | swapcase | camelcase | snakecase | kebabcase }}",
    "{{ cat .s .n .f .l nil }} {{ quote .s .n nil }} {{ squote .f }} {{ .s | nindent 2 }}",
    '{{ fail "stop here" }}',
    "{{ mul 2 .f }} {{ mulf 2 .f }} {{ div 7 .n }} {{ divf 7 .n }} {{ max .n 7 }} {{ maxf .n .f }} {{ round .f 0 }}",
    '{{ deepEqual .l (list 1 "a" nil 2.5) }} {{ deepEqual .l (list 1.0 "a" nil 2.5) }}',
    "{{ int64 .n | typeOf }} {{ add1 1 | typeOf }} {{ int .n | typeOf }} {{ float64 1 | typeOf }} {{ until 2 | typeOf }}",
    '{{ splitList "," "a,b" | typeOf }} {{ split "," "a" | typeOf }} {{ chunk 1 (list 1) | typeOf }}',
    '{{ now | typeOf }} {{ semver "1.0.0" | typeOf }} {{ semver "1.0.0" | kindOf }} {{ now | kindOf }}',
    '{{ toDate "2006" "2020" | typeIs "time.Time" }} {{ semver "1.0.0" | typeIsLike "semver.Version" }}',
    '{{ empty (toDate "2006" "2020") }} {{ empty (semver "0.0.0") }} {{ deepCopy .m | toJson }}',
]


@pytest.fixture(scope="module", autouse=True)
def _environment() -> None:
    os.environ.setdefault("HOME", "/root")


@pytest.mark.oracle
@pytest.mark.parametrize("template", TEMPLATES)
def test_sprig_through_the_engine_matches_go(go_oracle: GoOracle, template: str) -> None:
    go = go_oracle.render(template, DATA, sprig=True, name=None)
    try:
        ours = {"output": gotemplate.parse(template, "oracle").execute(DATA)}
    except gotemplate.TemplateError as exc:
        ours = {"error": str(exc)}
    assert ours == {k: go[k] for k in ("output", "error") if k in go}
