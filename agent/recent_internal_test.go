package agent

import (
	"testing"
	"time"
)

func TestRecentExpiresAndBounds(t *testing.T) {
	now := time.Unix(1000, 0)
	r := newRecent[result](2, time.Minute, func() time.Time { return now })
	r.put("a", result{outcome: outcomeCorrected})
	if got, ok := r.get("a"); !ok || got.outcome != outcomeCorrected {
		t.Fatalf("get a = %v, %v", got, ok)
	}
	now = now.Add(61 * time.Second)
	if _, ok := r.get("a"); ok {
		t.Error("an entry older than the TTL was returned")
	}
	r.put("b", result{})
	r.put("c", result{})
	if _, ok := r.get("a"); ok {
		t.Error("the oldest entry survived past the bound")
	}
	if _, ok := r.get("c"); !ok {
		t.Error("the newest entry is missing")
	}
}
