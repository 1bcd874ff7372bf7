package ecsevent

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLenientTime(t *testing.T) {
	want := time.Date(2026, 6, 2, 10, 15, 42, 984e6, time.UTC)
	for in, want := range map[string]time.Time{
		`"2026-06-02T10:15:42.984Z"`:      want,
		`"2026-06-02T12:15:42.984+02:00"`: want,
		`1780395342.984`:                  want,
		`1780395342984`:                   want,
		`"yesterday"`:                     {},
		`"1780395342"`:                    {},
		`null`:                            {},
		`-5`:                              {},
		`true`:                            {},
		`{"a":1}`:                         {},
	} {
		var got lenientTime
		if err := json.Unmarshal([]byte(in), &got); err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if !time.Time(got).Equal(want) {
			t.Errorf("%s = %v, want %v", in, time.Time(got), want)
		}
	}
}

func TestLenientInt(t *testing.T) {
	type result struct {
		N   int64
		Err bool
	}
	for in, want := range map[string]result{
		`137`:    {137, false},
		`"137"`:  {137, false},
		`-1`:     {-1, false},
		`""`:     {0, false},
		`null`:   {0, false},
		`1e3`:    {1000, false},
		`1.5`:    {0, true},
		`"x"`:    {0, true},
		`true`:   {0, true},
		`[1]`:    {0, true},
		`"12.0"`: {12, false},
	} {
		var n lenientInt
		err := json.Unmarshal([]byte(in), &n)
		if diff := cmp.Diff(want, result{int64(n), err != nil}); diff != "" {
			t.Errorf("%s (-want +got):\n%s", in, diff)
		}
	}
}
