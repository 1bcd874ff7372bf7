package dynamosim

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func attrs(t *testing.T, js string) map[string]attr {
	t.Helper()
	var m map[string]attr
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestConditions(t *testing.T) {
	raw, err := os.ReadFile("testdata/conditions.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Expr  string `json:"expr"`
		Want  bool   `json:"want"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	item := attrs(t, `{"id":{"S":"rw-1"},"n":{"N":"5"}}`)
	values := attrs(t, `{":one":{"N":"1"},":five":{"N":"5.0"},":ten":{"N":"10"},":twenty":{"N":"20"},":id":{"S":"rw-1"},":pre":{"S":"rw-"}}`)
	for _, c := range cases {
		t.Run(c.Expr, func(t *testing.T) {
			got, err := evalCondition(c.Expr, &env{names: map[string]string{"#n": "n"}, values: values, used: map[string]bool{}}, item)
			if c.Error != "" {
				if err == nil || !strings.Contains(err.Error(), c.Error) {
					t.Fatalf("error %v, want one containing %q", err, c.Error)
				}
				return
			}
			if err != nil || got != c.Want {
				t.Fatalf("got %v, %v; want %v", got, err, c.Want)
			}
		})
	}
}

func TestUpdateExpression(t *testing.T) {
	item := attrs(t, `{"id":{"S":"a"},"n":{"N":"1.5"},"gone":{"S":"x"}}`)
	values := attrs(t, `{":d":{"N":"2"},":s":{"S":"v"}}`)
	e := &env{values: values, used: map[string]bool{}}
	if err := applyUpdate("SET n = n + :d, m = if_not_exists(m, :s) REMOVE gone", e, item); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(item)
	want := `{"id":{"S":"a"},"m":{"S":"v"},"n":{"N":"3.5"}}`
	if string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if err := applyUpdate("SET n = missing", e, item); err == nil {
		t.Fatal("set from a missing attribute succeeded")
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	d := New(Config{})
	d.tables["t"] = &table{Name: "t", KeySchema: []keyElement{{"id", "HASH"}}, Items: map[string]map[string]attr{"k": attrs(t, `{"id":{"S":"k"},"n":{"N":"7"}}`)}}
	var buf bytes.Buffer
	if err := d.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	e := New(Config{})
	if err := e.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if got := e.tables["t"].Items["k"]["n"].s; got != "7" {
		t.Fatalf("restored n = %q", got)
	}
}

func FuzzCondition(f *testing.F) {
	for _, s := range []string{"attribute_not_exists(id) OR (#e < :now AND #s <> :done)", "a BETWEEN :x AND :y", "NOT (a IN (:x, :y))", "((("} {
		f.Add(s)
	}
	item := map[string]attr{"id": {typ: "S", s: "x"}}
	f.Fuzz(func(t *testing.T, expr string) {
		e := &env{names: map[string]string{"#e": "e", "#s": "s"}, values: map[string]attr{":now": {typ: "N", s: "1"}, ":done": {typ: "S", s: "d"}, ":x": {typ: "S", s: "x"}, ":y": {typ: "S", s: "y"}}, used: map[string]bool{}}
		_, _ = evalCondition(expr, e, item)
		_ = applyUpdate(expr, e, map[string]attr{"id": {typ: "S", s: "x"}})
	})
}
